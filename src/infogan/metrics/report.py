"""evaluate: run the registered metrics on a model and write metrics.json (and pictures).

    result = evaluate("runs/00000-mnist")                     # every metric that applies
    result = evaluate(model, metrics=["categorical"], write_to=None)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .. import data
from ..files import atomic_write
from ..speed import float32_products
from ..errors import InfoGANError
from .registry import METRICS, EvalContext


MAX_SAMPLES = 1_000_000


def metric_names(metrics: list[str] | str | None) -> list[str] | None:
    """["categorical", "quality"] from the command line's "categorical,quality" or a list
    (a string is iterable too: evaluate(metrics="categorical") used to ask for metric "c")."""
    if isinstance(metrics, str):
        return [n.strip() for n in metrics.split(",") if n.strip()]
    return None if metrics is None else list(metrics)


def check_samples(n_samples: int) -> None:
    if n_samples < 2:  # a covariance (the Frechet distance) and a variance (the MI bounds' R^2) need two
        raise InfoGANError(f"--samples {n_samples}: the metrics that generate need at least 2 samples "
                           "(the Frechet distance wants thousands)")
    if n_samples > MAX_SAMPLES:  # (a typo's extra zeros ran for hours, silently, holding every code in memory)
        raise InfoGANError(f"--samples {n_samples}: at most {MAX_SAMPLES:,} (default 10,000)")


def measurable(model, metrics: list[str] | str | None, have: set[str], dataset: str = "", skip=()) -> list:
    """The metrics to run: those named (None: every one that applies, given what the data `have`:
    labels, train, factors), less those in skip. A metric named that cannot be measured is an InfoGANError."""
    metrics = metric_names(metrics)
    names = [n for n in (list(METRICS) if metrics is None else metrics) if n not in skip]
    if metrics is not None and not names:
        raise InfoGANError("--metrics names no metric to measure")
    run = []
    for name in names:
        metric = METRICS.lookup(name)
        if metric.needs <= have and metric.applies(model):
            run.append(metric)
        elif metrics is not None:  # asked for by name: say why it cannot be measured, before any work
            missing = sorted(metric.needs - have)
            raise InfoGANError(f"{name} cannot be measured here: " + (
                f"it needs {' and '.join(NEEDS[n] for n in missing)}, which {dataset or 'these images'} "
                f"{'lacks' if dataset else 'lack'}" if missing else f"it applies to {metric.applies_to}"))
    return run


def evaluate_model(model, images: torch.Tensor, labels: torch.Tensor | None, n_samples: int = 10000,
                   seed: int = 0, metrics: list[str] | str | None = None, dataset: str = "", split: str = "test",
                   load_train=None, load_factors=None, skip=(), progress: bool = True) -> dict:
    """{metric name: its result} for the metrics named, or by default all that apply to these
    images (the ones that need labels or factors are left out where there are none), less
    those in skip. A metric named that cannot be measured here is an InfoGANError.
    progress: a bar naming the metric being measured, where stderr is a terminal (dSprites'
    DCI and SAP fit models for minutes, and the command said nothing meanwhile)."""
    from tqdm import tqdm

    check_samples(n_samples)
    ctx = EvalContext(model, images, labels, dataset, split, n_samples, seed, load_train, load_factors)
    have = {"labels"} if labels is not None and len(labels) else set()
    have |= {"train"} if load_train is not None else set()
    have |= {"factors"} if load_factors is not None else set()
    run = measurable(model, metrics, have, dataset, skip)
    result = {"n_images": int(len(images))}
    with float32_products(), tqdm(run, desc="evaluating", unit="metric", disable=None if progress else True,
                                  leave=False) as bar:
        for metric in bar:
            bar.set_postfix_str(metric.name)
            result[metric.name] = metric.compute(ctx)
    return result


# what Metric.needs names, in words (for the error when a named metric cannot be measured)
NEEDS = {"labels": "labelled images", "train": "a training split",
         "factors": "images with known factors (dsprites, sprites)"}


def evaluate(model, *, metrics: list[str] | str | None = None, split: str | None = None, data_dir=None,
             n_samples: int = 10000, seed: int = 0, write_to: str | Path | None = "auto",
             loaded: dict | None = None, skip=(), progress: bool = True) -> dict:
    """Evaluate a model (an InfoGAN, or a run or model folder) on its dataset's split (default:
    test where there is one, else train).

    write_to: a folder for metrics.json and the metrics' pictures ("auto": the run folder when
    `model` is a path; None: write nothing). metrics.json keeps the results of metrics not
    run this time. It is the evaluation on the dataset's evaluation_split: another split's goes to
    metrics-<split>.json, without pictures, so that what sweeps tabulate and infer names classes
    by stays the held-out one (`evaluate --split train` once replaced it, and a sweep then
    reported training-set accuracy). loaded: {split: (images, labels)} already in memory (training has them).
    metrics, skip, progress: as evaluate_model's.
    """
    from ..model import InfoGAN
    from ..run import Run, model_and_run

    if not isinstance(model, InfoGAN):
        model, run = model_and_run(model)
        write_to = (run.path if run else None) if write_to == "auto" else write_to
    elif write_to == "auto":
        write_to = None
    ds = data.get(model.config["dataset"])
    split = split or ds.evaluation_split
    if split not in ds.splits:
        raise InfoGANError(f"{ds.name} has no {split!r} split to evaluate on (it has: {', '.join(ds.splits)})")
    # what the dataset says it has, so that a metric named that cannot be measured, or a bad
    # --samples, is refused before its images are read (or downloaded)
    check_samples(n_samples)
    declared = {need for need, has in (("labels", ds.labelled), ("train", "train" in ds.splits),
                                       ("factors", hasattr(ds, "factors"))) if has}
    measurable(model, metrics, declared, ds.name, skip)
    loaded = dict(loaded or {})
    size, channels = model.config["image_size"], model.config["channels"]

    def load(name):
        if loaded.get(name) is None:
            loaded[name] = data.load(ds.name, name, data_dir, image_size=size, channels=channels)
        return loaded[name]

    images, labels = load(split)
    load_factors = None
    if hasattr(ds, "factors"):  # a dataset with ground-truth factors (dSprites): the disentanglement metrics
        from .factors import FactorData

        load_factors = lambda: FactorData(images, *ds.factors(split, data_dir))  # noqa: E731
    result = {"dataset": ds.name, "split": split,
              **evaluate_model(model, images, labels, n_samples, seed, metrics, ds.name, split,
                               load_train=lambda: load("train"), load_factors=load_factors, skip=skip,
                               progress=progress)}
    if write_to is not None:
        out, held_out = Path(write_to), split == ds.evaluation_split
        path = Run(out).metrics_file if held_out else out / f"metrics-{split}.json"
        old = json.loads(path.read_text()) if path.is_file() else {}
        merged = {**old, **result} if old.get("split") == split else result
        atomic_write(path, json.dumps(merged, indent=2) + "\n")
        ctx = EvalContext(model, images, labels, ds.name, split)
        for name in result if held_out else ():
            metric = METRICS.get(name)
            if metric is not None and metric.pictures is not None:
                metric.pictures(result[name], out, ctx)
    return result


def format_report(result: dict) -> str:
    lines = [f"{result['dataset']} {result['split']} ({result['n_images']} images)"]
    for name, metric in METRICS.items():
        if name in result:
            lines += metric.lines(result[name])
    return "\n".join(lines)
