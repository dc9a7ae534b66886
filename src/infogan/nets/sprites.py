"""InfoGAN-CR's dSprites networks (64x64x1), small enough for a CPU.

G: FC128-BN-ReLU, FC 4x4x64-BN-ReLU, 4x4 upconv 64 s2-BN-lReLU, upconv 32 s2-BN-lReLU,
   upconv 32 s2-BN-lReLU, upconv C s2, tanh                           (B, C, 64, 64)
D: 4x4 conv 32 s2 lReLU, conv 32 s2-lReLU, conv 64 s2-lReLU, conv 64 s2-lReLU, FC128-lReLU
   -> FC 1 (D), FC128-BN-lReLU-FC (Q)
As InfoGAN-CR's code (fjxmlzn/InfoGAN-CR, InfoGAN-CR_dSprites/gan/network.py) describes its
layers, without its spectral norm in D, and with our tanh output in [-1, 1].
The contrastive regulariser's H (cr.py) is D's trunk on image pairs stacked on channels.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import LEAK, Discriminator, Family, scaled


class Generator(nn.Module):
    def __init__(self, in_dim: int, channels: int = 1, width: float = 1.0):
        super().__init__()
        fc, c64, c32 = scaled(128, width), scaled(64, width), scaled(32, width)
        self.c0 = c64
        self.fc = nn.Sequential(
            nn.Linear(in_dim, fc, bias=False), nn.BatchNorm1d(fc), nn.ReLU(inplace=True),
            nn.Linear(fc, 4 * 4 * c64, bias=False), nn.BatchNorm1d(4 * 4 * c64), nn.ReLU(inplace=True),
        )
        layers, prev = [], c64
        for c in (c64, c32, c32):  # 4 -> 8 -> 16 -> 32
            layers += [nn.ConvTranspose2d(prev, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(LEAK, True)]
            prev = c
        layers += [nn.ConvTranspose2d(prev, channels, 4, 2, 1), nn.Tanh()]  # (B, C, 64, 64)
        self.deconv = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(latent).view(-1, self.c0, 4, 4))


def trunk(channels: int, width: float = 1.0) -> tuple[nn.Module, int]:
    """(the conv stack and FC128 on 64x64 images, its output width)."""
    c32, c64, fc = scaled(32, width), scaled(64, width), scaled(128, width)
    layers, prev = [], channels
    for c in (c32, c32, c64, c64):  # 64 -> 32 -> 16 -> 8 -> 4
        layers += [nn.Conv2d(prev, c, 4, 2, 1), nn.LeakyReLU(LEAK, inplace=True)]
        prev = c
    layers += [nn.Flatten(), nn.Linear(prev * 16, fc), nn.LeakyReLU(LEAK, inplace=True)]  # (B, 128)
    return nn.Sequential(*layers), fc


def build(in_dim: int, q_dim: int, channels: int = 1, image_size: int = 64, width: float = 1.0, q_layout=None):
    body, features = trunk(channels, width)
    return Generator(in_dim, channels, width), Discriminator(body, features, q_dim, width)


FAMILY = Family("sprites", "InfoGAN-CR's dSprites networks (64 px): G from FC128, D conv 32, 32, 64, 64, FC128",
                build, (64,))
