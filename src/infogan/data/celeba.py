"""CelebA (Liu et al. 2015): aligned celebrity faces, unlabelled here; no automatic download."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .base import Dataset
from .images import IMAGE_SUFFIXES, load_folder

CELEBA_HELP = ("CelebA cannot be downloaded automatically (its files sit behind a Google Drive consent page). "
               "Download img_align_celeba.zip from the CelebA site (mmlab.ie.cuhk.edu.hk/projects/CelebA.html, "
               "'Align&Cropped Images') and pass its folder with --data-dir (the zip itself or the unzipped "
               "img_align_celeba/ folder both work)")


@dataclass(frozen=True, kw_only=True)
class CelebA(Dataset):
    def load(self, split="train", data_dir=None, *, allow_download=True, image_size=None, channels=None,
             bad_images="skip"):
        self.check_split(split)
        candidates = []
        if data_dir:
            d = Path(data_dir)
            candidates = [d / "img_align_celeba", d / "img_align_celeba.zip", d] if d.is_dir() else [d]
        for c in candidates:
            if c.exists() and (c.is_file() or any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in os.listdir(c))):
                # aligned CelebA is 178x218 with the face centred: a 140 px centre crop keeps the face
                return load_folder(c, image_size or 64, 3, bad_images, crop=140, name=self.name), None
        raise DataError(f"celeba: no img_align_celeba folder or zip in {data_dir or '(no --data-dir given)'}. "
                        f"{CELEBA_HELP}")

    def status(self) -> str:
        return "manual download, see --data-dir"


CELEBA = CelebA(name="celeba", help="aligned celebrity faces (img_align_celeba.zip, manual download), no labels",
                classes=(), splits=("train",))
