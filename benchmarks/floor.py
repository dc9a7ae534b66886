"""The kernel floor of a training step: what its matrix products and optimiser updates alone
cost, each run by itself.

`infogan bench` reports it next to the step's real time. A step can never be faster than
the sum of its own big kernels (the products of the linear and convolution layers, forward
and backward, and the Adam updates), so the reference loop's time divided by this floor
bounds the speedup any rearrangement of the rest (batch norm, activations, losses, data)
could reach with these kernels; the step's time minus the floor is what such work could win.

How: one eager step runs under a dispatch mode that records each product and optimiser call
with the shapes, strides and dtypes of its tensors; each call is then replayed on random
tensors of that layout, alone and warm in cache, and its median time is summed. Running
alone and hot is the kernels' best case, so the floor errs low.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from infogan.speed import map_tensors

aten = torch.ops.aten
PRODUCTS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default,
            aten.convolution.default, aten.convolution_backward.default}
OPTIMISER_PREFIXES = ("_fused_adam", "_foreach_")  # fused Adam, or foreach Adam's pieces


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    def make(self) -> torch.Tensor:
        t = torch.empty_strided(self.shape, self.stride, dtype=self.dtype, device=self.device)
        if t.is_floating_point():
            t.uniform_(0.5, 1.0)  # positive and away from 0: no denormals, valid Adam moments and step counts
        else:
            t.fill_(1)
        return t

    @classmethod
    def of(cls, t: torch.Tensor) -> "TensorSpec":
        return cls(tuple(t.shape), tuple(t.stride()), t.dtype, t.device)


def _kind(func) -> str | None:
    if func in PRODUCTS:
        return "products"
    name = func.overloadpacket.__name__
    if name.startswith(OPTIMISER_PREFIXES) and name.endswith("_"):  # in-place updates
        return "optimiser"
    return None


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = []  # (kind, func, args, kwargs)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = _kind(func)
        if kind is not None:
            self.calls.append((kind, func, map_tensors(TensorSpec.of, args), map_tensors(TensorSpec.of, kwargs)))
        return func(*args, **kwargs)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def kernel_floor(step, device: torch.device, repeats: int = 5, calls_per_sample: int = 3) -> dict[str, float]:
    """Seconds per step of step()'s products and optimiser updates, each replayed alone:
    {"products": s, "optimiser": s, "total": s, "calls": n}. step must run eagerly."""
    recorder = _Recorder()
    with recorder:
        step()
    seconds = {"products": 0.0, "optimiser": 0.0}
    for kind, func, args, kwargs in recorder.calls:
        a, k = map_tensors(TensorSpec.make, args, TensorSpec), map_tensors(TensorSpec.make, kwargs, TensorSpec)
        for _ in range(2):  # warm-up: first touch of the buffers, kernel selection
            func(*a, **k)
        samples = []
        for _ in range(repeats):  # back-to-back calls per sample: on a GPU, launches overlap as in a step
            _sync(device)
            t = time.perf_counter()
            for _ in range(calls_per_sample):
                func(*a, **k)
            _sync(device)
            samples.append((time.perf_counter() - t) / calls_per_sample)
        seconds[kind] += statistics.median(samples)
    return {**seconds, "total": seconds["products"] + seconds["optimiser"], "calls": len(recorder.calls)}
