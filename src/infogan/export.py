"""Export G or the encoder Q to ONNX or TorchScript, codes by name.

generator: inputs z (N, noise) float32, then one input per code: categorical codes as int64
           class indices (N,), continuous codes as float32 (N,); output images (N, C, H, W) in [0, 1].
encoder:   input images (N, C, H, W) float32 in [0, 1]; one output per code, named after it:
           a categorical code's class probabilities (N, K), a continuous code's mean (N,).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import InfoGANError

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".ts", ".torchscript")}
PARTS = ("generator", "encoder")


class GeneratorExport(nn.Module):
    """G with the latent spec's join folded in, so callers pass codes by name."""

    def __init__(self, model):
        super().__init__()
        self.G = model.G
        self.spec = model.spec

    def forward(self, z: torch.Tensor, *codes: torch.Tensor) -> torch.Tensor:
        x = self.G(self.spec.join(z, {c.name: v for c, v in zip(self.spec.codes, codes)}))
        return (x + 1) / 2


class EncoderExport(nn.Module):
    """Q (D's trunk and Q's head, in eval mode) with the input scaling and the latent spec's
    split folded in: one named output per code."""

    def __init__(self, model):
        super().__init__()
        self.D = model.D
        self.spec = model.spec

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        q = self.D(images * 2 - 1)[1]  # (N, q_dim) from images in D's range [-1, 1]
        return tuple(a.softmax(1) if code.kind == "cat" else a
                     for code, (a, _) in zip(self.spec.codes, self.spec.split_q(q).values()))


def example_inputs(model, n: int = 2) -> tuple[torch.Tensor, ...]:
    z, codes = model.spec.sample(n, generator=torch.Generator().manual_seed(0))
    return (z, *[codes[c.name] for c in model.spec.codes])


def export_format(fmt: str | None, out: str | Path) -> str:
    """fmt, or the one out's suffix names (onnx where it names none). A suffix that names the
    other format is refused: `--out encoder.pt` used to receive an ONNX file."""
    named = next((f for f, suffixes in SUFFIXES.items() if Path(out).suffix.lower() in suffixes), None)
    if fmt is None:
        return named or "onnx"
    if fmt not in FORMATS:
        raise InfoGANError(f"unknown export format {fmt!r} ({' or '.join(FORMATS)})")
    if named and named != fmt:
        raise InfoGANError(f"--out {out}: {Path(out).suffix} is a suffix of {named} files, not {fmt}; "
                           f"name it {Path(out).with_suffix(SUFFIXES[fmt][0]).name} or leave out --format")
    return fmt


def export(model, fmt: str | None, out: str | Path, part: str = "generator") -> Path:
    """Write model's generator or encoder to out in fmt (onnx | torchscript; None: as out's
    suffix says, onnx where it says neither)."""
    if part not in PARTS:
        raise InfoGANError(f"unknown part {part!r} ({' or '.join(PARTS)})")
    fmt = export_format(fmt, out)
    if str(out).endswith(("/", os.sep)) or Path(out).is_dir():  # Path("e/") is "e": it would become a file
        example = Path(out) / f"{part}{SUFFIXES[fmt][0]}"
        raise InfoGANError(f"--out {out} is a folder; name the file to write, e.g. {example}")
    out = Path(out)
    model = model.eval()
    if part == "generator":
        wrapper, inputs = GeneratorExport(model).eval(), example_inputs(model)
        in_names, out_names = ["z"] + [c.name for c in model.spec.codes], ["images"]
        dims = lambda batch: [{0: batch}, tuple({0: batch} for _ in model.spec.codes)]  # noqa: E731
    else:
        wrapper = EncoderExport(model).eval()
        inputs = (torch.rand(2, *model.image_shape, generator=torch.Generator().manual_seed(0)),)
        in_names, out_names = ["images"], [c.name for c in model.spec.codes]
        dims = lambda batch: [{0: batch}]  # noqa: E731
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        warnings.filterwarnings("ignore", module=r"torch\.onnx.*|onnxscript.*|torch\.export.*")
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(wrapper, inputs, str(out), input_names=in_names, output_names=out_names,
                          dynamic_shapes=dims(batch), dynamo=True, verbose=False,
                          external_data=False)  # one file a user can copy (torch's default puts the weights in out.data)
    else:
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit.*")
        with torch.no_grad():
            traced = torch.jit.trace(wrapper, inputs)
        traced.save(str(out))
    return out
