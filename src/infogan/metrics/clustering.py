"""Unsupervised accuracy of a categorical code: Hungarian-matched to the labels, plus NMI/ARI."""

from __future__ import annotations

import numpy as np


def contingency(pred: np.ndarray, labels: np.ndarray, k_pred: int, k_true: int) -> np.ndarray:
    """counts[t, p]: how many images of true class t the code put in class p."""
    m = np.zeros((k_true, k_pred), dtype=np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def hungarian_match(pred: np.ndarray, labels: np.ndarray, k_pred: int, k_true: int) -> dict[int, int]:
    """The one-to-one map code class -> label that maximises agreement (scipy's Hungarian).

    With more code classes than labels the unmatched ones count as errors.
    """
    from scipy.optimize import linear_sum_assignment

    m = contingency(pred, labels, k_pred, k_true)
    rows, cols = linear_sum_assignment(m, maximize=True)
    return {int(p): int(t) for t, p in zip(rows, cols)}


def cluster_scores(pred, labels, k_pred: int, k_true: int | None = None) -> dict:
    """accuracy (Hungarian), nmi, ari, the matching, and the confusion matrix in matched order."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # (a slow import: on first use)

    pred, labels = np.asarray(pred, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    k_true = k_true or int(labels.max()) + 1
    match = hungarian_match(pred, labels, k_pred, k_true)
    m = contingency(pred, labels, k_pred, k_true)
    # columns reordered so matched code classes line up with the diagonal
    order = [p for _, p in sorted((t, p) for p, t in match.items())]
    order += [p for p in range(k_pred) if p not in match]
    correct = sum(m[t, p] for p, t in match.items())
    return {
        "accuracy": float(correct / max(len(labels), 1)),
        "nmi": float(normalized_mutual_info_score(labels, pred)),
        "ari": float(adjusted_rand_score(labels, pred)),
        "match": {str(p): t for p, t in sorted(match.items())},
        "confusion": m[:, order].tolist(),
        "confusion_columns": order,
    }
