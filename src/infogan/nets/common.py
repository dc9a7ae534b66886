"""Pieces every architecture shares: the family record, split batch norm, D/Q heads on a
trunk, DCGAN init."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import InfoGANError

LEAK = 0.1  # the paper's lReLU leak (the official code's default is 0.01; we follow the paper)


@dataclass(frozen=True)
class Family:
    """A network family: build(in_dim, q_dim, channels, image_size, width, q_layout) -> (G, D),
    where D(x, q_from=0) returns (real/fake logits (B,), Q's output (B - q_from, q_dim)).
    q_layout: ("cat", K) or ("cont", n_outputs) per code, in the latent spec's order (only
    families whose Q is not one FC head read it)."""

    name: str
    help: str
    build: Callable
    image_sizes: tuple[int, ...]
    encoder: str = "D trunk + Q head"  # what reads the categorical codes (the supervised twin's network)
    capsule_q: bool = False  # Q reads capsules' lengths, with a sharpness T (caps.py; --q-sharpness)

    def check_image_size(self, size: int) -> None:
        if size not in self.image_sizes:
            raise InfoGANError(f"the {self.name} networks take {' or '.join(f'{s}x{s}' for s in self.image_sizes)} "
                               f"images, not {size}x{size}")


class SplitBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm that, inside `split_batches(net, k)`, normalises each of k equal chunks of
    the batch with its own statistics (running stats updated chunk by chunk, in order).

    D's phase runs real and fake images through the trunk as one batch for speed (one
    weight gradient per layer instead of two to add up); with k=2 it computes exactly what
    two separate passes D(x_real), D(x_fake) compute, as the paper's training does.
    """

    splits = 1

    def forward(self, x):
        if self.splits > 1 and self.training:
            return torch.cat([_BatchNorm.forward(self, c) for c in x.chunk(self.splits)])
        return _BatchNorm.forward(self, x)


class SplitBatchNorm2d(nn.BatchNorm2d):
    splits = 1
    forward = SplitBatchNorm1d.forward


@contextlib.contextmanager
def eval_mode(net: nn.Module):
    """net in eval mode (batch norm's running statistics) inside the block, then back to the mode it was in."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


@contextlib.contextmanager
def requiring_grad(net: nn.Module, flag: bool):
    """net's parameters with requires_grad = flag inside the block, then as they were."""
    changed = [p for p in net.parameters() if p.requires_grad != flag]
    for p in changed:
        p.requires_grad_(flag)
    try:
        yield net
    finally:
        for p in changed:
            p.requires_grad_(not flag)


def frozen(net: nn.Module):
    """net's parameters without requires_grad inside the block, then as they were. A pass that
    only trains another net (G's phase through D) then records no graph for net's weights, and
    a compiled part of net (the capsule routing) is compiled without their gradients: autograd
    skips what `backward(inputs=...)` does not need in eager code, but a compiled backward is one
    node that computes them all."""
    return requiring_grad(net, False)


@contextlib.contextmanager
def split_batches(net: nn.Module, k: int):
    bns = [m for m in net.modules() if isinstance(m, (SplitBatchNorm1d, SplitBatchNorm2d))]
    for m in bns:
        m.splits = k
    try:
        yield
    finally:
        for m in bns:
            m.splits = 1


def scaled(n: int, width: float) -> int:
    """n channels/units at this width multiplier (at least 4)."""
    return max(4, int(round(n * width)))


class Discriminator(nn.Module):
    """A shared trunk with D's real/fake head and Q's head; forward returns (logit, q_out)."""

    def __init__(self, trunk: nn.Module, features: int, q_dim: int, width: float = 1.0):
        super().__init__()
        q = scaled(128, width)
        self.trunk = trunk
        self.d_head = nn.Linear(features, 1)
        self.q_head = nn.Sequential(  # FC128-BN-lReLU-FC, as in every table of the paper
            nn.Linear(features, q, bias=False), nn.BatchNorm1d(q), nn.LeakyReLU(LEAK, inplace=True),
            nn.Linear(q, max(q_dim, 1)),
        )

    def forward(self, x: torch.Tensor, q_from: int = 0, q_groups: int = 1, features: bool = False):
        """(real/fake logits (B,), Q's output (B - q_from, q_dim)): Q reads rows q_from: only,
        in q_groups equal groups that its batch norm normalises separately. features=True adds
        the trunk's output (B, features), which --overcluster's head reads."""
        h = self.trunk(x)  # (B, features)
        out = self.d_head(h).squeeze(1), per_group(self.q_head, h[q_from:], q_groups)
        return (*out, h) if features else out


def per_group(fn, h: torch.Tensor, groups: int) -> torch.Tensor:
    """fn on each of `groups` equal chunks of h's rows, concatenated (batch norm per chunk)."""
    return fn(h) if groups == 1 else torch.cat([fn(c) for c in h.chunk(groups)])


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv/linear weights, N(1, 0.02) for BN scales, zero biases (DCGAN); then
    each submodule with an init_own_weights() (the capsule G's capsule maps) sets its own."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    for m in module.modules():
        if hasattr(m, "init_own_weights"):
            m.init_own_weights()
