"""Ground-truth factors for the disentanglement metrics (factor_vae.py, mig.py, dci.py, sap.py).

A metric samples factor values, fetches observations that have them, and reads them with a
representation function; as in google-research/disentanglement_lib, whose protocol these
follow. Two sources of factors:

  FactorData      a dataset that holds every combination of its factors exactly once
                  (dSprites and its stand-in): factors -> the image with them
  GeneratorFactors a trained generator, its own codes as the factors (ModelCentrality):
                  factors -> G(z, codes) with fresh noise

The representation of an InfoGAN is what its encoder Q reads: each continuous code's mean and
each categorical code's class (representation()).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


class FactorSource:
    """Something whose factors can be sampled and whose observations can be fetched for them."""

    sizes: tuple[int, ...]  # each factor's number of values

    @property
    def num_factors(self) -> int:
        return len(self.sizes)

    def sample_factors(self, n: int, rng: np.random.RandomState) -> np.ndarray:
        return np.stack([rng.randint(size, size=n) for size in self.sizes], 1)

    def observations(self, factors: np.ndarray, rng: np.random.RandomState) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class FactorData(FactorSource):
    images: torch.Tensor  # (N, ...) observations
    classes: np.ndarray  # (N, K) each observation's factor values (class indices)
    sizes: tuple[int, ...]  # each factor's number of values
    names: tuple[str, ...]

    def __post_init__(self):
        self.bases = np.cumprod((self.sizes[1:] + (1,))[::-1])[::-1].astype(np.int64)  # mixed radix, last fastest
        index = self.classes @ self.bases
        if len(self.classes) != int(np.prod(self.sizes)) or len(np.unique(index)) != len(index):
            raise ValueError("the factor metrics need every combination of the factors exactly once")
        self.position = np.empty(len(index), np.int64)
        self.position[index] = np.arange(len(index))  # grid index -> row (any storage order)

    def observations(self, factors: np.ndarray, rng: np.random.RandomState) -> torch.Tensor:
        return self.images[torch.from_numpy(self.position[factors @ self.bases])]


class GeneratorFactors(FactorSource):
    """A generator's codes as ground-truth factors: categorical codes by class, continuous ones
    on a grid of `bins` values over their prior's central range, noise drawn afresh per image."""

    def __init__(self, model, bins: int = 20, batch: int = 500):
        self.model, self.batch = model, batch
        self.codes = list(model.spec.codes)
        self.sizes = tuple(c.size if c.kind == "cat" else bins for c in self.codes)
        self.names = tuple(c.name for c in self.codes)
        self.values = {c.name: torch.linspace(-1, 1, bins) if c.prior == "uniform" else torch.linspace(-2, 2, bins)
                       for c in self.codes if c.kind == "cont"}

    def observations(self, factors: np.ndarray, rng: np.random.RandomState) -> torch.Tensor:
        codes = {c.name: torch.from_numpy(factors[:, j]) if c.kind == "cat" else self.values[c.name][factors[:, j]]
                 for j, c in enumerate(self.codes)}
        seed = int(rng.randint(2**31 - 1))
        out = [self.model.generate(min(self.batch, len(factors) - i), seed=seed + i,
                                   codes={k: v[i : i + self.batch] for k, v in codes.items()})
               for i in range(0, len(factors), self.batch)]
        return (torch.cat(out) * 255).round().to(torch.uint8)  # as real images come: uint8


def representation(model):
    """images -> (N, D) numpy: Q's mean of each continuous code and class of each categorical one."""

    def represent(images: torch.Tensor) -> np.ndarray:
        read = model.infer_codes(images)
        return torch.stack([read[c.name].float() for c in model.spec.codes], 1).numpy()

    return represent


def on_factors(fn, protocol: dict):
    """A Metric's compute for a disentanglement metric: fn(the evaluation's factor data, Q's
    representation, a seeded RandomState, **protocol), protocol read when it runs."""
    return lambda ctx: fn(ctx.factor_data(), representation(ctx.model), np.random.RandomState(ctx.seed), **protocol)


def sample_batch(data, represent, n: int, rng: np.random.RandomState, batch: int = 1000):
    """(representations (n, D), factors (n, K)) of n random observations."""
    factors = data.sample_factors(n, rng)
    reps = [represent(data.observations(factors[i : i + batch], rng)) for i in range(0, n, batch)]
    return np.concatenate(reps), factors
