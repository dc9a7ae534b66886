"""How far selecting by agreement on real images goes (`infogan sweep --select agreement`).

    python benchmarks/agreement_picks.py subsets docs/levers/select-agreement.json [--sizes 3,4,5] [--target 0.98]
    python benchmarks/agreement_picks.py early RUN [RUN ...] [--data-dir DIR] [--weights average|live]
    python benchmarks/agreement_picks.py starts RUN [RUN ...] [--data-dir DIR] [--group 3] [--target 0.98]

subsets: from a study's agreement matrix (selection.partition_agreement over its seeds), every
subset of k seeds gets the medoid the selection would pick among those k alone; prints the
picked seed's test accuracy over the subsets (worst, median, how many reach --target). This is
what a user who trains k seeds and keeps the agreement pick would get, without training more.

early: the same selection at each checkpoint step the runs share (runs trained with a small
--ckpt-every and a large --keep-ckpts): whether a run that fails at the end is already at the
edge early, which would let a recipe train several starts briefly and continue only the
medoid. Each step's test accuracy and the test 7s outside the category holding most of them
are printed beside it, to score; the selection reads the first training images only.

starts: finished runs taken as the starts of a recipe that trains `group` of them and keeps
one answer (cheaper starts, for example --width 0.5, cost about what one default run does).
Every `group`-subset of the runs, and the disjoint groups in the runs' order (runs 0-2, 3-5,
...: the recipe's own seeds, independent draws), are combined two ways without labels: the
medoid (as `subsets`), and a vote: each start's classes are mapped onto the medoid's by their
agreement on the training images (the one-to-one map that maximises it, Hungarian), and each
test image takes the class with the largest sum of the mapped probabilities. Test labels score;
the summaries count the runs and picks below --target (0.98, MNIST's goal; 0.75 for Fashion-MNIST's).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from infogan import InfoGAN, data
from infogan.checkpoint import list_checkpoints, load_model, read_meta
from infogan.errors import CheckpointError
from infogan.metrics.clustering import cluster_scores, contingency, hungarian_match
from infogan.selection import AGREEMENT_IMAGES, medoid, partition_agreement


def subset_picks(agreement: np.ndarray, accuracy: list[float], size: int) -> list[float]:
    """The test accuracy of the medoid of every `size`-subset of the seeds."""
    picks = []
    for subset in itertools.combinations(range(len(accuracy)), size):
        chosen = medoid(agreement[np.ix_(subset, subset)])["selected"]
        picks.append(accuracy[subset[chosen]])
    return picks


def subsets(path: str, sizes: list[int], target: float = 0.98) -> dict:
    studies = json.loads(Path(path).read_text())["studies"]
    result = {}
    for name, study in studies.items():
        agreement, accuracy = np.array(study["agreement"]), study["accuracy"]
        rows = {}
        for size in (s for s in sizes if s <= len(accuracy)):
            picks = subset_picks(agreement, accuracy, size)
            rows[size] = {"subsets": len(picks), "worst_pick": min(picks), "median_pick": statistics.median(picks),
                          f"picks_at_or_above_{target}": sum(a >= target for a in picks)}
        result[name] = {"seeds_accuracy": accuracy, "by_subset_size": rows}
    return result


def early(runs: list[str], dataset: str, data_dir: str | None, weights: str) -> list[dict]:
    x_train, _ = data.load(dataset, "train", data_dir)
    x_test, y_test = data.load(dataset, "test", data_dir)
    x_train, y_test = x_train[:AGREEMENT_IMAGES], np.asarray(y_test)
    by_run = [{read_meta(c)["step"]: c for c in list_checkpoints(Path(r) / "checkpoints")} for r in runs]
    empty = [r for r, steps in zip(runs, by_run) if not steps]
    if empty:
        raise SystemExit(f"agreement_picks: {empty[0]} has no checkpoints (a run folder trained with --ckpt-every)")
    shared = sorted(set.intersection(*(set(steps) for steps in by_run)))
    rows = []
    for step in shared:
        models = [load_model(steps[step], "ema" if weights == "average" else None) for steps in by_run]
        with torch.no_grad():
            picked = partition_agreement(models, x_train)
            classes = [m.infer_codes(x_test)[m.spec.categorical[0].name].numpy() for m in models]
        sevens = [contingency(c, y_test, 10, 10)[7] for c in classes]  # test 7s per code class
        rows.append({"step": step, "selected": runs[picked["selected"]], "centrality": picked["centrality"],
                     "accuracy": [round(cluster_scores(c, y_test, 10, 10)["accuracy"], 4) for c in classes],
                     "sevens_outside_their_category": [int(s.sum() - s.max()) for s in sevens]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def vote(probs: list[np.ndarray], train_classes: list[np.ndarray], reference: int) -> np.ndarray:
    """Each image's class under a soft vote of the models, their classes first mapped onto the
    reference model's by agreement on the training images (no labels)."""
    k = probs[reference].shape[1]
    total = np.zeros_like(probs[reference])
    for p, c in zip(probs, train_classes):
        mapping = hungarian_match(c, train_classes[reference], k, k)  # this model's class -> reference's
        total[:, [mapping[i] for i in range(k)]] += p
    return total.argmax(1)


def starts(runs: list[str], dataset: str, data_dir: str | None, group: int, target: float = 0.98) -> dict:
    x_train, _ = data.load(dataset, "train", data_dir)
    x_test, y_test = data.load(dataset, "test", data_dir)
    x_train, y_test = x_train[:AGREEMENT_IMAGES], np.asarray(y_test)
    train_classes, probs = [], []
    for run in runs:
        model = InfoGAN.from_pretrained(run)
        name = model.spec.categorical[0].name
        with torch.no_grad():
            train_classes.append(model.infer_codes(x_train)[name].numpy())
            probs.append(model.infer_codes(x_test, probs=True)[name].double().numpy())
    k = probs[0].shape[1]
    score = lambda pred: round(cluster_scores(pred, y_test, k, k)["accuracy"], 4)  # noqa: E731
    accuracy = [score(p.argmax(1)) for p in probs]
    n = len(runs)
    agreement = np.eye(n)
    from sklearn.metrics import normalized_mutual_info_score
    for i, j in itertools.combinations(range(n), 2):
        agreement[i, j] = agreement[j, i] = normalized_mutual_info_score(train_classes[i], train_classes[j])

    def combine(subset) -> dict:
        chosen = subset[medoid(agreement[np.ix_(subset, subset)])["selected"]]
        voted = vote([probs[i] for i in subset], [train_classes[i] for i in subset], list(subset).index(chosen))
        return {"starts": list(subset), "medoid": accuracy[chosen], "vote": score(voted)}

    def summary(rows: list[dict]) -> dict:
        out = {"groups": len(rows)}
        for rule in ("medoid", "vote"):
            values = [r[rule] for r in rows]
            out[rule] = {"worst": min(values), "median": statistics.median(values),
                         f"below_{target}": sum(v < target for v in values)}
        return out

    every = [combine(s) for s in itertools.combinations(range(n), group)]
    disjoint = [combine(tuple(range(i, i + group))) for i in range(0, n - group + 1, group)]
    return {"runs": runs, "accuracy": accuracy, f"starts_below_{target}": sum(a < target for a in accuracy),
            "agreement": agreement.round(4).tolist(), "group": group,
            "every_subset": summary(every), "disjoint_groups": disjoint, "disjoint_summary": summary(disjoint)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    counted = argparse.ArgumentParser(add_help=False)  # the summaries' threshold, for subsets and starts
    counted.add_argument("--target", type=float, default=0.98, help="the accuracy the summaries count runs against")
    s = sub.add_parser("subsets", parents=[counted])
    s.add_argument("agreement_json")
    s.add_argument("--sizes", default="3,4,5")
    e = sub.add_parser("early")
    e.add_argument("runs", nargs="+")
    e.add_argument("--dataset", default="mnist")
    e.add_argument("--data-dir")
    e.add_argument("--weights", choices=("average", "live"), default="live")
    g = sub.add_parser("starts", parents=[counted])
    g.add_argument("runs", nargs="+")
    g.add_argument("--dataset", default="mnist")
    g.add_argument("--data-dir")
    g.add_argument("--group", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.what == "subsets":
        print(json.dumps(subsets(args.agreement_json, [int(k) for k in args.sizes.split(",")], args.target), indent=1))
    elif args.what == "starts":
        print(json.dumps(starts(args.runs, args.dataset, args.data_dir, args.group, args.target), indent=1))
    else:
        try:
            early(args.runs, args.dataset, args.data_dir, args.weights)
        except CheckpointError as e:  # a run without the weights asked for (--weights average, no --ema)
            raise SystemExit(f"agreement_picks: {e}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
