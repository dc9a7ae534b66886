"""Export G alone to ONNX or TorchScript, codes as named inputs.

Inputs: z (N, noise) float32, then one input per code: categorical codes as int64 class
indices (N,), continuous codes as float32 (N,). Output: images (N, C, H, W) in [0, 1].
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import InfoGANError

FORMATS = ("onnx", "torchscript")


class GeneratorExport(nn.Module):
    """G with the latent spec's join folded in, so callers pass codes by name."""

    def __init__(self, model):
        super().__init__()
        self.G = model.G
        self.spec = model.spec

    def forward(self, z: torch.Tensor, *codes: torch.Tensor) -> torch.Tensor:
        x = self.G(self.spec.join(z, {c.name: v for c, v in zip(self.spec.codes, codes)}))
        return (x + 1) / 2


def example_inputs(model, n: int = 2) -> tuple[torch.Tensor, ...]:
    z, codes = model.spec.sample(n, generator=torch.Generator().manual_seed(0))
    return (z, *[codes[c.name] for c in model.spec.codes])


def export(model, fmt: str, out: str | Path) -> Path:
    """Write model's generator to out in fmt (onnx | torchscript)."""
    out = Path(out)
    wrapper = GeneratorExport(model).eval()
    inputs = example_inputs(model)
    names = ["z"] + [c.name for c in model.spec.codes]
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        warnings.filterwarnings("ignore", module=r"torch\.onnx.*|onnxscript.*|torch\.export.*")
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(wrapper, inputs, str(out), input_names=names, output_names=["images"],
                          dynamic_shapes=[{0: batch}, tuple({0: batch} for _ in model.spec.codes)],
                          dynamo=True, verbose=False)
    elif fmt == "torchscript":
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit.*")
        with torch.no_grad():
            traced = torch.jit.trace(wrapper, inputs)
        traced.save(str(out))
    else:
        raise InfoGANError(f"unknown export format {fmt!r} ({' or '.join(FORMATS)})")
    return out
