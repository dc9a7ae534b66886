"""Network families, registered by name; the model's config.json records the name.

    G, D = build("mnist", in_dim, q_dim, channels=1, image_size=28, width=1.0)

A new family is one module with a `FAMILY = Family(name, help, build, image_sizes)` and one
`FAMILIES.register(...)` line below. Without q_layout, a capsule Q's q_dim outputs are one
categorical code (the supervised baseline's classifier).
"""

from ..errors import InfoGANError
from ..registry import Registry
from . import caps, dcgan, mnist, sprites
from .common import Discriminator, Family, frozen, init_weights, split_batches

FAMILIES: Registry[Family] = Registry("network family")
FAMILIES.register(mnist.FAMILY)
FAMILIES.register(dcgan.FAMILY)
FAMILIES.register(caps.FAMILY)
FAMILIES.register(caps.CAPSNET)
FAMILIES.register(sprites.FAMILY)


def family(name: str) -> Family:
    return FAMILIES.lookup(name)


# --g-arch: a family's D with another generator (28 px): the paper's MNIST G or the capsule G
G_ARCHS = ("family", *caps.GENERATORS)


def build(arch: str, in_dim: int, q_dim: int, channels: int, image_size: int, width: float = 1.0, q_layout=None,
          g_arch: str = "family"):
    fam = family(arch)
    fam.check_image_size(image_size)
    G, D = fam.build(in_dim, q_dim, channels, image_size, width, q_layout)
    if g_arch != "family":
        if g_arch not in caps.GENERATORS:
            raise InfoGANError(f"unknown generator {g_arch!r} (known: {', '.join(G_ARCHS)})")
        if image_size != 28:
            raise InfoGANError(f"--g-arch {g_arch} makes 28x28 images, not {image_size}x{image_size}")
        G = caps.GENERATORS[g_arch](in_dim, channels, width)
    return G, D


__all__ = ["FAMILIES", "G_ARCHS", "Discriminator", "Family", "build", "family", "init_weights", "split_batches"]
