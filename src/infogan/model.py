"""InfoGAN: G + D (shared trunk, D head, Q head) + LatentSpec, saved as config.json + safetensors.

    model = InfoGAN.from_pretrained("runs/00000-mnist/model")
    images = model.generate(16, codes={"c1": 7, "c2": 0.5}, seed=0)   # (16, 1, 28, 28) in [0, 1]
    predicted = model.infer_codes(real_images)                       # {"c1": class ids, "c2": means, ...}
"""

from __future__ import annotations

import inspect
import json
import numbers
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import __version__
from .errors import CheckpointError, InfoGANError, SpecError
from .files import atomic_write, publish
from .latent import LatentSpec
from .nets import build, init_weights
from .nets.common import eval_mode

MODEL_FORMAT = "infogan-model"
MODEL_FORMAT_VERSION = 1


class InfoGAN(nn.Module):
    def __init__(self, latent: str | LatentSpec = "z62,cat10,cont2", arch: str = "mnist",
                 channels: int = 1, image_size: int = 28, width: float = 1.0, dataset: str = "mnist",
                 g_arch: str = "family"):
        super().__init__()
        if not width > 0:  # (the command line's validate says so too; from Python a 0 built empty layers)
            raise SpecError(f"width must be > 0, got {width}")
        self.spec = latent if isinstance(latent, LatentSpec) else LatentSpec.parse(latent)
        # config.json: the constructor's arguments, so from_config rebuilds this model
        self.config = {"latent": str(self.spec), "arch": arch, "channels": channels,
                       "image_size": image_size, "width": width, "dataset": dataset, "g_arch": g_arch}
        self.G, self.D = build(arch, self.spec.dim, self.spec.q_dim, channels, image_size, width, self.spec.q_layout,
                               g_arch)
        init_weights(self)

    @classmethod
    def for_training(cls, cfg) -> "InfoGAN":
        """The model a TrainConfig describes (its codes' lambdas from --lambda-cat/--lambda-cont)."""
        spec = LatentSpec.parse(cfg.latent, cfg.lambda_cat, cfg.lambda_cont)
        model = cls(spec, **{k: getattr(cfg, k) for k in model_keys() if k != "latent"})
        if cfg.q_sharpness is not None:  # a capsule Q's buffer (config.validate): the saved weights keep it
            model.D.q_sharpness.fill_(cfg.q_sharpness)
        return model

    @property
    def image_shape(self) -> tuple[int, int, int]:
        s = self.config["image_size"]
        return (self.config["channels"], s, s)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------- generation and inference
    def forward(self, z: torch.Tensor, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """G(z, c) in G's own range [-1, 1]."""
        return self.G(self.spec.join(z, codes))

    @torch.no_grad()
    def generate(self, n: int, codes: dict | None = None, seed: int | None = None,
                 z: torch.Tensor | None = None) -> torch.Tensor:
        """n images in [0, 1]. Codes given (a scalar or n values each) are fixed; the rest sampled."""
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:  # (2.5 was torch's TypeError)
            raise SpecError(f"n must be a whole number >= 0, got {n!r}")
        if seed is not None and not 0 <= seed < 2**64:  # what torch's generator takes (callers add offsets to
            raise SpecError(f"seed must be in 0..2^64-1, got {seed}")  # the user's seed, so not MAX_SEED here)
        codes = dict(codes or {})
        self.spec.check_values(codes)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z_s, sampled = self.spec.sample(n, generator=gen)
        if z is not None:
            if tuple(z.shape) != tuple(z_s.shape):
                raise SpecError(f"z must have shape {tuple(z_s.shape)} (n, noise), got {tuple(z.shape)}")
            z_s = z
        for name, v in codes.items():
            t = torch.as_tensor(v)
            if t.dim() > 1 or (t.dim() == 1 and len(t) != n):
                have = f"{len(t)} values" if t.dim() == 1 else f"values of shape {tuple(t.shape)}"
                raise SpecError(f"code {name!r} has {have} for {n} images: give one value, or {n}")
            sampled[name] = t.expand(n).clone() if t.dim() == 0 else t
        with eval_mode(self):
            dev = self.device
            x = self(z_s.to(dev), {k: v.to(dev) for k, v in sampled.items()})
        return (x.float().cpu() + 1) / 2

    @torch.no_grad()
    def infer_codes(self, images, probs: bool = False, batch_size: int = 1000) -> dict:
        """Q's prediction on images: a tensor or array (uint8 0..255, or floats in [0, 1]) of shape
        (N, C, H, W) ((N, H, W) for a one-channel model), or PIL images (one, or a list),
        centre-cropped and resized to the model's size as `infogan infer` does (light-on-dark as
        the training images: invert yourself).

        Categorical codes give class indices (or probabilities with probs=True); continuous
        codes give Q's mean.
        """
        images = given = self.image_batch(images)
        if images.dim() == 3 and self.image_shape[0] == 1:
            images = images.unsqueeze(1)
        if tuple(images.shape[1:]) != self.image_shape:  # (the shape as given: (28, 28, 1) read as N = 28 confused)
            raise SpecError(f"images must have shape (N, {', '.join(map(str, self.image_shape))})"
                            + (f" or (N, {self.image_shape[1]}, {self.image_shape[2]})" if self.image_shape[0] == 1 else "")
                            + f", got {tuple(given.shape)}")
        if images.is_floating_point() and len(images):
            lo, hi = (v.item() for v in torch.aminmax(images))  # one pass over the images, not two
            if not 0 <= lo <= hi <= 1:  # else Q reads 0..255 floats as a white blur, silently
                raise SpecError(f"float images must be in [0, 1], got {lo:g}..{hi:g} (pass uint8 for 0..255)")
        q = q_outputs(self.D, images, batch_size) if len(images) else torch.zeros(0, self.spec.q_dim)
        result = {}
        for code, (a, _b) in zip(self.spec.codes, self.spec.split_q(q).values()):
            if code.kind == "cat":
                result[code.name] = a.softmax(1) if probs else a.argmax(1)
            else:
                result[code.name] = a
        return result

    def image_batch(self, images) -> torch.Tensor:
        """infer_codes's input as one tensor (PIL images fitted to the model's size)."""
        from PIL import Image

        from .data.images import fit_image

        if isinstance(images, Image.Image):
            images = [images]
        if isinstance(images, (list, tuple)) and images and all(isinstance(i, Image.Image) for i in images):
            c, h, _w = self.image_shape
            return torch.from_numpy(np.stack([fit_image(i, h, c) for i in images]))
        if isinstance(images, (str, Path)):
            raise SpecError(f"infer_codes takes images, not a path ({images}): open it with PIL, or read files "
                            "with infogan.infer.infer(model, paths)")
        try:
            return torch.as_tensor(images)  # (numpy arrays too)
        except (TypeError, RuntimeError, ValueError):
            raise SpecError("images must be a tensor or array (N, C, H, W), or PIL images, "
                            f"not {type(images).__name__}") from None

    # ------------------------------------------------------------- save / load
    def save_pretrained(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        cfg = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
               "infogan_version": __version__, **self.config}
        tmp = d / ".model.safetensors.tmp"
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(tmp))
        publish(tmp, d / "model.safetensors")  # weights first: a config.json always has its weights
        atomic_write(d / "config.json", json.dumps(cfg, indent=2) + "\n")
        return d

    @classmethod
    def from_config(cls, cfg: dict) -> "InfoGAN":
        if cfg.get("format") != MODEL_FORMAT:
            raise CheckpointError("not an infogan model config (missing 'format': 'infogan-model')")
        if cfg.get("format_version", 0) > MODEL_FORMAT_VERSION:
            raise CheckpointError(f"model format version {cfg['format_version']} is newer than this infogan understands")
        try:
            return cls(**{k: cfg[k] for k in model_keys() if k in cfg})
        except SpecError as e:
            raise CheckpointError(f"model config has a bad latent spec: {e}") from None
        except InfoGANError as e:
            raise CheckpointError(f"model config does not describe a model: {e}") from None

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> "InfoGAN":
        """Load a model folder (config.json + model.safetensors), a run folder's model/, or a
        checkpoint folder (checkpoint.final_model: a run's model at that step, mid-training too)."""
        from . import checkpoint

        if checkpoint.is_checkpoint(directory):
            return checkpoint.final_model(Path(directory)).to(device).eval()
        d = resolve_model_dir(directory)
        try:
            cfg = json.loads((d / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"cannot read {d / 'config.json'}: {e}") from None
        model = cls.from_config(cfg)
        try:
            state = load_file(str(d / "model.safetensors"))
        except Exception as e:  # safetensors raises its own error types on corrupt files
            raise CheckpointError(f"cannot read {d / 'model.safetensors'}: {e}") from None
        load_state(model, state, str(d))
        return model.to(device).eval()


def model_keys() -> list[str]:
    """What config.json records of a model: InfoGAN's constructor arguments."""
    return list(inspect.signature(InfoGAN.__init__).parameters)[1:]


def with_defaults(config: dict) -> dict:
    """A model config with the arguments it leaves out (written before they existed) at their defaults."""
    params = inspect.signature(InfoGAN.__init__).parameters
    return {**{k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}, **config}


def load_state(module: nn.Module, state: dict, where: str) -> None:
    """load_state_dict with a one-line CheckpointError on any key or shape mismatch. A buffer
    that a network added after models were saved without it (its class's LATER_BUFFERS: name ->
    the value those models had) is filled in, so they load as they were trained."""
    later = {f"{prefix}.{name}" if prefix else name: torch.tensor(value)
             for prefix, m in module.named_modules() for name, value in getattr(m, "LATER_BUFFERS", {}).items()}
    state = {**later, **state}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or bad:
        what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra
                else f"{bad[0]} has shape {tuple(state[bad[0]].shape)}, expected {tuple(own[bad[0]].shape)}")
        raise CheckpointError(f"{where} does not match this model ({what})")
    module.load_state_dict(state)


def resolve_model_dir(directory: str | Path) -> Path:
    """A model folder: `directory` itself, or the model/ of a run folder."""
    from .run import Run

    d = Path(directory)
    if d.is_file() and (d.parent / "config.json").is_file():  # its model.safetensors or config.json: the folder is meant
        d = d.parent
    if (Run(d).model_dir / "config.json").exists():
        d = Run(d).model_dir
    elif Run(d).log_file.exists() or Run(d).checkpoints_dir.is_dir():  # a run folder without its model: training
        latest = Run(d).latest_checkpoint()
        raise CheckpointError(f"{directory} has no model yet (it is training, or stopped before the end)"
                              + (f"; read its latest checkpoint instead: {latest}" if latest else ""))
    if not (d / "config.json").exists():
        runs = sorted((r for r in d.glob("*") if (Run(r).model_dir / "config.json").is_file()) if d.is_dir() else (),
                      key=lambda r: (Run(r).model_dir / "config.json").stat().st_mtime)
        if runs:  # --outdir, or a sweep's --out, given for one of its runs
            which = f"name it: {runs[0]}" if len(runs) == 1 else f"name one, e.g. the newest: {runs[-1]}"
            raise CheckpointError(f"{directory} holds {len(runs)} run{'s' * (len(runs) > 1)}, not a model; {which}")
        raise CheckpointError(f"{directory} is not a model folder (no config.json; expected a run folder, its model/ "
                              "or one of its checkpoints)")
    return d


@torch.no_grad()
def q_outputs(D: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Q's raw outputs (N, q_dim) on images (uint8 or [0, 1] floats), in eval mode (batch
    norm's running statistics, nothing updated), batch by batch on D's device, as float32 on the CPU."""
    device = next(D.parameters()).device
    with eval_mode(D):
        return torch.cat([D(to_model_range(images[i : i + batch_size]).to(device))[1].float().cpu()
                          for i in range(0, len(images), batch_size)])


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] -> float [-1, 1], the range D sees during training."""
    if images.dtype == torch.uint8:
        return images.float().div_(127.5).sub_(1.0)
    return images.float() * 2 - 1
