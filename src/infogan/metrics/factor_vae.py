"""The FactorVAE score (Kim & Mnih 2018), with disentanglement_lib's defaults.

Each representation dimension is scaled by its standard deviation over 10,000 observations
(dimensions with std < 0.05 are dropped as inactive). A vote fixes one factor at a random
value across a batch of 64 observations and names the dimension whose variance, relative to
its global variance, is smallest; a majority-vote classifier (dimension -> factor) is fitted
on 10,000 votes and its accuracy on 5,000 fresh votes is the score (eval_accuracy).
"""

from __future__ import annotations

import numpy as np

from .factors import on_factors
from .registry import Column, Metric


def vote_sets(data, n: int, batch_size: int, rng):
    """n votes' observations, drawn as they are read: each fixes one random factor at a random
    value across a batch. (list() them to read them with several representations.)"""
    for _ in range(n):
        k = rng.randint(data.num_factors)
        factors = data.sample_factors(batch_size, rng)
        factors[:, k] = factors[0, k]
        yield k, data.observations(factors, rng)


def count_votes(sets, represent, num_factors: int, global_var: np.ndarray, active: np.ndarray) -> np.ndarray:
    """(factors, dimensions) counts: how often fixing factor k made dimension j the least variable."""
    counts = np.zeros((num_factors, len(global_var)), np.int64)
    for k, observations in sets:
        local = np.var(represent(observations), axis=0, ddof=1)
        counts[k, np.flatnonzero(active)[np.argmin(local[active] / global_var[active])]] += 1
    return counts


def score_votes(represent, variance_observations, train_sets, eval_sets, num_factors: int,
                prune_threshold: float = 0.05) -> dict:
    """The score of a representation on given observations: the global variances from
    variance_observations, the majority-vote classifier from train_sets, its accuracy on eval_sets."""
    global_var = np.var(represent(variance_observations), axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train = count_votes(train_sets, represent, num_factors, global_var, active)
    classifier = np.argmax(train, axis=0)  # each dimension's factor
    cols = np.arange(train.shape[1])
    evaluation = count_votes(eval_sets, represent, num_factors, global_var, active) if eval_sets is not None else train
    return {"train_accuracy": float(train[classifier, cols].sum() / train.sum()),
            "eval_accuracy": float(evaluation[classifier, cols].sum() / evaluation.sum()),
            "num_active_dims": int(active.sum())}


def factor_vae_score(data, represent, rng, batch_size: int = 64, num_train: int = 10000, num_eval: int = 5000,
                     num_variance_estimate: int = 10000, prune_threshold: float = 0.05) -> dict:
    observations = data.observations(data.sample_factors(num_variance_estimate, rng), rng)
    train = vote_sets(data, num_train, batch_size, rng)
    evaluation = vote_sets(data, num_eval, batch_size, rng)
    return score_votes(represent, observations, train, evaluation, data.num_factors, prune_threshold)

PROTOCOL = dict(batch_size=64, num_train=10000, num_eval=5000, num_variance_estimate=10000, prune_threshold=0.05)  # disentanglement_lib's defaults (tests use smaller ones)

METRIC = Metric(
    name="factor_vae",
    help="FactorVAE score on real images with known factors (disentanglement_lib's defaults: 64-image "
         "votes, 10,000 to fit, 5,000 to score)",
    compute=on_factors(factor_vae_score, PROTOCOL),
    needs=frozenset({"factors"}),
    columns=(Column("factor_vae", "FactorVAE score", lambda r: r["eval_accuracy"]),),
    lines=lambda r: [f"FactorVAE score {r['eval_accuracy']:.3f} ({r['num_active_dims']} active dimensions)"],
)
