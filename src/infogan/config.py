"""Training options: one typed dataclass with the paper's defaults, and presets as overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import InfoGANError


@dataclass
class TrainConfig:
    preset: str = "mnist"
    dataset: str = "mnist"
    latent: str = "z62,cat10,cont2"  # see latent.py for the syntax
    arch: str = "mnist"
    width: float = 1.0  # channel/unit multiplier of the paper's networks (tests use 1/8)
    # length: max_steps wins when given; otherwise epochs over the training set
    epochs: int = 5
    max_steps: int | None = None
    batch_size: int = 64
    # the paper's optimiser settings (InfoGAN appendix C)
    lr_d: float = 2e-4  # D, its trunk and Q (Q shares D's optimiser, as in the official code)
    lr_g: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_cat: float = 1.0  # default lambda for categorical codes without an @lambda in --latent
    lambda_cont: float = 0.1  # ... and for continuous ones
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int | None = None  # CPU threads; default: torch's choice (one per core)
    adam: str = "fused"  # fused | foreach | loop: the same Adam update, different kernels
    # bookkeeping
    outdir: str = "runs"
    data_dir: str | None = None
    log_every: int = 50  # steps between loss logs (the only host syncs in the loop)
    ckpt_every: int = 1000  # steps between checkpoints (rounded to a multiple of log_every)
    keep_ckpts: int = 3
    sample_every: int | None = None  # steps between sample grids; default: once per epoch
    evaluate: bool = True  # measure the categorical codes on the test set at the end

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# Each preset overrides TrainConfig's defaults; command-line flags override the preset.
PRESETS: dict[str, dict] = {
    "mnist": dict(dataset="mnist", latent="z62,cat10,cont2", epochs=5),
    "mnist-paper": dict(dataset="mnist", latent="z62:uniform,cat10,cont2:fixed", batch_size=128, epochs=12),
    "fashion-mnist": dict(dataset="fashion-mnist", latent="z62,cat10,cont2", epochs=5),
    "tiny": dict(dataset="mnist", latent="z8,cat10,cont2", width=0.125, epochs=1, log_every=2,
                 ckpt_every=4, batch_size=16),
}

PRESET_HELP = {
    "mnist": "the default: paper MNIST networks and codes (z62 + Cat(10) + 2 x U(-1,1), learned std)",
    "mnist-paper": "as the official code: uniform noise, fixed-std continuous codes, batch 128, ~5k steps",
    "fashion-mnist": "the MNIST networks and codes on Fashion-MNIST",
    "tiny": "1/8-width networks for tests and smoke runs",
}


def resolve(preset: str, overrides: dict | None = None) -> TrainConfig:
    if preset not in PRESETS:
        raise InfoGANError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    values = {**PRESETS[preset], "preset": preset}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    cfg = TrainConfig(**values)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    checks = [
        (cfg.batch_size >= 2, "--batch-size must be >= 2 (batch norm needs two samples)"),
        (cfg.epochs >= 1, "--epochs must be >= 1"),
        (cfg.max_steps is None or cfg.max_steps >= 1, "--max-steps must be >= 1"),
        (cfg.lr_d > 0 and cfg.lr_g > 0, "learning rates must be > 0"),
        (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1, "Adam betas must be in [0, 1)"),
        (cfg.lambda_cat >= 0 and cfg.lambda_cont >= 0, "lambdas must be >= 0"),
        (cfg.width > 0, "--width must be > 0"),
        (cfg.log_every >= 1 and cfg.ckpt_every >= 1 and cfg.keep_ckpts >= 1, "intervals must be >= 1"),
        (cfg.adam in ("fused", "foreach", "loop"), f"--adam must be fused, foreach or loop, not {cfg.adam!r}"),
        (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:"), f"unknown device {cfg.device!r}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise InfoGANError(msg)

