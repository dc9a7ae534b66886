"""Would TF32 in the evaluation move a Frechet distance? Emulated on a CPU, no GPU needed.

    python benchmarks/tf32_eval_emulation.py RUN_OR_MODEL_DIR [--data-dir DIR]

A GPU's TF32 products round their float32 inputs to a 10-bit mantissa and add in float32. Here
every convolution's and linear layer's input and weight, in G and in the Frechet distance's
classifier, is rounded so (to nearest) before a float32 product, and the distance of the same
model is measured three ways: float32, TF32 in the classifier, TF32 in both. Prints JSON.
(Since 2026-12-04 infogan evaluates in float32 on any device; this asks whether the GPU runs'
larger distances, measured before that with TF32 on, could have come from the evaluation.)
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

import torch
from torch import nn

from infogan import data
from infogan.metrics import quality
from infogan.run import model_and_run


def to_tf32(t: torch.Tensor) -> torch.Tensor:
    """float32 values rounded to nearest on TF32's 10-bit mantissa (the low 13 bits cleared)."""
    bits = t.contiguous().view(torch.int32)
    return ((bits + 0x1000) & ~0x1FFF).view(torch.float32)


def tf32_copy(module: nn.Module) -> nn.Module:
    """A copy whose convolutions and linear layers see TF32-rounded inputs and weights."""
    module = copy.deepcopy(module)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            with torch.no_grad():
                m.weight.copy_(to_tf32(m.weight))
            m.register_forward_pre_hook(lambda mod, args: (to_tf32(args[0]), *args[1:]))
    return module


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a run or model folder")
    p.add_argument("--data-dir")
    p.add_argument("--n", type=int, default=10000, help="generated samples (the evaluation's 10,000)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, _ = model_and_run(args.model)
    dataset = model.config["dataset"]
    x_train, y_train = data.load(dataset, "train", args.data_dir)
    x_test, _ = data.load(dataset, "test", args.data_dir)
    net = quality.get_classifier(dataset, x_train, y_train)
    fd = lambda m, n: round(quality.sample_quality(m, n, x_test, n=args.n)["frechet_distance"], 4)  # noqa: E731
    net_tf32 = tf32_copy(net)
    out = {"model": args.model, "float32": fd(model, net), "tf32_classifier": fd(model, net_tf32)}
    g32 = model.G
    model.G = tf32_copy(g32)
    out["tf32_g_and_classifier"] = fd(model, net_tf32)
    model.G = g32
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
