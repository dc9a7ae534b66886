"""Adversarial and information losses as pure functions of network outputs.

The information loss is L_I's negative: sum over codes of lambda_j * E[-log Q(c_j | x)], with
cross-entropy for categorical codes and a Gaussian negative log-likelihood for continuous
ones. H(c_j) - E[-log Q(c_j | x)] is a lower bound on I(c_j; G(z, c)) (the paper's L_I), which
we log per code so a user sees Cat(10) approach ln 10 = 2.30.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .latent import LatentSpec

# Q's std = softplus(raw) + MIN_STD: positive, smooth, and bounded away from 0 so the NLL
# cannot run to -inf on a code Q has memorised (the public versions' exp/raw variance NaNs).
MIN_STD = 0.05
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def d_loss(logit_real: torch.Tensor, logit_fake: torch.Tensor) -> torch.Tensor:
    """D's loss: -log D(x_real) - log(1 - D(x_fake))."""
    return F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()


def g_loss(logit_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss: -log D(G(z, c))."""
    return F.softplus(-logit_fake).mean()


def gaussian_nll(c: torch.Tensor, mean: torch.Tensor, raw_std: torch.Tensor | None) -> torch.Tensor:
    """Per-sample -log N(c; mean, std); std = 1 when raw_std is None (fixed-std Q)."""
    if raw_std is None:
        return 0.5 * (c - mean) ** 2 + _HALF_LOG_2PI
    std = F.softplus(raw_std) + MIN_STD
    return 0.5 * ((c - mean) / std) ** 2 + torch.log(std) + _HALF_LOG_2PI


def code_nll(spec: LatentSpec, q_out: torch.Tensor, codes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean -log Q(c_j | x) per code, in nats (float32 whatever Q's dtype)."""
    out = {}
    for code, (a, b) in zip(spec.codes, spec.split_q(q_out.float()).values()):
        c = codes[code.name]
        if code.kind == "cat":
            out[code.name] = F.cross_entropy(a, c.long())
        else:
            out[code.name] = gaussian_nll(c.float(), a, b).mean()
    return out


def info_loss(spec: LatentSpec, q_out: torch.Tensor, codes: dict[str, torch.Tensor]):
    """(sum_j lambda_j * NLL_j, per-code NLL dict) for a batch of generated images."""
    nll = code_nll(spec, q_out, codes)
    total = weighted_nll(spec, nll) if spec.codes else q_out.sum() * 0.0
    return total, nll


def weighted_nll(spec: LatentSpec, nll: dict[str, torch.Tensor], cat_weight: float = 1.0) -> torch.Tensor:
    """sum_j w_j lambda_j NLL_j, w_j = cat_weight for categorical codes and 1 for continuous ones
    (--q-fakes weighs what D's phase learns of the categories from G's drawings)."""
    return sum((cat_weight if code.kind == "cat" else 1.0) * code.lam * nll[code.name] for code in spec.codes)


def invariance_loss(spec: LatentSpec, q_out: torch.Tensor, codes: dict[str, torch.Tensor]) -> torch.Tensor:
    """sum over categorical codes of lambda_j * E[-log Q(c_j | T(x))], for Q's output on
    transformed generated images T(x) (see augment.py); continuous codes are left out."""
    parts = spec.split_q(q_out.float())
    return sum((code.lam * F.cross_entropy(parts[code.name][0], codes[code.name].long())
                for code in spec.categorical), q_out.sum() * 0.0)


def consistency_loss(spec: LatentSpec, q_x: torch.Tensor, q_tx: torch.Tensor) -> torch.Tensor:
    """sum over categorical codes of -lambda_j * I(y; y'), where y is Q's class of a real image
    x and y' its class of T(x) (IIC, Ji et al. 2019): the joint P(y, y') is the batch's mean of
    Q(y|x) Q(y'|T(x))^T, symmetrised. Maximising I rewards agreement (H(y|y') -> 0) and
    balanced classes (H(y) -> log K) at once, so agreement cannot collapse to one class."""
    a, b = spec.split_q(q_x.float()), spec.split_q(q_tx.float())
    total = q_x.sum() * 0.0
    for code in spec.categorical:
        total = total - code.lam * paired_mutual_information(a[code.name][0], b[code.name][0])
    return total


def overcluster_loss(logits_x: torch.Tensor, logits_tx: torch.Tensor) -> torch.Tensor:
    """-I(y; y') for an auxiliary head's K classes of real images x and of T(x) (IIC's
    overclustering head, with more classes than the data has): consistency_loss's term on a
    head that no code is tied to, so it shapes the shared trunk's features, not Q's classes."""
    return -paired_mutual_information(logits_x.float(), logits_tx.float())


def instance_contrast_loss(features_x: torch.Tensor, features_tx: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent (Chen et al. 2020) on D's trunk features of real images x and of their
    transformed copies T(x): each of the 2B views must pick its partner among the other 2B - 1 by
    cosine similarity / temperature. It asks the features to tell images apart by what T keeps,
    so two images that only differ by what T changes (brightness, a small shift) come together."""
    f = F.normalize(torch.cat([features_x, features_tx]).float(), dim=1)
    B = len(features_x)
    sim = (f @ f.T / temperature).fill_diagonal_(float("-inf"))  # a view is not its own partner
    partner = (torch.arange(2 * B, device=f.device) + B) % (2 * B)  # x_i's is T(x)_i and the reverse
    return F.cross_entropy(sim, partner)


def paired_mutual_information(logits_x: torch.Tensor, logits_tx: torch.Tensor) -> torch.Tensor:
    """I(y; y') of the (K, K) joint P(y, y'): the batch's mean of softmax(logits_x)^T softmax(logits_tx),
    symmetrised (IIC, Ji et al. 2019)."""
    p, pt = logits_x.softmax(1), logits_tx.softmax(1)
    joint = p.T @ pt / len(p)  # (K, K)
    joint = ((joint + joint.T) / 2).clamp_min(1e-8)
    return (joint * (joint.log() - joint.sum(1, keepdim=True).log() - joint.sum(0, keepdim=True).log())).sum()


def self_label_loss(spec: LatentSpec, q_x: torch.Tensor, q_tx: torch.Tensor, threshold: float) -> torch.Tensor:
    """sum over categorical codes of lambda_j * E[1{max Q(y|x) >= threshold} CE(Q(y|T(x)), argmax Q(y|x))]:
    Q's confident classes of real images become the targets of their transformed copies (FixMatch's
    pseudo-labels, without labels)."""
    a, b = spec.split_q(q_x.float()), spec.split_q(q_tx.float())
    total = q_x.sum() * 0.0
    for code in spec.categorical:
        confidence, target = a[code.name][0].detach().softmax(1).max(1)
        ce = F.cross_entropy(b[code.name][0], target, reduction="none")
        total = total + code.lam * (ce * (confidence >= threshold)).mean()
    return total


def balance_loss(spec: LatentSpec, q_real: torch.Tensor) -> torch.Tensor:
    """sum over categorical codes of lambda_j * KL(p || uniform) = lambda_j * (log K - H(p)), where p
    is the mean of Q(y|x) over a batch of real images: 0 when Q spreads the batch evenly over the
    K classes. IIC's H(y) term (consistency_loss) carries the same pull at weight 1; this adds to
    it, for a class that would otherwise keep another's share."""
    parts = spec.split_q(q_real.float())
    total = q_real.sum() * 0.0
    for code in spec.categorical:
        p = parts[code.name][0].softmax(1).mean(0).clamp_min(1e-8)
        total = total + code.lam * (code.entropy + (p * p.log()).sum())
    return total


def cover_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Mean over real images of the squared distance to their nearest drawing, features scaled to
    unit length (IMLE, Li & Malik 2018, within one batch): only each real image's nearest drawing
    is pulled toward it, to have G draw a style the adversarial loss lets it leave out (MNIST's
    crossed 7s; at weights 1-20 it did not: docs/studies/mnist.md, "Where the trap is"). real_features are
    constants."""
    r = F.normalize(real_features.detach().float(), dim=1)
    f = F.normalize(fake_features.float(), dim=1)
    return torch.cdist(r, f).pow(2).min(1).values.mean()


def mi_bounds(spec: LatentSpec, nll: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """H(c_j) - NLL_j per code: the variational lower bound on I(c_j; G(z, c))."""
    return {code.name: code.entropy - nll[code.name] for code in spec.codes}
