"""Pick one of several trained models without labels: ModelCentrality, Q's consistency, or
the models' agreement on how to class real training images.

ModelCentrality (InfoGAN-CR, Lin et al. 2020):

Each model's generator makes its own scoring set: votes of 100 generated images in which one
of its codes is held at one value (its codes are the ground-truth factors: categorical codes by
class, continuous ones on 20 values; metrics.factors.GeneratorFactors). Every model's encoder
Q is scored on every other model's set with the FactorVAE score (how well single dimensions of
Q's reading follow the other model's codes); two models agree as much as the mean of the two
directions. The selected model is the medoid: the one that agrees most, on average, with
the others. As InfoGAN-CR's code: 500 votes per set, and the score on those same votes.
"""

from __future__ import annotations

import numpy as np

from .errors import InfoGANError
from .metrics.factor_vae import score_votes, vote_sets
from .metrics.factors import GeneratorFactors, representation

VOTES, IMAGES_PER_VOTE, VARIANCE_IMAGES = 500, 100, 5000
AGREEMENT_IMAGES = 10_000  # the first training images, which every model classes
CONSISTENCY_ROWS = 6  # training log rows averaged: the last 300 steps at --log-every 50


def model_centrality(models: list, seed: int = 0, votes: int | None = None, per_vote: int | None = None,
                     variance_images: int | None = None) -> dict:
    """{"agreement": (n, n) matrix, "centrality": per model, "selected": index of the medoid}."""
    votes, per_vote = votes or VOTES, per_vote or IMAGES_PER_VOTE
    variance_images = variance_images or VARIANCE_IMAGES
    sets = []
    for j, model in enumerate(models):  # model j's scoring set, read by every encoder
        data, rng = GeneratorFactors(model), np.random.RandomState(seed + j)
        observations = data.observations(data.sample_factors(variance_images, rng), rng)
        sets.append((data.num_factors, observations, list(vote_sets(data, votes, per_vote, rng))))
    n = len(models)
    score = np.eye(n)
    for i, model in enumerate(models):
        represent = representation(model)
        for j, (num_factors, observations, votes_j) in enumerate(sets):
            if i != j:  # encoder i on generator j's codes
                score[i, j] = score_votes(represent, observations, votes_j, None, num_factors)["train_accuracy"]
    return medoid((score + score.T) / 2)


def medoid(agreement: np.ndarray) -> dict:
    """From a symmetric (n, n) agreement matrix with ones on its diagonal: each model's mean
    agreement with the others (its centrality) and the most central one, as the selectors report it."""
    centrality = (agreement.sum(1) - 1) / max(len(agreement) - 1, 1)
    return {"agreement": agreement.round(4).tolist(), "centrality": centrality.round(4).tolist(),
            "selected": int(np.argmax(centrality))}


def final_consistency(stats: list[dict], rows: int = CONSISTENCY_ROWS) -> float | None:
    """A run's loss_consistency averaged over its last `rows` training log rows (its stats.jsonl
    rows, Run.stats): minus the mutual information between Q's classes of real training images
    and of their transformed copies (losses.consistency_loss; -ln K at best). None when the run
    did not train that term. No labels: the run's own log."""
    values = [row["loss_consistency"] for row in stats if "loss_consistency" in row]
    return float(np.mean(values[-rows:])) if values else None


def most_consistent(logs: dict[str, list[dict]]) -> dict:
    """Q's consistency over runs ({run: its stats.jsonl rows}, in the runs' order): the
    selected run's Q agrees most with itself on real images (final_consistency). A capsule Q
    that splits digits by style ends below the ones that do not (docs/studies/infocapsgan.md)."""
    values = [final_consistency(rows) for rows in logs.values()]
    missing = [run for run, v in zip(logs, values) if v is None]
    if missing:
        raise InfoGANError(f"{missing[0]} has no loss_consistency: selecting by consistency needs runs trained "
                           "with --consistency > 0")
    return {"consistency": [round(v, 4) for v in values], "selected": int(np.argmin(values))}


def partition_agreement(models: list, images) -> dict:
    """The medoid of several models under their agreement on real images (no labels): each
    model's categorical codes class the same images; two models agree as much as the
    normalised mutual information between their classes (averaged over the categorical
    codes, code by code); the selected model agrees most, on average, with the others.
    Why: a run that files a style of one digit with another (MNIST's crossed 7s in the 2's
    category) classes those images unlike the runs that do not, so it sits at the edge.
    {"agreement": (n, n) matrix, "centrality": per model, "selected": index of the medoid}."""
    from sklearn.metrics import normalized_mutual_info_score

    if len(models) < 2:
        raise InfoGANError("selecting by agreement needs at least two models")
    classes = []
    for model in models:
        names = [code.name for code in model.spec.categorical]
        if not names:
            raise InfoGANError("selecting by agreement needs a categorical code")
        codes = model.infer_codes(images)
        classes.append([codes[name].numpy() for name in names])
    if len({len(c) for c in classes}) != 1:
        raise InfoGANError("selecting by agreement needs models with the same number of categorical codes")
    n = len(models)
    agreement = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            agreement[i, j] = agreement[j, i] = np.mean(
                [normalized_mutual_info_score(a, b) for a, b in zip(classes[i], classes[j])])
    return medoid(agreement)
