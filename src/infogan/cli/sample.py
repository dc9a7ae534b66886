"""`infogan sample MODEL --n 64 [--code c1=3] --out FILE.png`: a grid of samples."""

from __future__ import annotations

import math

from .. import viz
from ._common import MODEL_HELP, image_file, load_model, parse_codes

MAX_SAMPLES = 10000


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="write a grid of generated images")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--n", type=int, default=64, help="how many images (default 64)")
    # (--fix as well: the name traverse and interpolate give it)
    p.add_argument("--code", "--fix", dest="code", action="append", metavar="NAME=VALUE",
                   help="fix a code, e.g. c1=3 or c2=0.5 (repeatable; --fix is the same)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and the free codes (default 0)")
    p.add_argument("--nrow", type=int, help="images per row (default: square)")
    p.add_argument("--out", default="samples.png", help="the image file to write (default samples.png)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..errors import SpecError
    from ..latent import MAX_SEED

    if not 1 <= args.n <= MAX_SAMPLES:
        raise SpecError(f"--n must be 1..{MAX_SAMPLES}")
    if args.nrow is not None and args.nrow < 1:
        raise SpecError("--nrow must be >= 1")
    if not 0 <= args.seed <= MAX_SEED:
        raise SpecError(f"--seed must be in 0..{MAX_SEED}")
    image_file(args.out)
    model = load_model(args.model)
    images = model.generate(args.n, codes=parse_codes(model, args.code, flag="--code"), seed=args.seed)
    nrow = args.nrow if args.nrow is not None else math.ceil(math.sqrt(args.n))
    print(viz.save_grid(images, args.out, nrow))
    return 0
