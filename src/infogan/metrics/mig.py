"""The mutual information gap (Chen et al. 2018), with disentanglement_lib's defaults.

On 10,000 observations, each representation dimension is discretised into 20 equal-width
bins and its mutual information with each factor measured; for each factor, the gap between
its two most informative dimensions, divided by the factor's entropy; averaged over factors.
"""

from __future__ import annotations

import numpy as np

from .factors import on_factors, sample_batch
from .registry import Column, Metric


def discretize(reps: np.ndarray, bins: int = 20) -> np.ndarray:
    """Each column into `bins` equal-width bins over its own range."""
    return np.stack([np.digitize(col, np.histogram(col, bins)[1][:-1]) for col in reps.T], 1)


def mutual_info_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(dimensions, factors) discrete mutual information, in nats."""
    from sklearn.metrics import mutual_info_score

    return np.array([[mutual_info_score(factors[:, k], codes[:, j]) for k in range(factors.shape[1])]
                     for j in range(codes.shape[1])])


def mig(data, represent, rng, num_train: int = 10000, bins: int = 20) -> dict:
    from sklearn.metrics import mutual_info_score

    reps, factors = sample_batch(data, represent, num_train, rng)
    m = mutual_info_matrix(discretize(reps, bins), factors)
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if len(top) > 1 else np.zeros_like(top[0])
    per_factor = (top[0] - second) / entropy
    return {"mig": float(per_factor.mean()), "per_factor": per_factor.round(4).tolist()}


PROTOCOL = dict(num_train=10000, bins=20)  # disentanglement_lib's defaults (tests use smaller ones)

METRIC = Metric(
    name="mig",
    help="mutual information gap on real images with known factors (disentanglement_lib's defaults: "
         "10,000 images, 20 bins)",
    compute=on_factors(mig, PROTOCOL),
    needs=frozenset({"factors"}),
    columns=(Column("mig", "MIG", lambda r: r["mig"]),),
    lines=lambda r: [f"MIG {r['mig']:.3f} (per factor: {', '.join(f'{v:.2f}' for v in r['per_factor'])})"],
)
