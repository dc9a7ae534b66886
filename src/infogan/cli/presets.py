"""`infogan presets`: the named configurations with their latent specs, and the network families."""

from __future__ import annotations

from ..config import PRESETS, resolve
from ..latent import LatentSpec
from ..nets import FAMILIES


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="list the presets and their latent specs")
    p.set_defaults(run=run)


def run(args) -> int:
    print(f"{'preset':<14} {'dataset':<14} {'image':<10} {'arch':<6} latent spec (lambda: cat 1, cont 0.1)")
    for name, preset in PRESETS.items():
        cfg = resolve(name)
        spec = LatentSpec.parse(cfg.latent, cfg.lambda_cat, cfg.lambda_cont)  # presets must parse
        image = f"{cfg.image_size}x{cfg.image_size}x{cfg.channels}"
        print(f"{name:<14} {cfg.dataset:<14} {image:<10} {cfg.arch:<6} {cfg.latent}  ({spec.dim} dims)")
        print(f"{'':<14} {preset.help}")
    print("\nnetwork families (--arch):")
    for name, family in FAMILIES.items():
        print(f"  {name:<8} {family.help}")
    return 0
