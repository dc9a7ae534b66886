"""infogan: interpretable, disentangled representations without labels (Chen et al. 2016)."""

__version__ = "0.1.0"

from .latent import LatentSpec  # noqa: E402
from .model import InfoGAN  # noqa: E402

__all__ = ["InfoGAN", "LatentSpec", "__version__"]
