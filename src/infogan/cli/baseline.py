"""`infogan baseline --preset mnist`: Q's network trained *with* labels, for comparison.

The classifier is exactly the path Q's categorical prediction takes: D's shared trunk and
Q's head (FC128-BN-lReLU-FC k), or for the capsule D (`--preset mnist-caps`) its trunk,
primary capsules and k routed class capsules whose lengths are the class scores, trained by
cross-entropy on the training labels with D's optimiser settings. Its test accuracy is what
the same encoder reaches with supervision.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .. import data
from ..config import resolve
from ..model import to_model_range
from ..nets import build, init_weights

ENCODERS = {"mnist": "D trunk + Q head", "dcgan": "D trunk + Q head",
            "caps": "capsule D (trunk, primary capsules, routed class capsules' lengths)"}


def add_parser(sub) -> None:
    p = sub.add_parser("baseline", help="train the same encoder with labels (supervised baseline)")
    p.add_argument("--preset", default="mnist")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=float, help="width multiplier of the networks (default: the preset's)")
    p.add_argument("--data-dir")
    p.add_argument("--out", help="write the result JSON here too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def train_baseline(cfg, images, labels, epochs: int, progress: bool = True):
    """D's trunk + Q's head, trained with labels at D's optimiser settings."""
    from ..metrics.quality import fit_supervised

    torch.manual_seed(cfg.seed)
    _, net = build(cfg.arch, 1, int(labels.max()) + 1, images.shape[1], images.shape[2], cfg.width)
    init_weights(net)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    return fit_supervised(net, images, labels, opt, epochs, cfg.batch_size, cfg.seed, progress, "baseline")


@torch.no_grad()
def accuracy(net, images, labels) -> float:
    correct = 0
    for i in range(0, len(images), 1000):
        correct += (net(to_model_range(images[i : i + 1000]))[1].argmax(1) == labels[i : i + 1000]).sum().item()
    return correct / len(images)


def run(args) -> int:
    cfg = resolve(args.preset, {"batch_size": args.batch_size, "seed": args.seed, "data_dir": args.data_dir,
                                "width": args.width})
    x, y = data.load(cfg.dataset, "train", cfg.data_dir)
    xt, yt = data.load(cfg.dataset, "test", cfg.data_dir)
    net = train_baseline(cfg, x, y, args.epochs, progress=not args.json)
    result = {"dataset": cfg.dataset, "preset": args.preset, "epochs": args.epochs, "seed": args.seed,
              "encoder": ENCODERS[cfg.arch], "test_accuracy": accuracy(net, xt, yt)}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else
          f"supervised baseline ({result['encoder']}, {args.epochs} epochs): test accuracy {result['test_accuracy']:.4f}")
    return 0
