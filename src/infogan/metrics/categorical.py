"""The categorical codes as classifiers of real images: Hungarian accuracy, NMI, ARI and the
confusion matrix per code, against the dataset's labels."""

from __future__ import annotations

from pathlib import Path

import torch

from .clustering import cluster_scores
from .registry import Column, EvalContext, Metric


def categorical_scores(model, images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, dict]:
    """cluster_scores of each categorical code's classes of images (Q in eval mode); {} for
    unlabelled images (the key stays, so every metrics.json has it)."""
    if labels is None or not len(labels):
        return {}
    pred = model.infer_codes(images)
    n_true = int(labels.max()) + 1
    return {code.name: cluster_scores(pred[code.name].numpy(), labels.numpy(), code.size, n_true)
            for code in model.spec.categorical}


def first(result: dict, key: str):
    return next(iter(result.values()))[key] if result else None


def lines(result: dict) -> list[str]:
    out = [f"{'code':<8}{'accuracy':>10}{'NMI':>8}{'ARI':>8}"] if result else []
    return out + [f"{name:<8}{r['accuracy']:>10.4f}{r['nmi']:>8.3f}{r['ari']:>8.3f}" for name, r in result.items()]


def pictures(result: dict, out_dir: Path, ctx: EvalContext) -> None:
    from .. import data
    from ..viz import save_confusion

    names = data.get(ctx.dataset).classes if ctx.dataset else None
    for name, r in result.items():
        save_confusion(r["confusion"], out_dir / f"confusion-{name}.png", names,
                       f"{ctx.dataset} {ctx.split}: code {name}, accuracy {r['accuracy']:.3f}")


METRIC = Metric(
    name="categorical",
    help="each categorical code's Hungarian-matched accuracy, NMI and ARI on labelled real images",
    compute=lambda ctx: categorical_scores(ctx.model, ctx.images, ctx.labels),
    columns=(Column("accuracy", "accuracy", lambda r: first(r, "accuracy")),
             Column("nmi", "NMI", lambda r: first(r, "nmi")),
             Column("ari", "ARI", lambda r: first(r, "ari"))),
    lines=lines,
    pictures=pictures,
)
