"""What a model learned, measured on real held-out images and on its own samples."""

from .clustering import cluster_scores, hungarian_match
from .information import mi_lower_bounds
from .report import evaluate_model

__all__ = ["cluster_scores", "evaluate_model", "hungarian_match", "mi_lower_bounds"]
