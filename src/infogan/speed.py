"""Speed options of the training step, each a TrainConfig flag that keeps the math:

  channels_last  NHWC tensors for the convolutions (cfg.channels_last)
  compile        torch.compile of G and D: off | default | reduce-overhead (CUDA graphs) |
                 max-autotune (cfg.compile)
  amp            autocast of the forward passes: off | bf16 (cfg.amp); losses stay float32
  keep_memory    CPU: glibc keeps freed memory in the process for the next step (cfg.keep_memory)

Defaults are what measured fastest (README, "Speed"): on 2 CPU cores compile was slower,
channels-last no faster and bf16 has no hardware support, so those default to off;
keep_memory is on. The equivalence of each optimised step with the plain one is tested
in tests/test_speed.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

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


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit systems


def keep_freed_memory() -> bool:
    """Make this process's malloc keep freed blocks for reuse; True where it took effect.

    By default glibc hands blocks of a few MB back to the kernel when they are freed (mmap
    threshold, heap trimming), so every step faults in its activations and the 25 MB weight
    gradients of the two big FC layers afresh: ~6,000 page faults, each page zeroed by the
    kernel, about 7% of a paper-objective step on 2 cores. Serving blocks up to 32 MB from
    the heap and never trimming it keeps the process at its peak footprint instead. It is a
    process-wide setting (it affects everything allocated afterwards) and changes no number.
    """
    mallopt = _mallopt()
    return bool(mallopt and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and mallopt(M_TRIM_THRESHOLD, 1 << 30))


def has_mallopt() -> bool:
    return _mallopt() is not None


def _mallopt():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, musl, Windows)
        return None


def amp_dtype(cfg: TrainConfig) -> torch.dtype | None:
    return AMP_DTYPES[cfg.amp]


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
