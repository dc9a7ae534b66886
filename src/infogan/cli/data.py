"""`infogan data fetch NAME` / `infogan data list`."""

from __future__ import annotations

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


def fetch(args) -> int:
    for line in data.get(args.name).fetch(args.data_dir):
        print(line)
    return 0


def list_(args) -> int:
    print(f"cache: {data.cache_root()}")
    for name, ds in data.DATASETS.items():
        print(f"{name:<15} {ds.status():<32} {ds.help}")
    return 0
