"""`infogan evaluate RUN_OR_MODEL_DIR`: what the codes learned, on real held-out images."""

from __future__ import annotations

import json

from ..metrics import METRICS
from ._common import MODEL_HELP, add_threads, use_threads


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="measure a trained model on held-out images")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--split", choices=["test", "train"], help="default: test where the dataset has one, else train")
    p.add_argument("--data-dir", help="look for the dataset's files here first")
    p.add_argument("--metrics", help="comma-separated, from: " + "; ".join(f"{m.name}: {m.help}" for m in METRICS.values())
                   + " (default: all that apply)")
    p.add_argument("--samples", type=int, default=10000,
                   help="generated samples for the metrics that generate (2 to 1,000,000; default 10000)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--no-quality", dest="quality", action="store_false",
                   help="skip the quality metric (saves training its feature classifier once)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (it is drawn only where stderr is a terminal)")
    add_threads(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..metrics import evaluate, format_report
    from ..metrics.report import metric_names

    names = metric_names(args.metrics)  # (None: every metric that applies)
    for name in names or ():
        METRICS.lookup(name)  # an unknown name is a one-line error before any work
    skip = () if args.quality else ("quality",)
    use_threads(args)
    result = evaluate(args.model, metrics=names, skip=skip, split=args.split, data_dir=args.data_dir,
                      n_samples=args.samples, progress=args.progress)
    print(json.dumps(result) if args.json else format_report(result))
    return 0
