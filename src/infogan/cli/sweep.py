"""`infogan sweep --preset mnist --seeds 0-4 [--jobs N] [training flags]`: train and evaluate
several seeds and tabulate them (study.py)."""

from __future__ import annotations

from pathlib import Path

from ._common import add_options, given_options


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="train + evaluate several seeds and tabulate mean/std/min/max",
                       description="Train and evaluate several seeds; training flags apply to every seed.")
    p.add_argument("--preset", default="mnist", help="the preset every seed trains (default mnist)")
    p.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 1,5,7 (default 0-4)")
    p.add_argument("--jobs", type=int, default=1, help="seeds trained at once, each in its own process (default 1)")
    # (--outdir too: train's name for where runs go, which a user carries over)
    p.add_argument("--out", "--outdir", default="sweeps", help="folder for the runs and the table (default sweeps)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--select", choices=["centrality", "consistency", "agreement"],
                   help="pick one seed's model without labels: centrality = ModelCentrality (InfoGAN-CR), the "
                        "medoid of the models' agreement on each other's generated codes; consistency = the run "
                        "whose Q agreed most with itself on real training images at the end (its own log); "
                        "agreement = the medoid of the models' categorical classes of 10,000 real training "
                        "images (normalised mutual information between each pair)")
    add_options(p, skip=("preset", "seed", "outdir"))
    p.set_defaults(run=run)


def run(args) -> int:
    from ..study import sweep

    overrides = given_options(args)
    threads = overrides.pop("threads", None)
    sweep(args.preset, args.seeds, out=args.out, jobs=args.jobs, threads=threads, progress=not args.no_progress,
          selection=args.select, **overrides)
    print((Path(args.out) / "sweep.md").read_text())
    return 0
