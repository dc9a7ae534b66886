"""The paper's MNIST networks (InfoGAN appendix, Table 1), with a width multiplier.

G: FC1024-BN-ReLU, FC 7x7x128-BN-ReLU, 4x4 upconv 64 s2-BN-ReLU, 4x4 upconv 1 s2, tanh.
D: 4x4 conv 64 s2 lReLU, 4x4 conv 128 s2-BN-lReLU, FC1024-BN-lReLU   (the shared trunk)
   -> FC 1 (real/fake logit)                                       (D's head)
   -> FC128-BN-lReLU-FC q_dim                                      (Q's head)
Q shares every layer of the trunk with D, as in the paper. width=1 is the paper's size;
tests use width=1/8. Images are in [-1, 1] (tanh output), not the paper's sigmoid [0, 1].
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

LEAK = 0.1  # the paper's lReLU leak (the official code's default is 0.01; we follow the paper)


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
def split_batches(net: nn.Module, k: int):
    bns = [m for m in net.modules() if isinstance(m, (SplitBatchNorm1d, SplitBatchNorm2d))]
    for m in bns:
        m.splits = k
    try:
        yield
    finally:
        for m in bns:
            m.splits = 1


def _w(n: int, width: float) -> int:
    return max(4, int(round(n * width)))


class Generator(nn.Module):
    def __init__(self, in_dim: int, channels: int = 1, width: float = 1.0):
        super().__init__()
        fc, c1, c2 = _w(1024, width), _w(128, width), _w(64, width)
        self.c1 = c1
        self.fc = nn.Sequential(
            nn.Linear(in_dim, fc, bias=False), nn.BatchNorm1d(fc), nn.ReLU(inplace=True),
            nn.Linear(fc, 7 * 7 * c1, bias=False), nn.BatchNorm1d(7 * 7 * c1), nn.ReLU(inplace=True),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c1, c2, 4, 2, 1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True),  # (B, c2, 14, 14)
            nn.ConvTranspose2d(c2, channels, 4, 2, 1), nn.Tanh(),  # (B, channels, 28, 28)
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.fc(latent).view(-1, self.c1, 7, 7)  # (B, 128, 7, 7)
        return self.deconv(h)


class Discriminator(nn.Module):
    """Shared trunk with a real/fake head and Q's head; forward returns (logit, q_out)."""

    def __init__(self, q_dim: int, channels: int = 1, width: float = 1.0):
        super().__init__()
        c1, c2, fc, q = _w(64, width), _w(128, width), _w(1024, width), _w(128, width)
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, c1, 4, 2, 1), nn.LeakyReLU(LEAK, inplace=True),  # (B, 64, 14, 14)
            nn.Conv2d(c1, c2, 4, 2, 1, bias=False), SplitBatchNorm2d(c2), nn.LeakyReLU(LEAK, inplace=True),  # (B, 128, 7, 7)
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, fc, bias=False), SplitBatchNorm1d(fc), nn.LeakyReLU(LEAK, inplace=True),  # (B, 1024)
        )
        self.d_head = nn.Linear(fc, 1)
        self.q_head = nn.Sequential(
            nn.Linear(fc, q, bias=False), nn.BatchNorm1d(q), nn.LeakyReLU(LEAK, inplace=True),
            nn.Linear(q, max(q_dim, 1)),
        )

    def forward(self, x: torch.Tensor, q_from: int = 0):
        """(real/fake logits (B,), Q's output (B - q_from, q_dim)): Q reads rows q_from: only."""
        h = self.trunk(x)  # (B, 1024)
        return self.d_head(h).squeeze(1), self.q_head(h[q_from:])


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv/linear weights, N(1, 0.02) for BN scales, zero biases (DCGAN)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
