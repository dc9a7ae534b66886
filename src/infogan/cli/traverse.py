"""`infogan traverse MODEL [--code NAME] [--range -2:2:9] [--seeds 0-9] --out DIR [--gif]`:
the paper's Figure 2 pictures, one per code in DIR (with --code, --out may name the picture itself)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import viz
from ..errors import SpecError
from ..latent import parse_seeds
from ._common import MODEL_HELP, image_file, load_model, parse_codes, parse_range

DEFAULT_RANGE = "-2:2:9"


def add_parser(sub) -> None:
    p = sub.add_parser("traverse", help="vary one code at a time with the rest fixed (paper Fig. 2)")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--code", help="the code to vary (default: every code)")
    p.add_argument("--range", help="continuous values START:STOP:COUNT; write --range=-3:3:7 when START is negative (default -2:2:9)")
    p.add_argument("--seeds", default="0-9", help="one row (or column) of fixed noise per seed (default 0-9)")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold another code at a value")
    p.add_argument("--out", default="traversals",
                   help="output folder (default traversals); with --code, an image file name such as c2.png also works")
    p.add_argument("--gif", action="store_true", help="also write a GIF sweeping each code")
    p.set_defaults(run=run)


def run(args) -> int:
    model = load_model(args.model)
    seeds = parse_seeds(args.seeds)
    values = torch.linspace(*parse_range(args.range or DEFAULT_RANGE))
    fixed = parse_codes(model, args.fix)
    names = [model.spec.code(args.code).name] if args.code else [c.name for c in model.spec.codes]
    if args.range and args.code and model.spec.code(args.code).kind == "cat":
        raise SpecError(f"--range sets a continuous code's values; {names[0]} is categorical and its picture "
                        "shows every class: leave --range out")
    if args.code and names[0] in fixed:  # (without --code, each code's own picture varies it and holds the rest)
        raise SpecError(f"--code {names[0]} varies the code that --fix holds: fix another one")
    pictures = picture_paths(Path(args.out), names, args.gif)
    for name in names:
        images, nrow = viz.traverse_code(model, name, seeds, values, fixed)
        print(viz.save_grid(images, pictures[name], nrow))
        if args.gif:
            categorical = model.spec.code(name).kind == "cat"
            print(viz.traversal_gif(images, nrow, categorical, pictures[name].with_suffix(".gif")))
    return 0


def picture_paths(out: Path, names: list[str], gif: bool) -> dict[str, Path]:
    """Where each code's grid goes: traverse-NAME.png in the folder `out`, or `out` itself where it
    is an image file's name and one code is drawn (such a name had become a folder called c2.png)."""
    try:
        picture = Path(image_file(str(out)))
    except SpecError:  # not an image file's name: a folder
        out.mkdir(parents=True, exist_ok=True)
        return {name: out / f"traverse-{name}.png" for name in names}
    if len(names) > 1:
        raise SpecError(f"--out {out} names one picture, and traverse draws one per code ({', '.join(names)}): "
                        "give a folder, or --code to draw one")
    if gif and picture.suffix.lower() == ".gif":
        raise SpecError(f"--out {out} and --gif would both write {out}: name the grid .png")
    return {names[0]: picture}
