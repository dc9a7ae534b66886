"""Datasets, registered by name, each as one in-memory uint8 tensor: no per-sample Python
work in the training loop.

    images, labels = load("mnist", "train")     # (60000, 1, 28, 28) uint8, (60000,) int64

A new dataset is one module defining a Dataset (base.py) and one DATASETS.register(...)
line below.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DataError
from ..registry import Registry
from .base import Dataset, IdxDataset
from .celeba import CELEBA
from .cifar10 import CIFAR10
from .dsprites import DSPRITES, SPRITES
from .fashion_mnist import FASHION_MNIST
from .fetch import cache_root, fetch
from .folder import FOLDER
from .mnist import MNIST
from .svhn import SVHN

DATASETS: Registry[Dataset] = Registry("dataset")
DATASETS.register(MNIST)
DATASETS.register(FASHION_MNIST)
DATASETS.register(SVHN)
DATASETS.register(CIFAR10)
DATASETS.register(CELEBA)
DATASETS.register(FOLDER)
DATASETS.register(DSPRITES)
DATASETS.register(SPRITES)


def get(name: str) -> Dataset:
    return DATASETS.lookup(name)


def check_data_dir(data_dir: str | Path | None) -> None:
    """A --data-dir that does not exist is the user's typo: say so, rather than fall back to the cache."""
    if data_dir is not None and not Path(data_dir).exists():
        raise DataError(f"--data-dir {data_dir} does not exist")


def load(name: str, split: str = "train", data_dir: str | Path | None = None, allow_download: bool = True,
         image_size: int | None = None, channels: int | None = None,
         bad_images: str = "skip") -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images (N, C, H, W) uint8, labels (N,) int64 or None) for a split, fetching if needed.

    image_size/channels matter for celeba and folder data, which are resized on decoding.
    """
    check_data_dir(data_dir)
    return get(name).load(split, data_dir, allow_download=allow_download, image_size=image_size,
                          channels=channels, bad_images=bad_images)


__all__ = ["DATASETS", "DSPRITES", "Dataset", "IdxDataset", "MNIST", "SPRITES", "cache_root", "check_data_dir", "fetch",
           "get", "load"]
