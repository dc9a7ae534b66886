"""`infogan export MODEL --format onnx|torchscript --out FILE`: G alone, codes as named inputs (export.py)."""

from __future__ import annotations

from ..export import FORMATS
from ._common import load_model


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export G to ONNX or TorchScript")
    p.add_argument("model", help="a run folder or a model folder")
    p.add_argument("--format", default="onnx", choices=FORMATS)
    p.add_argument("--out", required=True)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..export import export

    print(export(load_model(args.model), args.format, args.out))
    return 0
