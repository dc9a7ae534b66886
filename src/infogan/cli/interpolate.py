"""`infogan interpolate MODEL --seeds A,B [--steps 10] --out FILE.png`: walk the latent space."""

from __future__ import annotations

from .. import viz
from ..errors import SpecError
from ..latent import parse_seeds
from ._common import MODEL_HELP, image_file, load_model, parse_codes


def add_parser(sub) -> None:
    p = sub.add_parser("interpolate", help="walk the latent space between two seeds")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--seeds", default="0,1", help="two seeds A,B (default 0,1)")
    p.add_argument("--steps", type=int, default=10, help="images along the walk, 2..200 (default 10)")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a code at a value")
    p.add_argument("--out", default="interpolation.png", help="the image file to write (default interpolation.png)")
    p.set_defaults(run=run)


def run(args) -> int:
    seeds = parse_seeds(args.seeds)
    if len(seeds) != 2 or not 2 <= args.steps <= 200:
        raise SpecError("interpolate takes --seeds A,B and --steps 2..200")
    image_file(args.out)
    model = load_model(args.model)
    images = viz.interpolation(model, tuple(seeds), args.steps, parse_codes(model, args.fix))
    print(viz.save_grid(images, args.out, args.steps))
    return 0
