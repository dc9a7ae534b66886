"""`infogan presets`: the named configurations with their latent specs."""

from __future__ import annotations

from ..config import PRESET_HELP, PRESETS, resolve
from ..latent import LatentSpec


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="list the presets and their latent specs")
    p.set_defaults(run=run)


def run(args) -> int:
    print(f"{'preset':<14} {'dataset':<14} {'image':<10} {'arch':<6} latent spec (lambda: cat 1, cont 0.1)")
    for name in PRESETS:
        cfg = resolve(name)
        spec = LatentSpec.parse(cfg.latent, cfg.lambda_cat, cfg.lambda_cont)  # presets must parse
        image = f"{cfg.image_size}x{cfg.image_size}x{cfg.channels}"
        print(f"{name:<14} {cfg.dataset:<14} {image:<10} {cfg.arch:<6} {cfg.latent}  ({spec.dim} dims)")
        print(f"{'':<14} {PRESET_HELP.get(name, '')}")
    return 0
