"""`infogan presets`: the named configurations with their latent specs."""

from __future__ import annotations

from ..config import PRESET_HELP, PRESETS, resolve
from ..latent import LatentSpec


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="list the presets and their latent specs")
    p.set_defaults(run=run)


def run(args) -> int:
    print(f"{'preset':<15} {'dataset':<14} {'latent':<34} description")
    for name in PRESETS:
        cfg = resolve(name)
        spec = LatentSpec.parse(cfg.latent, cfg.lambda_cat, cfg.lambda_cont)
        print(f"{name:<15} {cfg.dataset:<14} {str(spec):<34} {PRESET_HELP.get(name, '')}")
    return 0
