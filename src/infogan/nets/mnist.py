"""The paper's MNIST networks (InfoGAN appendix, Table 1), with a width multiplier.

G: FC1024-BN-ReLU, FC 7x7x128-BN-ReLU, 4x4 upconv 64 s2-BN-ReLU, 4x4 upconv 1 s2, tanh.
D: 4x4 conv 64 s2 lReLU, 4x4 conv 128 s2-BN-lReLU, FC1024-BN-lReLU   (the shared trunk)
   -> FC 1 (real/fake logit)                                       (D's head)
   -> FC128-BN-lReLU-FC q_dim                                      (Q's head)
Q shares every layer of the trunk with D, as in the paper. width=1 is the paper's size;
tests use width=1/8. Images are in [-1, 1] (tanh output), not the paper's sigmoid [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from .common import LEAK, Discriminator, Family, SplitBatchNorm1d, SplitBatchNorm2d, scaled


class Generator(nn.Module):
    def __init__(self, in_dim: int, channels: int = 1, width: float = 1.0):
        super().__init__()
        fc, c1, c2 = scaled(1024, width), scaled(128, width), scaled(64, width)
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


def build(in_dim: int, q_dim: int, channels: int = 1, image_size: int = 28, width: float = 1.0, q_layout=None):
    c1, c2, fc = scaled(64, width), scaled(128, width), scaled(1024, width)
    trunk = nn.Sequential(
        nn.Conv2d(channels, c1, 4, 2, 1), nn.LeakyReLU(LEAK, inplace=True),  # (B, 64, 14, 14)
        nn.Conv2d(c1, c2, 4, 2, 1, bias=False), SplitBatchNorm2d(c2), nn.LeakyReLU(LEAK, inplace=True),  # (B, 128, 7, 7)
        nn.Flatten(),
        nn.Linear(c2 * 7 * 7, fc, bias=False), SplitBatchNorm1d(fc), nn.LeakyReLU(LEAK, inplace=True),  # (B, 1024)
    )
    return Generator(in_dim, channels, width), Discriminator(trunk, fc, q_dim, width)


FAMILY = Family("mnist", "the paper's MNIST networks (28 px): G from FC1024, D conv 64, 128, FC1024", build, (28,))
