"""The SAP score (Kumar et al. 2018), with disentanglement_lib's defaults (discrete factors).

For each factor and each single representation dimension, a linear SVM (C = 0.01, balanced
classes) is fitted on 10,000 observations and scored on 5,000 more; for each factor, the gap
between the best and the second-best dimension's accuracy; averaged over factors.
"""

from __future__ import annotations

import warnings

import numpy as np

from .factors import on_factors, sample_batch
from .registry import Column, Metric


def score_matrix(x_train, y_train, x_test, y_test) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    m = np.zeros((x_train.shape[1], y_train.shape[1]))
    for j in range(x_train.shape[1]):
        for k in range(y_train.shape[1]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = LinearSVC(C=0.01, class_weight="balanced").fit(x_train[:, j : j + 1], y_train[:, k])
            m[j, k] = np.mean(model.predict(x_test[:, j : j + 1]) == y_test[:, k])
    return m


def sap(data, represent, rng, num_train: int = 10000, num_test: int = 5000) -> dict:
    x_train, y_train = sample_batch(data, represent, num_train, rng)
    x_test, y_test = sample_batch(data, represent, num_test, rng)
    top = np.sort(score_matrix(x_train, y_train, x_test, y_test), axis=0)
    second = top[-2] if len(top) > 1 else np.zeros_like(top[-1])
    return {"sap": float(np.mean(top[-1] - second))}


PROTOCOL = dict(num_train=10000, num_test=5000)  # disentanglement_lib's defaults (tests use smaller ones)

METRIC = Metric(
    name="sap",
    help="SAP score on real images with known factors (disentanglement_lib's defaults: a linear SVM per "
         "dimension and factor, 10,000 to fit, 5,000 to test)",
    compute=on_factors(sap, PROTOCOL),
    needs=frozenset({"factors"}),
    columns=(Column("sap", "SAP", lambda r: r["sap"]),),
    lines=lambda r: [f"SAP {r['sap']:.3f}"],
)
