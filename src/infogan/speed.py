"""Speed options of the training step, each a TrainConfig flag that keeps the math:

  channels_last  NHWC tensors for the convolutions (cfg.channels_last)
  compile        torch.compile of G and D: off | default | reduce-overhead (CUDA graphs) |
                 max-autotune (cfg.compile)
  amp            autocast of the forward passes: off | bf16 (cfg.amp); losses stay float32

Defaults are what measured fastest (README, "Speed"): on 2 CPU cores none of these helped
(compile and channels-last were slower, bf16 has no hardware support there), so all three
default to off. The equivalence of each optimised step with the plain one is tested
in tests/test_speed.py.
"""

from __future__ import annotations

import contextlib

import torch

from .config import TrainConfig

AMP_DTYPES = {"off": None, "bf16": torch.bfloat16}  # one entry per config.AMP_MODES


def apply(model: torch.nn.Module, cfg: TrainConfig) -> None:
    """Put cfg's layout and compilation options on model in place (state_dict keys unchanged)."""
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if cfg.compile != "off":
        # nn.Module.compile keeps parameter names, so checkpoints stay compatible
        model.G.compile(mode=cfg.compile)
        model.D.compile(mode=cfg.compile)


def amp_dtype(cfg: TrainConfig) -> torch.dtype | None:
    return AMP_DTYPES[cfg.amp]


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
