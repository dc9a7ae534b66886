"""SVHN (.mat), CIFAR-10 (python batches), CelebA and image folders -> one uint8 tensor.

Decoding happens once: the result is saved as .npy under $INFOGAN_DATA/decoded/ keyed by the
source files (names, sizes, mtimes), the resolution and the channels, so training never
decodes an image per step and a second run starts at once.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from .fetch import _download, _log, cache_root

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Remote:
    """A file with a public download, checked by MD5 (the only sum its publishers give)."""

    name: str
    url: str
    md5: str


SVHN_FILES = {
    "train": Remote("train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                    "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": Remote("test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
                   "eb5a983be6a315427106f1b164d9cef3"),
}
CIFAR10 = Remote("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                 "c58f30108f718f92721af3b95e74349a")


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
                _log(f"ignoring bad cached file {p} (checksum mismatch)")
                continue
            return p
    target = cache_root() / dataset / remote.name
    try:
        blob = _download(remote.url, timeout=30)
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


# ------------------------------------------------------------------ SVHN


def load_svhn(split: str, data_dir) -> tuple[torch.Tensor, torch.Tensor]:
    from scipy.io import loadmat

    if split not in SVHN_FILES:
        raise DataError(f"svhn has splits train and test, not {split!r}")
    path = find_or_fetch(SVHN_FILES[split], "svhn", data_dir)
    try:
        mat = loadmat(path)
        x, y = mat["X"], mat["y"]
    except Exception as e:  # scipy raises several types for corrupt files
        raise DataError(f"{path}: not a readable SVHN .mat file ({e})") from None
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise DataError(f"{path}: expected X of shape (32, 32, 3, N) uint8, got {x.shape} {x.dtype}")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))  # (N, 3, 32, 32)
    labels = torch.from_numpy(y.reshape(-1).astype(np.int64) % 10)  # SVHN labels digit 0 as 10
    return images, labels


# ------------------------------------------------------------------ CIFAR-10


class _SafeUnpickler(pickle.Unpickler):
    """CIFAR's batches are pickled dicts of bytes, lists and numpy arrays: allow those only."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def read_cifar_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        d = _SafeUnpickler(io.BytesIO(blob), encoding="bytes").load()
        data, labels = d[b"data"], d[b"labels"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"{where}: not a CIFAR-10 python batch ({e})") from None
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{where}: expected (N, 3072) uint8 data and N labels, got {data.shape}")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(split: str, data_dir) -> tuple[torch.Tensor, torch.Tensor]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"] if split == "test" else None
    if names is None:
        raise DataError(f"cifar10 has splits train and test, not {split!r}")
    blobs = {}
    folder = Path(data_dir) / "cifar-10-batches-py" if data_dir else None
    if folder is not None and not folder.is_dir() and all((Path(data_dir) / n).is_file() for n in names):
        folder = Path(data_dir)
    if folder is not None and folder.is_dir():
        for n in names:
            if not (folder / n).is_file():
                raise DataError(f"cifar10: {folder / n} is missing")
            blobs[n] = (folder / n).read_bytes()
    else:
        with tarfile.open(find_or_fetch(CIFAR10, "cifar10", data_dir)) as tar:
            for m in tar.getmembers():
                if m.isfile() and m.name.rsplit("/", 1)[-1] in names:
                    blobs[m.name.rsplit("/", 1)[-1]] = tar.extractfile(m).read()
    parts = [read_cifar_batch(blobs[n], n) for n in names if n in blobs]
    if len(parts) != len(names):
        raise DataError(f"cifar10: the archive lacks some of {', '.join(names)}")
    return torch.from_numpy(np.concatenate([p[0] for p in parts])), torch.from_numpy(np.concatenate([p[1] for p in parts]))


# ------------------------------------------------------------------ folders, zips, CelebA


def _list_images(source: Path) -> list[tuple[str, int, float]]:
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


def _decode(blob: bytes, size: int, channels: int, crop: int | None) -> np.ndarray:
    """One image -> (C, size, size) uint8: centre crop (to `crop`, else to a square), resize."""
    img = Image.open(io.BytesIO(blob))
    img.load()
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
    files = _list_images(source)
    if not files:
        raise DataError(f"{name}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {source}")
    key = hashlib.sha256(repr((str(source.resolve()), files, image_size, channels, crop, bad_images)).encode()).hexdigest()[:20]
    cached = cache_root() / "decoded" / f"{name}-{image_size}px-{channels}ch-{key}.npy"
    if cached.is_file():
        try:
            return torch.from_numpy(np.load(cached))
        except (OSError, ValueError):
            _log(f"rebuilding unreadable decoded cache {cached}")
    zf = zipfile.ZipFile(source) if source.is_file() else None
    out, bad = [], []
    try:
        for fname, _, _ in tqdm(files, desc=f"decoding {name}", unit="img", disable=not progress, leave=False):
            blob = zf.read(fname) if zf else (source / fname).read_bytes()
            try:
                out.append(_decode(blob, image_size, channels, crop))
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
                if bad_images == "error":
                    raise DataError(f"{name}: cannot read image {fname} ({e}); use --bad-images skip to leave it out") from None
                bad.append(fname)
                _log(f"skipping unreadable image {fname} ({type(e).__name__})")
    finally:
        if zf:
            zf.close()
    if bad:
        _log(f"{len(bad)} of {len(files)} images skipped as unreadable")
    if not out:
        raise DataError(f"{name}: none of the {len(files)} images in {source} could be read")
    images = np.stack(out)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npy")
    np.save(tmp, images)
    tmp.replace(cached)
    return torch.from_numpy(images)


CELEBA_HELP = ("CelebA cannot be downloaded automatically (its files sit behind a Google Drive consent page). "
               "Download img_align_celeba.zip from the CelebA site (mmlab.ie.cuhk.edu.hk/projects/CelebA.html, "
               "'Align&Cropped Images') and pass its folder with --data-dir (the zip itself or the unzipped "
               "img_align_celeba/ folder both work)")


def load_celeba(data_dir, image_size: int, bad_images: str) -> torch.Tensor:
    candidates = []
    if data_dir:
        d = Path(data_dir)
        candidates = [d / "img_align_celeba", d / "img_align_celeba.zip", d] if d.is_dir() else [d]
    for c in candidates:
        if c.exists() and (c.is_file() or any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in os.listdir(c))):
            # aligned CelebA is 178x218 with the face centred: a 140 px centre crop keeps the face
            return load_folder(c, image_size, 3, bad_images, crop=140, name="celeba")
    raise DataError(f"celeba: no img_align_celeba folder or zip in {data_dir or '(no --data-dir given)'}. {CELEBA_HELP}")
