"""`infogan data fetch NAME` / `infogan data list`."""

from __future__ import annotations

from pathlib import Path

from .. import data


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="fetch and list datasets")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download (or find) a dataset into the cache and verify it")
    f.add_argument("name", help=f"one of: {', '.join(data.DATASETS)}")
    f.add_argument("--data-dir", help="look here first")
    f.set_defaults(run=fetch)
    ls = dsub.add_parser("list", help="list datasets and whether they are cached")
    ls.set_defaults(run=list_)
    m = dsub.add_parser("make", help="draw the procedural stand-in for dSprites (sprites) into the cache or --out")
    m.add_argument("name", choices=["sprites"], help="the dataset to draw (sprites)")
    m.add_argument("--grid", default="3,6,40,32,32",
                   help="values per factor: shapes, scales, orientations, x, y (default: dSprites' 3,6,40,32,32)")
    m.add_argument("--out", help="a folder to write it to (then train with --data-dir there)")
    m.set_defaults(run=make)


def fetch(args) -> int:
    data.check_data_dir(args.data_dir)
    for line in data.get(args.name).fetch(args.data_dir):
        print(line)
    return 0


def list_(args) -> int:
    print(f"cache: {data.cache_root()}")
    status = {name: ds.status() for name, ds in data.DATASETS.items()}
    width = max(map(len, status.values()))
    for name, ds in data.DATASETS.items():
        print(f"{name:<15} {status[name]:<{width}}  {ds.help}")
    return 0


def make(args) -> int:
    from ..data.dsprites import STAND_IN, make_sprites
    from ..errors import InfoGANError

    try:
        grid = tuple(int(v) for v in args.grid.split(","))
    except ValueError:
        grid = ()
    if len(grid) != 5 or min(grid) < 1 or grid[0] > 3:
        raise InfoGANError(f"--grid {args.grid}: five counts (shapes <= 3, scales, orientations, x, y), e.g. 3,6,40,32,32")
    folder = Path(args.out) if args.out else data.cache_root() / data.SPRITES.name
    path = make_sprites(folder / STAND_IN, grid)
    print(f"sprites: {path} (a procedural stand-in for dSprites; train with --dataset sprites"
          + (f" --data-dir {folder})" if args.out else ")"))
    return 0
