"""SVHN (Netzer et al. 2011): house-number digits, 32x32 colour, from the cropped-digits .mat files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .images import Remote, find_or_fetch

SVHN_FILES = {
    "train": Remote("train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                    "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": Remote("test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
                   "eb5a983be6a315427106f1b164d9cef3"),
}


@dataclass(frozen=True, kw_only=True)
class Svhn(Dataset):
    def load(self, split="train", data_dir=None, *, allow_download=True, image_size=None, channels=None,
             bad_images="skip"):
        from scipy.io import loadmat

        self.check_split(split)
        path = find_or_fetch(SVHN_FILES[split], self.name, data_dir)
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


SVHN = Svhn(name="svhn", help="street-view house-number digits, 32x32 colour (train_32x32.mat, test_32x32.mat)")
