"""The supervised twin: Q's network trained *with* labels, for comparison.

The classifier is exactly the path Q's categorical prediction takes: D's shared trunk and
Q's head (FC128-BN-lReLU-FC k), or for the capsule D its trunk, primary capsules and k
routed class capsules whose lengths are the class scores, trained by cross-entropy on the
training labels with D's optimiser settings. Its test accuracy is what the same encoder
reaches with supervision.

    from infogan import baseline
    result = baseline("mnist", epochs=2)   # {"test_accuracy": 0.9876, ...}
"""

from __future__ import annotations

import torch

from . import data
from .config import resolve
from .errors import InfoGANError
from .metrics.quality import fit_supervised
from .model import q_outputs
from .nets import build, family, init_weights


def train_baseline(cfg, images, labels, epochs: int, progress: bool = True):
    """D's trunk + Q's head, trained with labels at D's optimiser settings."""
    torch.manual_seed(cfg.seed)
    _, net = build(cfg.arch, 1, int(labels.max()) + 1, images.shape[1], images.shape[2], cfg.width)
    init_weights(net)
    if cfg.q_sharpness is not None:
        net.q_sharpness.fill_(cfg.q_sharpness)  # a capsule Q's (config.validate)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    return fit_supervised(net, images, labels, opt, epochs, cfg.batch_size, cfg.seed, progress, "baseline")


def baseline(preset: str = "mnist", *, epochs: int = 2, progress: bool = True, **overrides) -> dict:
    """Train the preset's encoder with labels (overrides: TrainConfig options such as seed,
    batch_size, width, data_dir) and measure it on the test split."""
    cfg = resolve(preset, {**overrides, "epochs": epochs})  # validated as a training run's: --epochs >= 1 too
    dataset = data.get(cfg.dataset)
    if not dataset.labelled or "test" not in dataset.splits:  # (before any download or decoding)
        usable = [d.name for d in data.DATASETS.values() if d.labelled and "test" in d.splits]
        raise InfoGANError(f"the baseline learns class labels and is measured on a test split: {cfg.dataset} has "
                           f"{'no class labels' if not dataset.labelled else 'no test split'} "
                           f"(datasets with both: {', '.join(usable)})")
    x, y = data.load(cfg.dataset, "train", cfg.data_dir)
    xt, yt = data.load(cfg.dataset, "test", cfg.data_dir)
    net = train_baseline(cfg, x, y, epochs, progress)
    accuracy = (q_outputs(net, xt).argmax(1) == yt).sum().item() / len(yt)  # exact, not a float32 mean
    return {"dataset": cfg.dataset, "preset": preset, "epochs": epochs, "seed": cfg.seed,
            "encoder": family(cfg.arch).encoder, "test_accuracy": accuracy}
