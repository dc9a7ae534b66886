"""`infogan baseline --preset mnist`: Q's network trained *with* labels, for comparison (baseline.py)."""

from __future__ import annotations

import json

from ._common import results_file, write_results


def add_parser(sub) -> None:
    p = sub.add_parser("baseline", help="train the same encoder with labels (supervised baseline)")
    p.add_argument("--preset", default="mnist", help="whose encoder Q and dataset (default mnist)")
    p.add_argument("--dataset", help="train and test on this dataset (`infogan data list`; default: the preset's), "
                                     "as sweep --dataset does")
    p.add_argument("--epochs", type=int, default=2, help="epochs of supervised training (default 2)")
    p.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--width", type=float, help="width multiplier of the networks (default: the preset's)")
    p.add_argument("--q-sharpness", type=float, help="capsule Q only: T, its logits' factor (default: the network's)")
    p.add_argument("--data-dir", help="look for the dataset's files here first")
    p.add_argument("--out", help="write the result JSON here too")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..baseline import baseline

    out = results_file(args.out, (".json",)) if args.out else None
    result = baseline(args.preset, epochs=args.epochs, progress=not args.json, batch_size=args.batch_size,
                      seed=args.seed, width=args.width, q_sharpness=args.q_sharpness,
                      data_dir=args.data_dir, dataset=args.dataset)
    if out:
        write_results(out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else
          f"supervised baseline ({result['encoder']}, {args.epochs} epochs): test accuracy {result['test_accuracy']:.4f}")
    return 0
