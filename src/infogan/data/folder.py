"""Any folder (searched recursively) or zip of images, unlabelled: centre-cropped and resized."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DataError
from .base import Dataset
from .images import load_folder


@dataclass(frozen=True, kw_only=True)
class Folder(Dataset):
    def load(self, split="train", data_dir=None, *, allow_download=True, image_size=None, channels=None,
             bad_images="skip"):
        self.check_split(split)
        if not data_dir:
            raise DataError("the folder dataset needs --data-dir (a folder or a zip of images)")
        return load_folder(data_dir, image_size or 64, channels or 3, bad_images), None

    def status(self) -> str:
        return "your images, via --data-dir"


FOLDER = Folder(name="folder", help="your own images: a folder (recursively) or a zip, via --data-dir",
                classes=(), splits=("train",))
