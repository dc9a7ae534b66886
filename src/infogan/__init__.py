"""infogan: interpretable, disentangled representations without labels (Chen et al. 2016)."""

__version__ = "0.1.0"

from .latent import LatentSpec  # noqa: E402
from .model import InfoGAN  # noqa: E402

# the workflows load on first use, so that `import infogan` (and every CLI call) stays quick
_LAZY = {"train": ("trainer", "train"), "evaluate": ("metrics", "evaluate"), "sweep": ("study", "sweep"),
         "Run": ("run", "Run")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'infogan' has no attribute {name!r}")


__all__ = ["InfoGAN", "LatentSpec", "Run", "__version__", "evaluate", "sweep", "train"]
