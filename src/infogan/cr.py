"""InfoGAN-CR's contrastive regulariser (Lin et al., ICML 2020), `--cr W --cr-start F`.

Pairs of generated images share their noise and exactly one continuous code (chosen at
random per pair); every other code is drawn afresh for each image. A second discriminator H
sees a pair stacked on channels and predicts which code was shared; G and H both minimise
that cross-entropy, so G is pushed to make each continuous code change the image in a way of
its own (a latent traversal that H can recognise). It is off for the first fraction F of the
run (InfoGAN-CR's dSprites runs: 288,000 of 322,560 steps) and on with weight W (theirs: 2)
after it; H trains only from then, so it starts from its initialisation as theirs does.

H is D's architecture (the model's network family) on 2 x channels, Q's head giving one
logit per continuous code; it trains with D's optimiser settings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .nets import build, init_weights


def pair_discriminator(model) -> nn.Module:
    """H for this model: its family's D, on image pairs, with a logit per continuous code."""
    cfg, n_cont = model.config, sum(c.kind == "cont" for c in model.spec.codes)
    if n_cont < 2:
        raise ValueError("the contrastive regulariser needs at least two continuous codes")
    _, H = build(cfg["arch"], 1, n_cont, 2 * cfg["channels"], cfg["image_size"], cfg["width"])
    init_weights(H)
    return H


def sample_pairs(spec, n: int, generator: torch.Generator, device):
    """(noise shared by each pair (n, noise), codes of the first images, of the second ones,
    which continuous code each pair shares (n,) as an index into the continuous codes)."""
    cont = [c for c in spec.codes if c.kind == "cont"]
    z = spec.sample_noise(n, generator, device)
    a, b = spec.sample_codes(n, generator, device), spec.sample_codes(n, generator, device)
    shared = torch.randint(len(cont), (n,), generator=generator, device=device)
    for j, code in enumerate(cont):
        b[code.name] = torch.where(shared == j, a[code.name], b[code.name])
    return z, a, b, shared


def cr_loss(model, H, pair) -> torch.Tensor:
    """H's cross-entropy on a batch of generated pairs (differentiable in G and in H)."""
    z, a, b, shared = pair
    spec = model.spec
    x = model.G(torch.cat([spec.join(z, a), spec.join(z, b)]))  # (2n, C, H, W): one G pass for both halves
    x_a, x_b = x.chunk(2)
    return F.cross_entropy(H(torch.cat([x_a, x_b], 1))[1].float(), shared)
