"""`infogan serve MODEL [--host 127.0.0.1] [--port 7860]`: the latent explorer in a browser."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="explore a model's codes in a web page")
    p.add_argument("model", help="a run folder or a model folder")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(run=run)


def run(args) -> int:
    import torch
    import uvicorn

    from ..web import create_app
    from ._common import load_model

    torch.set_num_threads(1)  # one small image per request: threads cost more than they save
    app = create_app(load_model(args.model))
    print(f"infogan: explorer at http://{args.host}:{args.port}/")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
