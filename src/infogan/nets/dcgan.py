"""The paper's SVHN/CelebA networks (InfoGAN appendix, Table 2), extended to 64 and 128 px.

32x32 is the paper's table exactly:
G: FC 2x2x448-BN-ReLU, 4x4 upconv 256 s2-BN-ReLU, upconv 128 s2-ReLU, upconv 64 s2-ReLU,
   upconv C s2, tanh
D: 4x4 conv 64 s2 lReLU, conv 128 s2-BN-lReLU, conv 256 s2-BN-lReLU   (the shared trunk)
   -> FC 1 (D), FC128-BN-lReLU-FC (Q)
Each doubling of the resolution adds one upconv to G and one conv (256) to D, so the
trunk always ends at 4x4x256. BN follows every hidden upconv here (the paper's table has it
after the first only; BN everywhere is what DCGAN-style nets train stably with at 64/128 px).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import LEAK, Discriminator, Family, SplitBatchNorm2d, scaled

SIZES = (32, 64, 128)


def _doublings(image_size: int) -> int:
    FAMILY.check_image_size(image_size)
    return int(math.log2(image_size // 2))  # 32 -> 4 upconvs from 2x2


class Generator(nn.Module):
    def __init__(self, in_dim: int, channels: int = 3, image_size: int = 32, width: float = 1.0):
        super().__init__()
        n = _doublings(image_size)
        chans = [scaled(c, width) for c in ([256] * (n - 4) + [256, 128, 64])]
        self.c0 = scaled(448, width)
        self.fc = nn.Sequential(nn.Linear(in_dim, 2 * 2 * self.c0, bias=False), nn.BatchNorm1d(2 * 2 * self.c0),
                                nn.ReLU(inplace=True))
        layers, prev = [], self.c0
        for c in chans:  # each doubles the resolution: 2 -> 4 -> ... -> image_size / 2
            layers += [nn.ConvTranspose2d(prev, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            prev = c
        layers += [nn.ConvTranspose2d(prev, channels, 4, 2, 1), nn.Tanh()]  # (B, C, image_size, image_size)
        self.deconv = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(latent).view(-1, self.c0, 2, 2))  # (B, 448, 2, 2) -> image


def build(in_dim: int, q_dim: int, channels: int = 3, image_size: int = 32, width: float = 1.0, q_layout=None):
    n = _doublings(image_size)
    chans = [scaled(c, width) for c in [64, 128] + [256] * (n - 3)]  # image_size -> 4x4
    layers, prev = [], channels
    for i, c in enumerate(chans):
        layers.append(nn.Conv2d(prev, c, 4, 2, 1, bias=i == 0))
        if i > 0:
            layers.append(SplitBatchNorm2d(c))
        layers.append(nn.LeakyReLU(LEAK, inplace=True))
        prev = c
    trunk = nn.Sequential(*layers, nn.Flatten())  # (B, 256 * 4 * 4)
    return Generator(in_dim, channels, image_size, width), Discriminator(trunk, prev * 16, q_dim, width)


FAMILY = Family("dcgan", "the paper's SVHN/CelebA networks (32 px), one more stage per doubling (64, 128 px)",
                build, SIZES)
