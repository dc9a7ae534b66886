"""dSprites (Matthey et al. 2017) and a procedural stand-in over the same factor grid.

dsprites  the canonical file dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz (deepmind/
          dsprites-dataset): 737,280 binary 64x64 images, every combination of 3 shapes
          (square, ellipse, heart) x 6 scales x 40 orientations x 32 x-positions x 32
          y-positions exactly once. Found in --data-dir, the cache, or downloaded; checked by
          MD5 (the sum its users publish). Its `metadata` entry is a pickle: only the arrays
          imgs, latents_classes and latents_values are read, with allow_pickle=False.
sprites   the same grid drawn here (`infogan data make sprites`): binary square, ellipse
          and heart masks at the same scales, orientations and positions. An approximation
          (dSprites' drawing code was never published), never used in place of the real file:
          numbers measured on it are labelled as such.

Both give ground-truth factors (factors()), which the disentanglement metrics need; the
images come as (N, 1, 64, 64) uint8 in {0, 255}.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .fetch import cache_root, download, log

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
CANONICAL = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
CANONICAL_URL = f"https://github.com/deepmind/dsprites-dataset/raw/master/{CANONICAL}"
CANONICAL_MD5 = "7da33b31b13a06f4b04a70402ce90c2e"
STAND_IN = "sprites_procedural_64x64.npz"


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(imgs (N, 64, 64) uint8 in {0, 1}, factor classes (N, 5) int64: shape, scale,
    orientation, x, y) from a dSprites-format .npz, never unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as z:
            imgs, classes = z["imgs"], z["latents_classes"]
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise DataError(f"{path}: not a dSprites-format .npz ({type(e).__name__}: {e})") from None
    if imgs.ndim != 3 or imgs.dtype != np.uint8 or classes.shape != (len(imgs), 6):
        raise DataError(f"{path}: expected imgs (N, H, W) uint8 and latents_classes (N, 6), "
                        f"got {imgs.shape} {imgs.dtype} and {classes.shape}")
    return imgs, classes[:, 1:].astype(np.int64)  # colour (column 0) is constant


@dataclass(frozen=True, kw_only=True)
class SpritesBase(Dataset):
    """Shared by the canonical file and the stand-in: a dSprites-format npz, images and factors."""

    file: str = ""

    def find(self, data_dir) -> Path:
        raise NotImplementedError

    def _arrays(self, data_dir) -> tuple[np.ndarray, np.ndarray]:
        path = self.find(data_dir)
        key = (str(path), path.stat().st_mtime, path.stat().st_size)
        if _CACHE.get("key") != key:  # decompressing 737,280 images takes a while: once per process
            _CACHE.update(key=key, arrays=read_npz(path))
        return _CACHE["arrays"]

    def load(self, split="train", data_dir=None, *, allow_download=True, image_size=None, channels=None,
             bad_images="skip"):
        self.check_split(split)
        imgs, _ = self._arrays(data_dir)
        images = torch.from_numpy(imgs).unsqueeze(1)  # (N, 1, 64, 64) in {0, 1}
        return images.mul(255), None

    def factors(self, split="train", data_dir=None) -> tuple[np.ndarray, tuple[int, ...], tuple[str, ...]]:
        """(the factor classes of every image (N, 5), each factor's number of values, names)."""
        self.check_split(split)
        classes = self._arrays(data_dir)[1]
        return classes, tuple(int(n) for n in classes.max(0) + 1), FACTOR_NAMES


_CACHE: dict = {}


def _md5(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 (the sum the dataset's users publish, for integrity)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True, kw_only=True)
class Dsprites(SpritesBase):
    def find(self, data_dir) -> Path:
        for d in ([Path(data_dir)] if data_dir else []) + [cache_root() / self.name]:
            p = d / self.file
            if p.is_file():
                if _md5(p) != CANONICAL_MD5:
                    raise DataError(f"{p}: MD5 {_md5(p)[:12]}... is not the canonical dSprites file's "
                                    f"({CANONICAL_MD5[:12]}...): truncated, or not that file")
                return p
        target = cache_root() / self.name / self.file
        try:
            blob = download(CANONICAL_URL, timeout=60)
        except OSError as e:
            raise DataError(f"dsprites: {self.file} is not in --data-dir or the cache and {CANONICAL_URL} is "
                            f"unreachable ({getattr(e, 'reason', e)}); put it in {target.parent}, or train on "
                            "the procedural stand-in: infogan data make sprites; --dataset sprites") from None
        if hashlib.md5(blob).hexdigest() != CANONICAL_MD5:  # noqa: S324
            raise DataError(f"dsprites: the download of {CANONICAL_URL} fails its MD5 check")
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_suffix(".part")
        part.write_bytes(blob)
        part.replace(target)
        return target


@dataclass(frozen=True, kw_only=True)
class Sprites(SpritesBase):
    def find(self, data_dir) -> Path:
        for d in ([Path(data_dir)] if data_dir else []) + [cache_root() / self.name]:
            if (d / self.file).is_file():
                return d / self.file
        raise DataError(f"sprites: no {self.file} in {data_dir or 'the cache'}; draw it with "
                        "`infogan data make sprites` (about a minute)")

    def fetch(self, data_dir=None) -> list[str]:
        path = make_sprites(cache_root() / self.name / self.file)
        return [f"sprites: {len(read_npz(path)[0])} images drawn into {path} (a procedural stand-in for dSprites)"]

    def status(self) -> str:
        return "drawn" if (cache_root() / self.name / self.file).is_file() else "not drawn"  # its help says how


DSPRITES = Dsprites(name="dsprites", file=CANONICAL, classes=(), splits=("train",),
                    help="dSprites: 737,280 64x64 sprites, 5 known factors (canonical file, MD5-checked)")
SPRITES = Sprites(name="sprites", file=STAND_IN, classes=(), splits=("train",),
                  help="a procedural stand-in for dSprites over the same factor grid (infogan data make sprites)")


# ---------------------------------------------------------------------- drawing the stand-in


def draw(shape: int, scale: float, angle: float, xs: np.ndarray, ys: np.ndarray, size: int = 64) -> np.ndarray:
    """Binary masks (P, size, size) of one shape (0 square, 1 ellipse, 2 heart) at one scale and
    orientation, centred at each of P positions (xs, ys in [0, 1]). No anti-aliasing, as in dSprites."""
    radius = 0.16 * size * scale  # the half-size of the largest sprite: about a third of the image across
    cx = size * (0.2 + 0.6 * xs)[:, None, None]  # centres stay inside the image
    cy = size * (0.2 + 0.6 * ys)[:, None, None]
    pix = np.arange(size) + 0.5
    dx, dy = (pix[None, None, :] - cx) / radius, (pix[None, :, None] - cy) / radius
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy  # the shape's own axes
    if shape == 0:
        mask = np.maximum(np.abs(u), np.abs(v)) <= 0.8
    elif shape == 1:
        mask = (u / 1.0) ** 2 + (v / 0.5) ** 2 <= 1.0
    else:
        w = -v * 1.1 + 0.15  # heart: (x^2 + y^2 - 1)^3 <= x^2 y^3, point down in the shape's frame
        x = u * 1.1
        mask = (x * x + w * w - 1) ** 3 - x * x * w ** 3 <= 0
    return mask.astype(np.uint8)


def make_sprites(path: str | Path, sizes: tuple[int, ...] = FACTOR_SIZES, progress: bool = True) -> Path:
    """Draw the stand-in over a factor grid (sizes: shapes, scales, orientations, x, y values)
    and save it in dSprites' format (imgs, latents_classes, latents_values; no pickle)."""
    from tqdm import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # an unwritable place fails now, not after a minute of drawing
    n_shape, n_scale, n_orient, n_x, n_y = sizes
    scales, angles = np.linspace(0.5, 1, n_scale), np.linspace(0, 2 * math.pi, n_orient)
    gx, gy = np.meshgrid(np.linspace(0, 1, n_x), np.linspace(0, 1, n_y), indexing="ij")  # y fastest
    xs, ys = gx.ravel(), gy.ravel()
    imgs = np.empty((n_shape * n_scale * n_orient * n_x * n_y, 64, 64), np.uint8)
    i = 0
    for shape in tqdm(range(n_shape), desc="drawing sprites", unit="shape", disable=not progress):
        for scale in scales:
            for angle in angles:
                imgs[i : i + len(xs)] = draw(shape, scale, angle, xs, ys)
                i += len(xs)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, 5)
    classes = np.concatenate([np.zeros((len(grid), 1), np.int64), grid], 1)
    values = np.stack([np.ones(len(grid)), grid[:, 0] + 1.0, scales[grid[:, 1]], angles[grid[:, 2]],
                       grid[:, 3] / max(n_x - 1, 1), grid[:, 4] / max(n_y - 1, 1)], 1)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, imgs=imgs, latents_classes=classes, latents_values=values)
    tmp.replace(path)
    log(f"drew {len(imgs)} sprites into {path}")
    return path
