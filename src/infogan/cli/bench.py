"""`infogan bench`: images/s of the real training step against the textbook loop, same run.

The benchmark itself is speed tooling beside the library (benchmarks/bench.py, installed as
infogan_benchmarks); this is its command line.
"""

from __future__ import annotations

import json

from ..errors import InfoGANError
from ._common import add_options, given_options


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time the training step against the textbook loop")
    p.add_argument("--preset", default="mnist", help="whose training step to time (default mnist)")
    p.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    p.add_argument("--steps", type=int, default=20, help="steps per timed repeat (default 20)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats, the loops taking turns (default 5)")
    p.add_argument("--scaling", default="32,64,128,256,512", help="batch sizes for the scaling table ('' to skip)")
    p.add_argument("--no-reference", action="store_true", help="skip the textbook loop")
    p.add_argument("--compare", metavar="PRESET", help="also time this preset's step, in the same turns "
                                                       "(e.g. --preset mnist-caps --compare mnist)")
    p.add_argument("--peak-size", type=int, default=2048, help="matrix size for the matmul peak (default 2048)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_options(p, "speed", skip=("device",))
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="default cpu")
    p.add_argument("--invariance", type=float, help="override the preset's invariance weight")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        from infogan_benchmarks.bench import bench, format_result
    except ImportError:
        raise InfoGANError("infogan bench needs the speed tooling (benchmarks/, installed with infogan as the "
                           "package infogan_benchmarks): install infogan with pip, e.g. pip install -e .") from None

    try:
        scaling = tuple(int(x) for x in args.scaling.split(",") if x.strip())
    except ValueError:
        raise InfoGANError(f"bad --scaling {args.scaling!r} (expected batch sizes, e.g. 32,64,128)") from None
    options = given_options(args, "speed")
    options.pop("device", None)
    result = bench(args.preset, batch_size=args.batch_size, steps=args.steps, repeats=args.repeats,
                   device=args.device, scaling=scaling,
                   reference=not args.no_reference, peak_size=args.peak_size, invariance=args.invariance,
                   compare=args.compare,
                   **options)
    print(json.dumps(result) if args.json else format_result(result))
    return 0
