"""`infogan data fetch NAME` / `infogan data list`."""

from __future__ import annotations

from .. import data


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="fetch and list datasets")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download (or find) a dataset into the cache and verify it")
    f.add_argument("name", help=f"one of: {', '.join([*data.DATASETS, *data.IMAGE_DATASETS])}")
    f.add_argument("--data-dir", help="look here first")
    f.set_defaults(run=fetch)
    ls = dsub.add_parser("list", help="list datasets and whether they are cached")
    ls.set_defaults(run=list_)


def fetch(args) -> int:
    ds = data.get(args.name)
    if isinstance(ds, data.ImageDataset):
        for split in ds.splits:
            images, labels = data.load(args.name, split, args.data_dir)
            print(f"{args.name}/{split}: {len(images)} images {tuple(images.shape[1:])}")
        return 0
    data.fetch(ds, args.data_dir)
    for split in ds.splits:
        images, labels = data.load(args.name, split, args.data_dir, allow_download=False)
        print(f"{args.name}/{split}: {len(images)} images {tuple(images.shape[1:])}, {int(labels.max()) + 1} classes")
    print(f"cached in {data.cache_root() / args.name}")
    return 0


def list_(args) -> int:
    root = data.cache_root()
    print(f"cache: {root}")
    for name, ds in data.DATASETS.items():
        have = sum((root / name / f).is_file() for f in ds.files)
        state = "cached" if have == len(ds.files) else f"{have}/{len(ds.files)} files cached"
        print(f"{name:<15} {state}")
    for name in data.IMAGE_DATASETS:
        have = (root / name).is_dir() and any((root / name).iterdir())
        note = {"celeba": "manual download, see --data-dir", "folder": "your images, via --data-dir"}.get(name)
        print(f"{name:<15} {note or ('cached' if have else 'not cached')}")
    return 0
