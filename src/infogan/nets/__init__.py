"""Network families by architecture name; the model's config.json records the name."""

from .mnist import Discriminator, Generator, init_weights, split_batches

ARCHS = ("mnist",)

__all__ = ["ARCHS", "Discriminator", "Generator", "init_weights", "split_batches"]
