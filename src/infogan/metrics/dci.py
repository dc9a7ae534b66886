"""DCI disentanglement (Eastwood & Williams 2018), with disentanglement_lib's defaults.

One gradient-boosted tree classifier per factor (scikit-learn's defaults, random state 0) is fitted on 10,000
observations' representations and scored on 5,000 more; its feature importances give an
importance matrix (dimensions x factors). A dimension's disentanglement is 1 minus the
entropy (base: the number of factors) of its importances spread over the factors; the score
is their average weighted by each dimension's share of the total importance. Completeness
(the same per factor, over dimensions) and the classifiers' accuracy come with it.
"""

from __future__ import annotations

import numpy as np
import torch

from .factors import on_factors, sample_batch
from .registry import Column, Metric


def importance_matrix(x_train, y_train, x_test, y_test, jobs: int = 1):
    """(importance (dimensions x factors), train accuracy, test accuracy), one classifier per factor.
    The factors' classifiers are fitted on `jobs` threads at once (scikit-learn's tree building
    releases the GIL: 1.6x on 2 cores, docs/bench/dci-threads.json), the most classes first, as they take longest; each has
    random_state 0, so the figures are the same whatever `jobs` is."""
    from joblib import Parallel, delayed

    order = sorted(range(y_train.shape[1]), key=lambda k: -len(np.unique(y_train[:, k])))
    fits = Parallel(n_jobs=max(1, min(jobs, len(order))), backend="threading")(
        delayed(_fit_factor)(x_train, y_train[:, k], x_test, y_test[:, k]) for k in order)
    importance = np.zeros((x_train.shape[1], y_train.shape[1]))
    train_acc, test_acc = np.zeros(len(order)), np.zeros(len(order))
    for k, (importance_k, train_k, test_k) in zip(order, fits):
        importance[:, k], train_acc[k], test_acc[k] = importance_k, train_k, test_k
    return importance, float(np.mean(train_acc)), float(np.mean(test_acc))


def _fit_factor(x_train, y_train, x_test, y_test):
    """One factor's gradient-boosted trees (scikit-learn's defaults, as disentanglement_lib):
    (|feature importances|, train accuracy, test accuracy)."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=0).fit(x_train, y_train)
    return (np.abs(model.feature_importances_), np.mean(model.predict(x_train) == y_train),
            np.mean(model.predict(x_test) == y_test))


def _one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Rows of p as distributions: 1 - their entropy in base `base`."""
    from scipy.stats import entropy

    return 1.0 - entropy(p.T + 1e-11, base=base)


def scores(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix (dimensions x factors)."""
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    d = float(np.sum(_one_minus_entropy(importance, importance.shape[1]) * weights.sum(1) / weights.sum()))
    c = float(np.sum(_one_minus_entropy(importance.T, importance.shape[0]) * weights.sum(0) / weights.sum()))
    return d, c


def dci(data, represent, rng, num_train: int = 10000, num_test: int = 5000) -> dict:
    x_train, y_train = sample_batch(data, represent, num_train, rng)
    x_test, y_test = sample_batch(data, represent, num_test, rng)
    # as many fits at once as the command has threads (evaluate --threads)
    importance, train_acc, test_acc = importance_matrix(x_train, y_train, x_test, y_test, jobs=torch.get_num_threads())
    d, c = scores(importance)
    return {"disentanglement": d, "completeness": c, "informativeness_train": train_acc,
            "informativeness_test": test_acc}


PROTOCOL = dict(num_train=10000, num_test=5000)  # disentanglement_lib's defaults (tests use smaller ones)

METRIC = Metric(
    name="dci",
    help="DCI disentanglement on real images with known factors (disentanglement_lib's defaults: gradient-"
         "boosted trees, 10,000 to fit, 5,000 to test)",
    compute=on_factors(dci, PROTOCOL),
    needs=frozenset({"factors"}),
    columns=(Column("dci", "DCI disentanglement", lambda r: r["disentanglement"]),),
    lines=lambda r: [f"DCI disentanglement {r['disentanglement']:.3f}, completeness {r['completeness']:.3f}, "
                     f"informativeness {r['informativeness_test']:.3f}"],
)
