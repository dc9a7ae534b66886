"""What a metric is: a function of an EvalContext that returns a JSON-ready dict.

    @dataclass EvalContext: the model, held-out real images (and labels, when the dataset
    has them), how many samples to generate, a seed, and the training split on demand.

A Metric also says what a sweep's table shows of its result (columns), what it prints
(lines) and what pictures it writes beside metrics.json (pictures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..registry import Registry


@dataclass
class EvalContext:
    model: object  # an InfoGAN
    images: torch.Tensor  # (N, C, H, W) uint8 held-out real images
    labels: torch.Tensor | None  # (N,) int64, or None for unlabelled data
    dataset: str = ""
    split: str = "test"
    n_samples: int = 10000  # generated samples for the metrics that generate
    seed: int = 0
    load_train: Callable[[], tuple[torch.Tensor, torch.Tensor | None]] | None = None
    load_factors: Callable[[], object] | None = None  # -> factors.FactorData of these images
    _train: tuple | None = field(default=None, repr=False)
    _factors: object | None = field(default=None, repr=False)

    def train_split(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The dataset's training split (images, labels), loaded once."""
        if self._train is None:
            if self.load_train is None:
                raise ValueError("this evaluation has no training split")
            self._train = self.load_train()
        return self._train

    def factor_data(self):
        """The images' ground-truth factors (factors.FactorData), loaded once."""
        if self._factors is None:
            if self.load_factors is None:
                raise ValueError("this evaluation has no ground-truth factors")
            self._factors = self.load_factors()
        return self._factors


@dataclass(frozen=True)
class Column:
    """One column of a sweep's table: key in sweep.json, label in sweep.md, value from the result."""

    key: str
    label: str
    value: Callable[[dict], float | None]


@dataclass(frozen=True)
class Metric:
    name: str  # the key of its result in metrics.json and its name for `evaluate --metrics`
    help: str
    compute: Callable[[EvalContext], dict]
    needs: frozenset[str] = frozenset()  # "labels", "train", "factors": skipped when the evaluation lacks them
    applies: Callable[[object], bool] = lambda model: True  # skipped for models it does not apply to
    applies_to: str = ""  # those models, in words (when it is asked for by name for another)
    columns: tuple[Column, ...] = ()
    lines: Callable[[dict], list[str]] = lambda result: []
    pictures: Callable[[dict, Path, EvalContext], None] | None = None


METRICS: Registry[Metric] = Registry("metric")
