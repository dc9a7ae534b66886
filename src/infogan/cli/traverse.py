"""`infogan traverse MODEL [--code NAME] [--range -2:2:9] [--seeds 0-9] --out DIR [--gif]`
and `infogan interpolate MODEL --seeds A,B`: the paper's Figure 2 pictures, and walks."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import viz
from ._common import load_model, parse_codes, parse_range, parse_seeds


def add_parser(sub) -> None:
    p = sub.add_parser("traverse", help="vary one code at a time with the rest fixed (paper Fig. 2)")
    p.add_argument("model", help="a run folder or a model folder")
    p.add_argument("--code", help="the code to vary (default: every code)")
    p.add_argument("--range", default="-2:2:9", help="continuous values START:STOP:COUNT; write --range=-3:3:7 when START is negative (default -2:2:9)")
    p.add_argument("--seeds", default="0-9", help="one row (or column) of fixed noise per seed (default 0-9)")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold another code at a value")
    p.add_argument("--out", default="traversals", help="output folder")
    p.add_argument("--gif", action="store_true", help="also write a GIF sweeping each code")
    p.set_defaults(run=run)
    q = sub.add_parser("interpolate", help="walk the latent space between two seeds")
    q.add_argument("model")
    q.add_argument("--seeds", default="0,1", help="two seeds A,B (default 0,1)")
    q.add_argument("--steps", type=int, default=10)
    q.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a code at a value")
    q.add_argument("--out", default="interpolation.png")
    q.set_defaults(run=run_interpolate)


def traverse_code(model, name: str, seeds: list[int], values: torch.Tensor, fixed: dict):
    """(images, nrow): a categorical code gets one row per class and one column per seed
    (the paper's Fig. 2a); a continuous one gets one row per seed and one column per value."""
    z = viz.noise_for_seeds(model.spec, seeds)
    if model.spec.code(name).kind == "cat":
        return viz.category_grid(model, name, z=z, fixed=fixed)
    return viz.continuous_traversal(model, name, values, z=z, fixed=fixed)


def run(args) -> int:
    model = load_model(args.model)
    seeds = parse_seeds(args.seeds)
    start, stop, count = parse_range(args.range)
    values = torch.linspace(start, stop, count)
    fixed = parse_codes(model, args.fix)
    names = [model.spec.code(args.code).name] if args.code else [c.name for c in model.spec.codes]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        images, nrow = traverse_code(model, name, seeds, values, fixed)
        print(viz.save_grid(images, out / f"traverse-{name}.png", nrow))
        if args.gif:
            # a GIF frame per step of the sweep: every row's image at that step
            rows = len(images) // nrow
            steps, stride = (rows, 1) if model.spec.code(name).kind == "cat" else (nrow, None)
            frames = []
            for j in range(steps):
                pick = images[j * nrow : (j + 1) * nrow] if stride else images[j::nrow]
                frame = out / f".frame-{name}-{j:03d}.png"
                viz.save_grid(pick, frame, min(len(pick), 10), scale=3)
                frames.append(frame)
            print(viz.save_gif(frames + frames[-2:0:-1], out / f"traverse-{name}.gif", 150))
            for f in frames:
                f.unlink()
    return 0


def run_interpolate(args) -> int:
    from ..errors import SpecError

    model = load_model(args.model)
    seeds = parse_seeds(args.seeds)
    if len(seeds) != 2 or not 2 <= args.steps <= 200:
        raise SpecError("interpolate takes --seeds A,B and --steps 2..200")
    spec = model.spec
    ends = [spec.sample(1, generator=torch.Generator().manual_seed(s)) for s in seeds]
    t = torch.linspace(0, 1, args.steps).unsqueeze(1)  # (steps, 1)
    z = (1 - t) * ends[0][0] + t * ends[1][0]
    codes = {}
    for c in spec.codes:
        a, b = ends[0][1][c.name].float(), ends[1][1][c.name].float()
        # categorical codes switch half way; continuous ones move linearly
        codes[c.name] = torch.where(t[:, 0] < 0.5, a, b).long() if c.kind == "cat" else (1 - t[:, 0]) * a + t[:, 0] * b
    codes.update(parse_codes(model, args.fix))
    print(viz.save_grid(model.generate(args.steps, codes=codes, z=z), args.out, args.steps))
    return 0
