"""CIFAR-10 (Krizhevsky 2009): 32x32 colour images of 10 classes, from the python batches.

The batches are pickled dicts; they are read with an unpickler that admits only plain
containers and numpy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .images import Remote, find_or_fetch

ARCHIVE = Remote("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                 "c58f30108f718f92721af3b95e74349a")


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


@dataclass(frozen=True, kw_only=True)
class Cifar10(Dataset):
    def load(self, split="train", data_dir=None, *, allow_download=True, image_size=None, channels=None,
             bad_images="skip"):
        self.check_split(split)
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
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
            archive = find_or_fetch(ARCHIVE, self.name, data_dir)
            try:
                with tarfile.open(archive) as tar:
                    for m in tar.getmembers():
                        if m.isfile() and m.name.rsplit("/", 1)[-1] in names:
                            blobs[m.name.rsplit("/", 1)[-1]] = tar.extractfile(m).read()
            except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:  # cut short, or another file
                reason = str(e).splitlines()[0].rstrip(":")
                raise DataError(f"{archive}: not a readable CIFAR-10 archive ({reason})") from None
        parts = [read_cifar_batch(blobs[n], n) for n in names if n in blobs]
        if len(parts) != len(names):
            raise DataError(f"cifar10: the archive lacks some of {', '.join(names)}")
        return (torch.from_numpy(np.concatenate([p[0] for p in parts])),
                torch.from_numpy(np.concatenate([p[1] for p in parts])))


CIFAR10 = Cifar10(name="cifar10", help="32x32 colour photos of 10 classes (cifar-10-python.tar.gz or its folder)",
                  classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"))
