"""`infogan export MODEL [--part generator|encoder] --out FILE.onnx|FILE.pt [--format onnx|torchscript]` (export.py)."""

from __future__ import annotations

from ..export import FORMATS, PARTS
from ._common import MODEL_HELP, load_model


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export G (codes in, images out) or Q (images in, codes out) to ONNX or TorchScript")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--part", default="generator", choices=PARTS,
                   help="generator: z and codes -> images; encoder: images in [0, 1] -> each code's class "
                        "probabilities or mean (default: generator)")
    p.add_argument("--format", choices=FORMATS,
                   help="default: as --out's suffix says (.onnx; .pt, .pth or .ts for torchscript), else onnx "
                        "(one self-contained file)")
    p.add_argument("--out", required=True, help="the file to write, e.g. generator.onnx or encoder.pt")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..export import export

    print(export(load_model(args.model), args.format, args.out, args.part))
    return 0
