"""An exponential moving average of the model's weights (`--ema DECAY`).

After step t the average moves toward the weights by (1 - d), d = min(decay, (1 + t) / (10 + t)):
the short warm-up keeps the random initial weights from lingering in it. Batch norm's running
statistics are copied, not averaged. GAN weights wander from step to step; the average settles,
so the saved model, the sample grids and the evaluation use it (the training step never reads it).
"""

from __future__ import annotations

import copy

import torch


class EMA:
    def __init__(self, model, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.params = list(self.model.parameters())
        self.buffers = list(self.model.buffers())

    @torch.no_grad()
    def update(self, model, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.params, list(model.parameters()), 1 - d)
        for mine, theirs in zip(self.buffers, model.buffers()):
            mine.copy_(theirs)
