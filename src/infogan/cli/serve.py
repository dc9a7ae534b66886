"""`infogan serve MODEL [--host 127.0.0.1] [--port 7860]`: the latent explorer in a browser."""

from __future__ import annotations

import socket

from ..errors import InfoGANError
from ._common import MODEL_HELP


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="explore a model's codes in a web page")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    p.set_defaults(run=run)


def run(args) -> int:
    if not 0 <= args.port <= 65535:
        raise InfoGANError(f"--port {args.port}: a port is a number from 0 to 65535")
    import torch
    import uvicorn

    from ..infer import label_names
    from ..run import model_and_run
    from ..web import create_app

    torch.set_num_threads(1)  # one small image per request: threads cost more than they save
    model, run = model_and_run(args.model)
    labels, notes = label_names(model, run)
    for note in notes:
        print(f"infogan: {note}")
    app = create_app(model, labels)
    sock = listen(args.host, args.port)  # bound here, so a taken port is a one-line error
    print(f"infogan: explorer at http://{args.host}:{sock.getsockname()[1]}/")
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


def listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        raise InfoGANError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock
