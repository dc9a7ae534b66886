"""infer: what a trained Q reads off image files, each code's class (with its probability) or value.

    result = infer("runs/00000-mnist", ["digits/", "more.zip", "seven.png", "t10k-images-idx3-ubyte.gz"])
    result["rows"][0]   # {"image": "digits/a.png", "c1": 7, "c1_p": 0.998, "c1_label": "digit 7", "c2": 0.31, ...}

An IDX file of images (MNIST's and Fashion-MNIST's own format, gzip-compressed or raw) is read
whole, its images named file[0], file[1], ...

Images are centre-cropped to a square and resized to the model's size (in its channels).
When the run's evaluation matched a categorical code's classes to the dataset's labels
(Hungarian, metrics.json), each class also gets its label; result["notes"] says so.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import get as get_dataset
from .data import idx
from .data.images import IMAGE_SUFFIXES, decode_image, fit_image, list_images
from .errors import DataError, InfoGANError

MAX_IMAGES = 100_000


def read_images(sources: list[str | Path], size: int, channels: int, invert: bool = False,
                bad_images: str = "error", skipped: list[str] | None = None):
    """(names, images (N, C, size, size) uint8) from image files, folders (recursively), zips and
    IDX files of images.
    invert: dark strokes on a light background made light on dark, as MNIST draws them.
    bad_images: an unreadable image stops the read ("error") or is left out ("skip") and its
    name appended to `skipped`."""
    names, arrays = [], []
    skipped = [] if skipped is None else skipped  # (the "none could be read" message counts them either way)

    def read(name: str, blob: bytes) -> None:
        try:
            arrays.append(decode_image(blob, size, channels, where=name))
        except DataError as e:
            if bad_images == "error":
                raise DataError(f"{e}; use --bad-images skip to leave it out") from None
            skipped.append(name)
            return
        names.append(name)

    for source in map(Path, sources):
        if not source.exists():
            raise DataError(f"{source} does not exist")
        if source.is_file() and not zipfile.is_zipfile(source):
            if source.suffix.lower() in IMAGE_SUFFIXES:
                read(str(source), source.read_bytes())
            elif (stack := idx_images(source)) is not None:
                check_count(len(names) + len(stack))
                names += [f"{source}[{i}]" for i in range(len(stack))]
                arrays += [fit_image(Image.fromarray(a), size, channels) for a in stack]
            else:
                raise DataError(f"{source} is not an image file ({', '.join(sorted(IMAGE_SUFFIXES))}), "
                                "a zip or an IDX file of images")
            check_count(len(names))
            continue
        zf = zipfile.ZipFile(source) if source.is_file() else None
        try:
            for name, _, _ in list_images(source):
                read(f"{source}/{name}" if not zf else f"{source}:{name}",
                     zf.read(name) if zf else (source / name).read_bytes())
        finally:
            if zf:
                zf.close()
        check_count(len(names))
    if not names:
        where = ", ".join(map(str, sources))
        if skipped:
            raise DataError(f"none of the {len(skipped)} images in {where} could be read (the first: {skipped[0]})")
        idx_files = sorted(f for d in map(Path, sources) if d.is_dir() for f in d.rglob("*idx3-ubyte*"))
        hint = f" (it holds IDX files, which are read when named: {idx_files[0]})" if idx_files else ""
        raise DataError(f"no images found in {where}{hint}")
    images = torch.from_numpy(np.stack(arrays))
    return names, (255 - images if invert else images)


def check_count(n: int) -> None:
    if n > MAX_IMAGES:
        raise InfoGANError(f"more than {MAX_IMAGES} images: give them in smaller batches")


def idx_images(path: Path) -> np.ndarray | None:
    """The (N, H, W) uint8 images of an IDX file, or None where the file is not IDX at all (its
    first bytes, after any gzip, are not an IDX header). An IDX file of anything but images (the
    labels' file) is a DataError saying so."""
    with path.open("rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path) as f:
                head = f.read(4)
        except (OSError, EOFError):
            return None
    if len(head) < 4 or head[:2] != b"\x00\x00":
        return None
    stack = idx.parse(idx.read_bytes(path), where=str(path)).numpy()
    if stack.ndim != 3:
        raise DataError(f"{path} is an IDX file of shape {tuple(stack.shape)}, not of images (N, height, width): "
                        "the labels' file?")
    return stack


def label_names(model, run) -> tuple[dict[str, list[str]], list[str]]:
    """({categorical code: the label name of each of its classes}, notes) from the run's
    evaluation, for the codes it matched to the dataset's labels."""
    if run is None or not run.metrics_file.is_file():
        return {}, ["no evaluation found beside the model: classes are shown as numbers only"]
    metrics = run.metrics()
    classes = get_dataset(metrics.get("dataset", model.config["dataset"])).classes
    labels, notes = {}, []
    for code in model.spec.categorical:
        r = (metrics.get("categorical") or {}).get(code.name)
        if not r or not classes:
            continue
        labels[code.name] = [classes[r["match"][str(k)]] if str(k) in r["match"] else f"class {k}"
                             for k in range(code.size)]
        notes.append(f"{code.name}: classes named by the run's evaluation, which matched them to "
                     f"{metrics['dataset']} labels (Hungarian, {metrics['split']} accuracy {r['accuracy']:.4f})")
    return labels, notes


def infer(model, sources: list[str | Path], invert: bool = False, bad_images: str = "error") -> dict:
    """Q's reading of every image in sources (files, folders, zips). model: an InfoGAN, or a
    run or model folder (whose evaluation, if any, names the classes). bad_images="skip" leaves
    unreadable images out, named in result["skipped"]."""
    from .model import InfoGAN
    from .run import model_and_run

    run = None
    if not isinstance(model, InfoGAN):
        model, run = model_and_run(model)
    c, size = model.config["channels"], model.config["image_size"]
    skipped = []
    names, images = read_images(sources, size, c, invert, bad_images, skipped)
    probs = model.infer_codes(images, probs=True)
    labels, notes = label_names(model, run)
    if skipped:
        notes.append(f"{len(skipped)} of {len(skipped) + len(names)} images skipped as unreadable: "
                     + ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else ""))
    rows = []
    for i, name in enumerate(names):
        row = {"image": name}
        for code in model.spec.codes:
            if code.kind == "cat":
                p, k = probs[code.name][i].max(0)
                row[code.name], row[f"{code.name}_p"] = int(k), round(float(p), 4)
                if code.name in labels:
                    row[f"{code.name}_label"] = labels[code.name][int(k)]
            else:
                row[code.name] = round(float(probs[code.name][i]), 4)
        rows.append(row)
    return {"rows": rows, "labels": labels, "notes": notes, "skipped": skipped}
