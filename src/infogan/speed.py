"""Speed options of the training step, each a TrainConfig flag that keeps the math:

  channels_last  NHWC tensors for the convolutions (cfg.channels_last)
  compile        torch.compile of G and D: off | default | reduce-overhead | max-autotune
                 (cfg.compile; CPU only, refused on CUDA)
  compile_routing  CPU: torch.compile of the capsule D/Q's routing alone (cfg.compile_routing;
                 on by default: its elementwise work is memory-bound, and fused it is faster)
  amp            autocast of the forward passes: off | bf16 | auto (cfg.amp; auto: bf16 on a CPU
                 with bfloat16 units, off elsewhere); losses stay float32
  keep_memory    CPU: glibc keeps freed memory in the process for the next step (cfg.keep_memory)
  tf32           CUDA: float32 matrix products and cuDNN's convolutions in TF32 on the tensor
                 cores (cfg.tf32; set_tf32); off, both are float32
  cuda_graph     CUDA: the whole step (both phases, both Adam updates) captured once as a CUDA
                 graph and replayed (cfg.cuda_graph; StepGraph)

Defaults are what measured fastest (README, "Speed"): on 2 CPU cores compile was slower and
channels-last no faster, so those default to off; bf16 was no faster on a CPU without bf16
units, 1.4-1.8x faster on one with AVX512-BF16 and 1.8-1.9x on an AMX Xeon, where it draws
other trajectories (as any change of kernels does); the mnist preset's --amp auto turns it on
where the CPU has the units (measured over ten seeds there), the other presets leave it off;
keep_memory is on, and so is compile_routing (the capsule step 8% faster on one thread, 3-13%
on two). On an H200 the whole-step CUDA graph made the step 7.6x faster than
eager and TF32 another 1.23x, with time to 95% accuracy unchanged, so both are on; bf16
autocast was slower than TF32. The equivalence of each optimised step with the plain one is
tested in tests/test_speed.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import torch

from .config import TrainConfig
from .nets.caps import RoutedCapsules
from .optim import make_capturable

# Measured on an H200 with torch 2.11: inductor's code for this step fails in D's convolution
# backward (a stride assertion, with and without the whole-step graph), and the modes with
# CUDA graphs of their own (cudagraph trees) overwrite G's output while G's phase still
# needs it. The whole-step graph is the fast path there (README, "Speed").
CUDA_COMPILE_REFUSED = ("--compile {mode} does not work on CUDA for this training step (torch.compile fails in "
                        "its backward pass); the whole-step CUDA graph (--cuda-graph, on by default) is the "
                        "fast path on GPUs")
AMP_DTYPES = {"off": None, "bf16": torch.bfloat16}  # one entry per config.AMP_MODES but auto


def apply(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> None:
    """Put cfg's layout and compilation options on model in place (state_dict keys unchanged)."""
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if cfg.compile != "off":
        # nn.Module.compile keeps parameter names, so checkpoints stay compatible
        model.G.compile(mode=cfg.compile)
        model.D.compile(mode=cfg.compile)
    elif cfg.compile_routing and device.type == "cpu":
        for module in model.D.modules():
            if isinstance(module, RoutedCapsules):
                module.compile_routing()


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit systems
MMAP_THRESHOLD_START = 128 << 10  # glibc's starting value of both thresholds (it raises them as it goes)


def set_tf32(enabled: bool) -> None:
    """TF32 for CUDA's matrix products and cuDNN's convolutions together. PyTorch's defaults
    differ (products off, convolutions on), so a switch of the products alone would leave
    `--no-tf32`'s convolutions, most of this step's work, in TF32. Process-wide, like the
    allocator's settings."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


@contextlib.contextmanager
def float32_products():
    """TF32 off for the block, as it was afterwards: what infogan measures (the evaluation's
    Frechet distance above all) is measured in float32 on any device, whatever the training used."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    set_tf32(False)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def keep_freed_memory() -> bool:
    """Make this process's malloc keep freed blocks for reuse; True where it took effect.

    By default glibc hands blocks of a few MB back to the kernel when they are freed (mmap
    threshold, heap trimming), so every step faults in its activations and the 25 MB weight
    gradients of the two big FC layers afresh: ~6,000 page faults, each page zeroed by the
    kernel, about 7% of a paper-objective step on 2 cores. Serving blocks up to 32 MB from
    the heap and never trimming it keeps the process at its peak footprint instead. It is a
    process-wide setting (it affects everything allocated afterwards) and changes no number.
    """
    return set_malloc_thresholds(MMAP_THRESHOLD_MAX, 1 << 30)


def set_malloc_thresholds(mmap: int, trim: int) -> bool:
    """glibc's mmap and trim thresholds, in bytes, held at these values (setting them stops glibc
    from moving them itself); True where it took effect."""
    mallopt = _mallopt()
    return bool(mallopt and mallopt(M_MMAP_THRESHOLD, mmap) and mallopt(M_TRIM_THRESHOLD, trim))


def has_mallopt() -> bool:
    return _mallopt() is not None


def _mallopt():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, musl, Windows)
        return None


def bf16_hint(cfg: TrainConfig, device: torch.device) -> str | None:
    """A line suggesting --amp auto where it pays and is off: a CPU with bfloat16 units
    (AVX512-BF16 or AMX), where it trained MNIST 1.4-1.9x faster (README, Speed)."""
    if cfg.amp != "off" or device.type != "cpu" or not cpu_has_bf16_units():
        return None
    return ("infogan: this CPU has bfloat16 units; --amp auto (or bf16) trains about 1.4-1.9x faster here "
            "(README, Speed)")


def amp_mode(cfg: TrainConfig, device: torch.device) -> str:
    """cfg.amp with auto decided for device: bf16 on a CPU with bfloat16 units, where it pays
    (1.8-1.9x on an AMX Xeon, 1.4-1.8x on an AVX512-BF16 EPYC), off elsewhere: a CPU without
    them emulates it no faster, and on a GPU TF32 was the faster of the two (README, Speed)."""
    if cfg.amp != "auto":
        return cfg.amp
    return "bf16" if device.type == "cpu" and cpu_has_bf16_units() else "off"


def cpu_has_bf16_units() -> bool:
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    return AMP_DTYPES[amp_mode(cfg, device)]


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    # no cast cache: a cached bf16 copy of a weight would outlive a CUDA graph's capture
    return torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=False)


def map_tensors(fn, obj, leaf: type = torch.Tensor):
    """fn applied to every `leaf` (a tensor by default) in nested tuples/lists/dicts; anything
    else (None, numbers) is kept."""
    if isinstance(obj, leaf):
        return fn(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(map_tensors(fn, o, leaf) for o in obj)
    if isinstance(obj, dict):
        return {k: map_tensors(fn, v, leaf) for k, v in obj.items()}
    return obj


def _copy_into(static, new) -> None:
    if isinstance(static, torch.Tensor):
        static.copy_(new)
    elif isinstance(static, (tuple, list)):
        for s, n in zip(static, new, strict=True):
            _copy_into(s, n)
    elif isinstance(static, dict):
        for k in static:
            _copy_into(static[k], new[k])


class StepGraph:
    """A training step replayed as one CUDA graph.

    At batch 64 the paper's networks are small for a GPU: an eager step launches several
    hundred kernels of a few microseconds each and is bound by Python and launch overhead,
    not by the GPU. The first `warmup` calls run eagerly on a side stream (so cuBLAS/cuDNN
    set-up and the optimisers' state are allocated outside the capture, as PyTorch's
    whole-network capture recipe asks); the next call captures step_fn once on static copies
    of its inputs, and every call from then on copies its inputs into those and replays.
    Each call is a real training step, so the sequence of updates is the eager one.

    step_fn must not synchronise with the host or draw random numbers (the caller draws
    them and passes them in), and the parameters must not be replaced afterwards. The
    returned tensors are the graph's outputs: overwritten by the next call.
    """

    def __init__(self, step_fn, optimizers=(), warmup: int = 3):
        self.step_fn, self.optimizers, self.warmup = step_fn, optimizers, warmup
        self.calls = 0
        self.graph = None
        self.static_inputs = self.static_outputs = None
        self.side = torch.cuda.Stream()

    def __call__(self, *inputs):
        self.calls += 1
        if self.calls == 1:  # not earlier: a resumed checkpoint's optimiser state is loaded by now
            make_capturable(*self.optimizers)
        if self.calls <= self.warmup:
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                out = self.step_fn(*inputs)
            torch.cuda.current_stream().wait_stream(self.side)
            return out
        if self.graph is None:
            self.static_inputs = map_tensors(torch.clone, inputs)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_outputs = self.step_fn(*self.static_inputs)
        else:
            _copy_into(self.static_inputs, inputs)
        self.graph.replay()
        return self.static_outputs
