"""infogan: interpretable, disentangled representations without labels (Chen et al. 2016)."""

__version__ = "0.1.0"

from .latent import LatentSpec  # noqa: E402
from .metrics import evaluate  # noqa: E402
from .model import InfoGAN  # noqa: E402
from .run import Run  # noqa: E402
from .study import sweep  # noqa: E402
from .trainer import train  # noqa: E402

__all__ = ["InfoGAN", "LatentSpec", "Run", "__version__", "evaluate", "sweep", "train"]
