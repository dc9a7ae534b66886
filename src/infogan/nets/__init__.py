"""Network families by architecture name; the model's config.json records the name.

    G, D = build("mnist", in_dim, q_dim, channels=1, image_size=28, width=1.0)

Every family takes q_layout, ("cat", K) or ("cont", n_outputs) per code in the latent spec's
order; only the capsule D reads it (its Q builds each categorical code from capsules of its
own; the others' Q head is one FC of q_dim outputs). Without it the capsule Q's q_dim
outputs are one categorical code (the supervised baseline's classifier).
"""

from . import caps, dcgan, mnist
from .common import Discriminator, init_weights, split_batches

ARCHS = {"mnist": mnist.build, "dcgan": dcgan.build, "caps": caps.build}


def build(arch: str, in_dim: int, q_dim: int, channels: int, image_size: int, width: float = 1.0, q_layout=None):
    return ARCHS[arch](in_dim, q_dim, channels, image_size, width, q_layout)


__all__ = ["ARCHS", "Discriminator", "build", "init_weights", "split_batches"]
