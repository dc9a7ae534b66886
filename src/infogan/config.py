"""Training options: one typed dataclass with the paper's defaults, and presets as overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import InfoGANError


# the speed options' allowed values (speed.py applies them; bench and train offer them)
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
AMP_MODES = ("off", "bf16")


@dataclass
class TrainConfig:
    preset: str = "mnist"
    dataset: str = "mnist"
    latent: str = "z62,cat10,cont2"  # see latent.py for the syntax
    arch: str = "mnist"  # mnist (28 px) | dcgan (32/64/128 px, the paper's SVHN/CelebA family) | caps (28 px)
    width: float = 1.0  # channel/unit multiplier of the paper's networks (tests use 1/8)
    image_size: int = 28  # celeba/folder images are centre-cropped and resized to this
    channels: int = 1  # folder images: 1 (grayscale) or 3 (colour)
    bad_images: str = "skip"  # folder/celeba: skip unreadable images (named in the log) or stop: error
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
    # weight of the categorical codes' invariance term (augment.py; Elastic-InfoGAN); 0 = the paper
    invariance: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int | None = None  # CPU threads; default: torch's choice (one per core)
    adam: str = "fused"  # fused | foreach | loop: the same Adam update, different kernels
    channels_last: bool = False  # NHWC convolutions (speed.py; defaults chosen by measurement)
    compile: str = "off"  # off | default | reduce-overhead | max-autotune: torch.compile of G and D
    amp: str = "off"  # off | bf16: autocast of the forward passes
    keep_memory: bool = True  # CPU: malloc keeps freed memory for the next step (no page faults)
    tf32: bool = True  # CUDA: float32 matrix products on the tensor cores in TF32
    cuda_graph: bool = True  # CUDA: replay the whole step as one CUDA graph (speed.StepGraph)
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
    "mnist": dict(dataset="mnist", latent="z62,cat10,cont2", epochs=5, invariance=1.0),
    "mnist-paper": dict(dataset="mnist", latent="z62:uniform,cat10,cont2:fixed", batch_size=128, epochs=12),
    "fashion-mnist": dict(dataset="fashion-mnist", latent="z62,cat10,cont2", epochs=5, invariance=1.0),
    "mnist-caps": dict(dataset="mnist", arch="caps", latent="z62,cat10,cont2", epochs=5, invariance=1.0),
    "svhn": dict(dataset="svhn", arch="dcgan", image_size=32, channels=3, latent="z124,cat10,cat10,cat10,cat10,cont4"),
    "celeba": dict(dataset="celeba", arch="dcgan", image_size=32, channels=3, latent="z128,cat10,cat10,cat10,cat10,cat10,cat10,cat10,cat10,cat10,cat10"),
    "celeba-64": dict(dataset="celeba", arch="dcgan", image_size=64, channels=3, latent="z128,cat10,cat10,cat10,cat10,cat10,cat10,cat10,cat10,cat10,cat10"),
    "cifar10": dict(dataset="cifar10", arch="dcgan", image_size=32, channels=3, latent="z128,cat10,cont2"),
    "folder": dict(dataset="folder", arch="dcgan", image_size=64, channels=3, latent=None),
    "chairs": dict(dataset="folder", arch="dcgan", image_size=64, channels=1, latent="z128,cat20,cat20,cat20,cont1"),
    "faces": dict(dataset="folder", arch="dcgan", image_size=32, channels=1, latent="z128,cont5"),
    "tiny": dict(dataset="mnist", latent="z8,cat10,cont2", width=0.125, epochs=1, log_every=2, invariance=1.0,
                 ckpt_every=4, batch_size=16),
}

# folder preset: richer codes for larger images (the paper's CelebA/chairs choices as a guide)
FOLDER_LATENT = {32: "z128,cat10,cont2", 64: "z128,cat10,cat10,cont3", 128: "z128,cat10,cat10,cat10,cont4"}

PRESET_HELP = {
    "mnist": "the default: paper MNIST networks and codes (z62 + Cat(10) + 2 x U(-1,1), learned std) "
             "+ the categorical code's invariance term",
    "mnist-paper": "as the official code: uniform noise, fixed-std continuous codes, batch 128, ~5k steps",
    "fashion-mnist": "the MNIST networks, codes and invariance term on Fashion-MNIST",
    "mnist-caps": "InfoCapsGAN: the MNIST generator, codes and invariance term with a capsule D/Q "
                  "(class capsules by dynamic routing; Q's classes are capsule lengths)",
    "svhn": "paper SVHN: 32x32x3, z124 + 4 x Cat(10) + 4 continuous, G from FC 2x2x448",
    "celeba": "paper CelebA: 32x32x3, z128 + 10 x Cat(10)",
    "celeba-64": "CelebA at 64x64 (one more up/down-sampling stage)",
    "cifar10": "CIFAR-10 32x32x3 with the SVHN networks, z128 + Cat(10) + 2 continuous",
    "folder": "any folder or zip of images (--data-dir); --image-size 32|64|128 picks depth and codes",
    "chairs": "3D-chairs style (folder data): 64x64 gray, z128 + 3 x Cat(20) + 1 continuous",
    "faces": "3D-faces style (folder data): 32x32 gray, z128 + 5 continuous",
    "tiny": "1/8-width networks for tests and smoke runs",
}


def resolve(preset: str, overrides: dict | None = None) -> TrainConfig:
    if preset not in PRESETS:
        raise InfoGANError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    values = {**PRESETS[preset], "preset": preset}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if values.get("latent") is None:  # folder data: codes chosen from the resolution
        values["latent"] = FOLDER_LATENT.get(values.get("image_size", 64), FOLDER_LATENT[64])
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
        (cfg.invariance >= 0, "--invariance must be >= 0"),
        (cfg.width > 0, "--width must be > 0"),
        (cfg.log_every >= 1 and cfg.ckpt_every >= 1 and cfg.keep_ckpts >= 1, "intervals must be >= 1"),
        (cfg.adam in ("fused", "foreach", "loop"), f"--adam must be fused, foreach or loop, not {cfg.adam!r}"),
        (cfg.channels in (1, 3), "--channels must be 1 or 3"),
        (cfg.compile in COMPILE_MODES, f"--compile must be one of {', '.join(COMPILE_MODES)}, not {cfg.compile!r}"),
        (cfg.amp in AMP_MODES, f"--amp must be one of {', '.join(AMP_MODES)}, not {cfg.amp!r}"),
        (cfg.bad_images in ("skip", "error"), "--bad-images must be skip or error"),
        (cfg.arch != "dcgan" or cfg.image_size in (32, 64, 128), "--image-size must be 32, 64 or 128 for this preset"),
        (cfg.arch not in ("mnist", "caps") or cfg.image_size == 28, f"the {cfg.arch} networks take 28x28 images"),
        (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:"), f"unknown device {cfg.device!r}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise InfoGANError(msg)

