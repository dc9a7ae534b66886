"""evaluate_model: everything `infogan evaluate` reports, as one JSON-ready dict."""

from __future__ import annotations

import torch

from .clustering import cluster_scores
from .information import mi_lower_bounds


def evaluate_model(model, images: torch.Tensor, labels: torch.Tensor | None, n_samples: int = 10000,
                   seed: int = 0, classifier=None) -> dict:
    """Per categorical code: Hungarian accuracy, NMI, ARI, confusion on (images, labels);
    per code: the MI lower bound (and continuous-code recovery) on G's samples; with a
    feature classifier (metrics.quality), the Frechet distance and classifier score."""
    codes = {}
    if labels is not None and len(labels):  # unlabelled data (folders, CelebA): no accuracy to measure
        pred = model.infer_codes(images)
        n_true = int(labels.max()) + 1
        for code in model.spec.categorical:
            codes[code.name] = cluster_scores(pred[code.name].numpy(), labels.numpy(), code.size, n_true)
    result = {"n_images": int(len(images)), "categorical": codes,
              "information": mi_lower_bounds(model, n=n_samples, seed=seed)}
    if classifier is not None:
        from .quality import features, sample_quality

        quality = sample_quality(model, classifier, images, n=n_samples, seed=seed)
        quality["classifier_accuracy"] = float((features(classifier, images)[1].argmax(1) == labels.numpy()).mean())
        result["quality"] = quality
    return result
