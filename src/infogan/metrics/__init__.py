"""What a model learned, measured on real held-out images and on its own samples.

Metrics are registered by name (the name on the command line and the key in metrics.json).
A new metric is one module defining a `METRIC = Metric(...)` (registry.py) and one
METRICS.register(...) line below.
"""

from . import categorical, dci, factor_vae, information, mig, mimic, quality, sap
from .clustering import cluster_scores, hungarian_match
from .information import mi_lower_bounds
from .registry import METRICS, Column, EvalContext, Metric
from .report import evaluate, evaluate_model, format_report

METRICS.register(categorical.METRIC)
METRICS.register(information.METRIC)
METRICS.register(quality.METRIC)
METRICS.register(factor_vae.METRIC)
METRICS.register(mig.METRIC)
METRICS.register(dci.METRIC)
METRICS.register(sap.METRIC)
METRICS.register(mimic.METRIC)

__all__ = ["METRICS", "Column", "EvalContext", "Metric", "cluster_scores", "evaluate", "evaluate_model",
           "format_report", "hungarian_match", "mi_lower_bounds"]
