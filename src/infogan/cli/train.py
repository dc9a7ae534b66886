"""`infogan train`: train a preset, writing a numbered run folder; `--resume` continues one."""

from __future__ import annotations

import json

from ..config import PRESETS
from ._common import add_options, given_options


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train an InfoGAN", description="Train an InfoGAN; flags override the preset.")
    p.add_argument("--preset", help=f"one of: {', '.join(PRESETS)} (default: mnist; with --resume, the run's)")
    p.add_argument("--resume", metavar="latest|DIR", help="continue the newest run in --outdir, or a run/checkpoint folder")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-eval", dest="evaluate", action="store_const", const=False,
                   help="skip the test-set evaluation at the end")
    add_options(p, skip=("preset", "evaluate"))
    p.set_defaults(run=run, evaluate=None)


def run(args) -> int:
    from ..trainer import prepare, train

    overrides = given_options(args)
    if args.dry_run:
        cfg, _, _ = prepare(args.preset, args.resume, **overrides)
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    train(args.preset, resume=args.resume, progress=not args.no_progress, **overrides)
    return 0
