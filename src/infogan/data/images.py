"""Image files -> one uint8 tensor: checked downloads (Remote), folders and zips of images.

Used by the image datasets (svhn.py, cifar10.py, celeba.py, folder.py). Decoding happens once: the result is saved as .npy under $INFOGAN_DATA/decoded/ keyed by the
source files (names, sizes, mtimes), the resolution, the channels and the decoder's version, so training never
decodes an image per step and a second run starts at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from ..files import atomic_write
from .fetch import cache_root, download, log

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Remote:
    """A file with a public download, checked by MD5 (the only sum its publishers give)."""

    name: str
    url: str
    md5: str


def _md5(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 (integrity check against the publisher's sum, not security)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_or_fetch(remote: Remote, dataset: str, data_dir: str | Path | None) -> Path:
    """The file from --data-dir, the cache, or its public URL (verified before it is kept)."""
    for d in ([Path(data_dir)] if data_dir else []) + [cache_root() / dataset]:
        p = d / remote.name
        if p.is_file():
            if d == cache_root() / dataset and _md5(p) != remote.md5:
                log(f"ignoring bad cached file {p} (checksum mismatch)")
                continue
            return p
    target = cache_root() / dataset / remote.name
    try:
        blob = download(remote.url, timeout=30)
    except OSError as e:
        raise DataError(f"{dataset}: {remote.name} is not in --data-dir or the cache, and {remote.url} "
                        f"is unreachable ({getattr(e, 'reason', e)}); download it by hand into {target.parent}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(target.suffix + ".part")
    part.write_bytes(blob)
    if _md5(part) != remote.md5:
        part.unlink()
        raise DataError(f"{dataset}: downloaded {remote.name} fails its MD5 check (truncated or changed upstream)")
    part.replace(target)
    return target


def list_images(source: Path) -> list[tuple[str, int, float]]:
    """(name, size, mtime) of every image file in a folder (recursively) or a zip."""
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            return sorted((i.filename, i.file_size, 0.0) for i in z.infolist()
                          if not i.is_dir() and Path(i.filename).suffix.lower() in IMAGE_SUFFIXES)
    if source.is_dir():
        out = []
        for root, _dirs, files in os.walk(source):
            for f in files:
                if Path(f).suffix.lower() in IMAGE_SUFFIXES:
                    p = Path(root) / f
                    st = p.stat()
                    out.append((str(p.relative_to(source)), st.st_size, st.st_mtime))
        return sorted(out)
    raise DataError(f"{source} is neither a folder nor a zip of images")


UNREADABLE = (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def why_unreadable(e: Exception) -> str:
    """PIL's reason in words: its UnidentifiedImageError names an in-memory buffer, not the file."""
    if isinstance(e, UnidentifiedImageError):
        return "not an image format PIL can read"
    return f"{type(e).__name__}: {e}"


# decode_image's version, part of the decoded cache's key: 2 scales 16-bit grey instead of clipping it
DECODER = 2


def decode_image(blob: bytes, size: int, channels: int, crop: int | None = None, where: str = "image") -> np.ndarray:
    """One image file's bytes -> (C, size, size) uint8: centre crop (to `crop`, else to a
    square), resize. Anything PIL cannot read (or a decompression bomb) is a DataError naming `where`."""
    try:
        img = Image.open(io.BytesIO(blob))
        img.load()
    except UNREADABLE as e:
        raise DataError(f"cannot read image {where} ({why_unreadable(e)})") from None
    return fit_image(img, size, channels, crop)


def fit_image(img: Image.Image, size: int, channels: int, crop: int | None = None) -> np.ndarray:
    """An opened PIL image -> (C, size, size) uint8, as decode_image describes."""
    if img.mode.startswith("I;16"):  # 16-bit grey (PNG, TIFF): PIL's convert clips it at 255 instead of scaling it
        img = Image.fromarray((np.asarray(img, dtype=np.float64) / 257).round().astype(np.uint8))
    img = img.convert("L" if channels == 1 else "RGB")
    w, h = img.size
    side = min(crop or min(w, h), w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_folder(source: str | Path, image_size: int, channels: int, bad_images: str = "skip",
                crop: int | None = None, name: str = "folder", progress: bool = True) -> torch.Tensor:
    """All images under `source` (folder or zip) as (N, C, size, size) uint8, cached decoded.

    An unreadable image is reported by name and skipped (bad_images="skip") or stops the
    load before training starts (bad_images="error").
    """
    from tqdm import tqdm

    source = Path(source)
    if not source.exists():
        raise DataError(f"{name}: {source} does not exist")
    files = list_images(source)
    if not files:
        raise DataError(f"{name}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {source}")
    key = hashlib.sha256(repr((str(source.resolve()), files, image_size, channels, crop, bad_images,
                               DECODER)).encode()).hexdigest()[:20]
    cached = cache_root() / "decoded" / f"{name}-{image_size}px-{channels}ch-{key}.npy"
    skipped = cached.with_suffix(".skipped.json")  # their names, said again by every run that reads the cache
    if cached.is_file():
        try:
            images = torch.from_numpy(np.load(cached))
        except (OSError, ValueError):
            log(f"rebuilding unreadable decoded cache {cached}")
        else:
            if len(images) < len(files):
                bad = json.loads(skipped.read_text()) if skipped.is_file() else []
                for fname in bad:
                    log(f"skipping unreadable image {fname}")
                log(f"{len(files) - len(images)} of {len(files)} images skipped as unreadable")
            return images
    zf = zipfile.ZipFile(source) if source.is_file() else None
    out, bad = [], []
    try:
        # disable=None: no bar where stderr is not a terminal (a sweep's or a service's log file)
        for fname, _, _ in tqdm(files, desc=f"decoding {name}", unit="img", disable=None if progress else True,
                                leave=False):
            blob = zf.read(fname) if zf else (source / fname).read_bytes()
            try:
                out.append(decode_image(blob, image_size, channels, crop, where=fname))
            except DataError as e:
                if bad_images == "error":
                    raise DataError(f"{name}: {e}; use --bad-images skip to leave it out") from None
                bad.append(fname)
                log(f"skipping unreadable image {fname}")
    finally:
        if zf:
            zf.close()
    if bad:
        log(f"{len(bad)} of {len(files)} images skipped as unreadable")
    if not out:
        raise DataError(f"{name}: none of the {len(files)} images in {source} could be read")
    images = np.stack(out)
    cached.parent.mkdir(parents=True, exist_ok=True)
    if bad:
        atomic_write(skipped, json.dumps(bad))
    tmp = cached.with_suffix(".tmp.npy")
    np.save(tmp, images)
    tmp.replace(cached)
    return torch.from_numpy(images)
