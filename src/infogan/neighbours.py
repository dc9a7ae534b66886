"""The neighbour stage (--neighbour-steps): a label-free last stage that teaches Q's head that a
real training image and its nearest neighbours in D's trunk features belong to one category.

Why: on Fashion-MNIST a labelled reader of D's trunk features (each test image's 20 nearest
training images vote with their labels) reaches 0.88 while Q reads 0.70, and 84% of an
image's 20 nearest neighbours share its class (docs/studies/fashion-mnist.md, "Do D's features
hold the classes Q misses?"). Q's categories come from G's drawings; the neighbours are real
images, so agreeing with them corrects the readings where the two part. This is SCAN's
consistency loss (Van Gansbeke et al. 2020) on a finished InfoGAN, without labels.

How, for the first categorical code:
1. The training images' trunk features in eval mode (refine.trunk_and_q), and each image's
   `neighbours` nearest others by cosine (refine.cosine_nearest).
2. `steps` steps of Adam on Q's head, each over `batch_size` random images x and one random
   neighbour n of each (its batch norm normalises each step's pairs, and its running statistics
   become the real training images'), with the loss
       -log <p(x), p(n)>  -  entropy * H(mean of p(x))  +  the squared change of the other codes' outputs
   The entropy term keeps every category in use (agreement alone is met by one category for
   all); the last term holds the continuous codes' readings where they were, as refine.tune_head does.
The trunk, D's real/fake head and G are untouched, so the samples and their Frechet distance do
not change. Deterministic for a seed and a thread count; the report is neighbours.json in the
run folder.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .model import InfoGAN
from .nets.common import requiring_grad
from .refine import cosine_nearest, head_outputs, other_columns, trunk_and_q


@dataclass(frozen=True)
class NeighbourStage:
    steps: int = 3000
    entropy: float = 2.0
    neighbours: int = 20
    batch_size: int = 256
    lr: float = 1e-3


def agreement(probs: torch.Tensor, near: torch.Tensor) -> float:
    """The share of (image, neighbour) pairs whose most likely categories are the same."""
    top = probs.argmax(1)
    return round(float((top[near] == top[:, None]).float().mean()), 4)


def entropy_of_mean(p: torch.Tensor) -> torch.Tensor:
    mean = p.mean(0)
    return -(mean * mean.clamp_min(1e-8).log()).sum()


def neighbour_pairs(near: torch.Tensor, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n random images and one random neighbour of each (near: (N, k) indices): (images, neighbours)."""
    idx = torch.randint(len(near), (n,), generator=generator)
    return idx, near[idx, torch.randint(near.shape[1], (n,), generator=generator)]


def neighbour_loss(p_x: torch.Tensor, p_n: torch.Tensor, entropy: float) -> torch.Tensor:
    """SCAN's loss over pairs of class probabilities: -log <p(x), p(n)> - entropy * H(mean p(x)).
    Agreement alone is met by one category for all; the entropy term keeps every one in use."""
    return -torch.log((p_x * p_n).sum(1).clamp_min(1e-8)).mean() - entropy * entropy_of_mean(p_x)


def tune_to_neighbours(q_head: torch.nn.Module, features: torch.Tensor, q_before: torch.Tensor, cat: slice,
                       near: torch.Tensor, settings: NeighbourStage, seed: int) -> None:
    """Train q_head (train mode) so that its logits in `cat` agree across each image and its
    neighbours (near: (N, k) indices), every category stays in use, and its other outputs stay
    as q_before."""
    keep = other_columns(q_before.shape[1], cat)
    device = next(q_head.parameters()).device
    opt = torch.optim.Adam(q_head.parameters(), lr=settings.lr)
    g = torch.Generator().manual_seed(seed)
    # (the weights' average, --ema, which a run saves, keeps its parameters without gradients)
    was_training = q_head.training
    q_head.train()  # batch norm normalises each step's pairs and re-estimates its statistics on real images
    with requiring_grad(q_head, True), torch.enable_grad(), contextlib.ExitStack() as stack:
        stack.callback(q_head.train, was_training)
        for _ in range(settings.steps):
            both = torch.cat(neighbour_pairs(near, settings.batch_size, g))
            out = q_head(features[both].to(device))
            p_x, p_n = out[:, cat].softmax(1).chunk(2)
            loss = neighbour_loss(p_x, p_n, settings.entropy)
            if keep.any():
                loss = loss + F.mse_loss(out[:, keep.to(device)], q_before[both][:, keep].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def neighbour_stage(model: InfoGAN, images: torch.Tensor, settings: NeighbourStage = NeighbourStage(),
                    seed: int = 0) -> dict:
    """Tune model's Q head to agree with the training images' neighbours, in place; images are
    the real training images (uint8). Returns the report."""
    if not model.spec.categorical or settings.steps == 0:
        return {"steps": 0, "moved_images": 0}
    code = model.spec.categorical[0]
    cat = model.spec.q_slices[code.name]
    features, q_before = trunk_and_q(model.D, images.cpu())
    near = cosine_nearest(features, features, settings.neighbours, exclude_self=True)
    tune_to_neighbours(model.D.q_head, features, q_before, cat, near, settings, seed)
    q_after = head_outputs(model.D.q_head, features)
    before, after = q_before[:, cat].softmax(1), q_after[:, cat].softmax(1)
    keep = other_columns(q_before.shape[1], cat)
    other = q_before[:, keep]
    return {"code": code.name, "steps": settings.steps, "entropy": settings.entropy,
            "neighbours": settings.neighbours,
            "moved_images": int((before.argmax(1) != after.argmax(1)).sum()),
            # how far the other codes' readings moved, in their own units (a continuous code's prior
            # spans -1..1): the mean absolute change over the training images
            "other_outputs_change": round(float((q_after[:, keep] - other).abs().mean()), 4) if keep.any() else None,
            "neighbour_agreement_before": agreement(before, near), "neighbour_agreement_after": agreement(after, near),
            "category_sizes": torch.bincount(after.argmax(1), minlength=code.size).tolist()}
