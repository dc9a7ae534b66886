"""Network families by architecture name; the model's config.json records the name.

    G, D = build("mnist", in_dim, q_dim, channels=1, image_size=28, width=1.0)
"""

from . import dcgan, mnist
from .common import Discriminator, init_weights, split_batches

ARCHS = {"mnist": mnist.build, "dcgan": dcgan.build}


def build(arch: str, in_dim: int, q_dim: int, channels: int, image_size: int, width: float = 1.0):
    return ARCHS[arch](in_dim, q_dim, channels, image_size, width)


__all__ = ["ARCHS", "Discriminator", "build", "init_weights", "split_batches"]
