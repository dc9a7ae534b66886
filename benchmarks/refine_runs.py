"""--refine-groups or --neighbour-steps applied to finished runs: each run's test accuracy before and after.

    python benchmarks/refine_runs.py RUN [RUN ...] [--groups 50] [--margin 0.2] [--data-dir DIR] [--threads 1]
    python benchmarks/refine_runs.py RUN [RUN ...] --stage neighbours [--steps 3000] [--entropy 2]

Relabelling by the drawings (refine.py) is a stage after the last training step, on the saved
model's weights, so running it on a run trained without it gives what that run would have
ended with under --refine-groups (for the same thread count): a study of the option needs no
new training. Prints one JSON line per run: the categorical code's test accuracy (the
evaluation's Hungarian matching) before and after, the moved groups (size, Q's class and the
drawings' class, the matched digits of each, so a reader sees "7s out of the 2s"), and the
seconds it took. The labels score; they choose nothing.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from infogan import data
from infogan.metrics.clustering import cluster_scores
from infogan.neighbours import NeighbourStage, neighbour_stage
from infogan.refine import Refinement, refine
from infogan.run import model_and_run


def accuracy(model, images, labels) -> tuple[float, dict[int, int], list[float]]:
    """(test accuracy, the matching category -> class, each class's share in its matched category)."""
    code = model.spec.categorical[0]
    pred = model.infer_codes(images)[code.name].numpy()
    s = cluster_scores(pred, labels, code.size)
    match = {int(c): int(t) for c, t in s["match"].items()}
    matched = np.array([match.get(int(c), -1) for c in pred]) == labels
    recall = [round(float(matched[labels == k].mean()), 4) for k in range(int(labels.max()) + 1)]
    return s["accuracy"], match, recall


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--stage", choices=("refine", "neighbours"), default="refine")
    ap.add_argument("--steps", type=int, default=NeighbourStage.steps, help="the neighbour stage's steps")
    ap.add_argument("--entropy", type=float, default=NeighbourStage.entropy, help="the neighbour stage's entropy weight")
    ap.add_argument("--groups", type=int, default=Refinement.groups)
    ap.add_argument("--margin", type=float, default=Refinement.margin)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = {}
    for path in args.runs:
        model, run = model_and_run(path)
        cfg = run.read_config() if run is not None else {}
        dataset, seed = model.config["dataset"], cfg.get("seed", 0)
        if dataset not in loaded:
            loaded[dataset] = (data.load(dataset, "train", args.data_dir), data.load(dataset, "test", args.data_dir))
        (train_x, _), (test_x, test_y) = loaded[dataset]
        labels = test_y.numpy()
        before, match, recall_before = accuracy(model, test_x, labels)
        t0 = time.perf_counter()
        if args.stage == "neighbours":
            report = neighbour_stage(model, train_x, NeighbourStage(steps=args.steps, entropy=args.entropy), seed=seed)
            seconds = time.perf_counter() - t0
            after, _, recall_after = accuracy(model, test_x, labels)
            print(json.dumps({"run": str(path), "seed": seed, "before": before, "after": after,
                              "change": round(after - before, 4), **report, "class_in_its_category_before":
                              recall_before, "class_in_its_category_after": recall_after,
                              "seconds": round(seconds, 1), "threads": args.threads}), flush=True)
            continue
        report = refine(model, train_x, Refinement(groups=args.groups, margin=args.margin), seed=seed)
        seconds = time.perf_counter() - t0
        after, _, _ = accuracy(model, test_x, labels)
        moved = [{**{k: m[k] for k in ("images", "from", "to", "vote_from", "vote_to")},
                  "digits": f"{match.get(m['from'])} -> {match.get(m['to'])}"} for m in report["moved_groups"]]
        print(json.dumps({"run": str(path), "seed": seed, "before": before, "after": after,
                          "change": round(after - before, 4), "moved_images": report["moved_images"],
                          "moved_groups": moved, "moved_now_read_as_target": report["moved_now_read_as_target"],
                          "others_unchanged": report["others_unchanged"], "seconds": round(seconds, 1),
                          "groups": args.groups, "margin": args.margin, "threads": args.threads}), flush=True)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
