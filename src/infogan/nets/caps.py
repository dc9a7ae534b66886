"""InfoCapsGAN: the paper's MNIST generator with a capsule discriminator/Q (28x28 images).

D: 4x4 conv 64 s2 lReLU, 4x4 conv 128 s2-BN-lReLU                       (B, 128, 7, 7)
   -> primary capsules: 3x3 conv s2 to 16 types x 8-D, squashed         (B, 256, 8)
   -> class capsules: K x 16-D per categorical code, by dynamic routing (3 iterations):
      Q's categorical code j is the lengths of its K class capsules, as logits
   D's logit (FC 1) and Q's continuous codes (FC128-BN-lReLU-FC) read the primary poses.

Routing by agreement (Sabour et al. 2017): each primary capsule i predicts every class
capsule k, u_ik = W_ik u_i; couplings c_ik = softmax_k(b_ik) start uniform, s_k = sum_i c_ik
u_ik, v_k = squash(s_k), and b_ik += u_ik . v_k sharpens them; gradients flow through every
iteration. The capsules learn what the categorical code's classes look like: the length of
capsule k is Q's belief that class k made the image. Since |v_k| = |s_k|^2 / (1 + |s_k|^2),
the logit log |s_k|^2 has sigmoid(logit) = |v_k|, so Q's softmax over a code's classes is a
proper Q(c|x) and the information loss stays the cross-entropy of the other networks (the
InfoCapsGAN code's margin loss, with its constants, gives no likelihood to bound the MI with).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import LEAK, Family, SplitBatchNorm1d, SplitBatchNorm2d, per_group, scaled
from .mnist import Generator

POSE_IN, POSE_OUT = 8, 16  # primary and class capsule dimensions (CapsNet's)
ROUTING_ITERATIONS = 3
EPS = 1e-7


def squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """|s|^2 / (1 + |s|^2) * s / |s|: a vector's direction with its length squashed into [0, 1)."""
    sq = (s * s).sum(dim, keepdim=True)
    return s * (sq / ((1 + sq) * torch.sqrt(sq + EPS)))


class RoutedCapsules(nn.Module):
    """n_in input capsules (POSE_IN-D) -> n_out capsules (POSE_OUT-D) by dynamic routing.
    forward returns (v (B, n_out, POSE_OUT), log |s|^2 (B, n_out))."""

    def __init__(self, n_in: int, n_out: int, iterations: int = ROUTING_ITERATIONS):
        super().__init__()
        self.n_out, self.iterations = n_out, iterations
        # one POSE_OUT x POSE_IN transform per (input, output) pair
        self.weight = nn.Parameter(torch.randn(n_in, POSE_IN, n_out * POSE_OUT) * 0.05)

    def forward(self, u: torch.Tensor):
        B, n_in, _ = u.shape
        # predictions u_ik = W_ik u_i, one batched product per input capsule, kept as
        # (input, batch, output, pose): the routing sums run over the leading dimension
        u_hat = torch.bmm(u.transpose(0, 1), self.weight).view(n_in, B, self.n_out, POSE_OUT)
        logits = u.new_zeros(n_in, B, self.n_out, 1)  # b_ik
        for it in range(self.iterations):
            c = logits.softmax(dim=2)  # each input shares itself out over the outputs
            s = (c * u_hat).sum(0)  # (B, n_out, POSE_OUT)
            v = squash(s)
            if it + 1 < self.iterations:
                logits = logits + (u_hat * v).sum(-1, keepdim=True)  # agreement u_ik . v_k
        return v, torch.log((s * s).sum(-1) + EPS)


class CapsuleDiscriminator(nn.Module):
    """Conv trunk, primary capsules, one routed set of class capsules per categorical code;
    forward(x, q_from) -> (real/fake logits (B,), Q's output (B - q_from, q_dim)) as
    common.Discriminator does. q_layout: ("cat", K) or ("cont", n_outputs) per code, in
    the latent spec's order. Real images (rows before q_from) skip the routing: D's logit
    does not read the class capsules."""

    def __init__(self, channels: int, q_layout, width: float = 1.0):
        super().__init__()
        c1, c2, types = scaled(64, width), scaled(128, width), scaled(16, width)
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, c1, 4, 2, 1), nn.LeakyReLU(LEAK, inplace=True),  # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, 2, 1, bias=False), SplitBatchNorm2d(c2), nn.LeakyReLU(LEAK, inplace=True),  # (B, c2, 7, 7)
            nn.Conv2d(c2, types * POSE_IN, 3, 2, 1),  # (B, types * 8, 4, 4): the primary capsules' poses
        )
        self.types, n_primary = types, types * 4 * 4
        self.q_layout = [tuple(part) for part in q_layout]
        sizes = [n for kind, n in self.q_layout if kind == "cat"]
        self.classes = nn.ModuleList(RoutedCapsules(n_primary, k) for k in sizes)
        n_cont = sum(n for kind, n in self.q_layout if kind == "cont")
        fc, q = scaled(1024, width), scaled(128, width)
        # D's logit and the continuous codes read an FC1024 layer on the primary capsules'
        # poses, as the paper's heads read its trunk's FC1024: the class capsules then carry
        # the categorical codes only, not D's real/fake decision
        self.features = nn.Sequential(
            nn.LeakyReLU(LEAK), nn.Linear(n_primary * POSE_IN, fc, bias=False), SplitBatchNorm1d(fc),
            nn.LeakyReLU(LEAK, inplace=True))
        self.d_head = nn.Linear(fc, 1)
        self.cont_head = nn.Sequential(  # FC128-BN-lReLU-FC, as Q's head elsewhere
            nn.Linear(fc, q, bias=False), nn.BatchNorm1d(q), nn.LeakyReLU(LEAK, inplace=True),
            nn.Linear(q, n_cont)) if n_cont else None

    def primary(self, x: torch.Tensor) -> torch.Tensor:
        """(B, types * 16, 8) squashed primary capsules."""
        return squash(self._poses(self.trunk(x)))

    def _poses(self, h: torch.Tensor) -> torch.Tensor:
        # h (B, types * 8, 4, 4): capsule type t's pose is channels 8t..8t+7 at each position
        B = h.shape[0]
        return h.view(B, self.types, POSE_IN, 16).transpose(2, 3).reshape(B, self.types * 16, POSE_IN)

    def forward(self, x: torch.Tensor, q_from: int = 0, q_groups: int = 1):
        poses = self._poses(self.trunk(x))
        features = self.features(poses.flatten(1))
        u = squash(poses)
        cont = per_group(self.cont_head, features[q_from:], q_groups) if self.cont_head is not None else None
        parts, cat_i, cont_i = [], 0, 0
        for kind, n in self.q_layout:  # Q's output in the spec's layout
            if kind == "cat":
                parts.append(self.classes[cat_i](u[q_from:])[1])  # log |s_k|^2: the capsule lengths' logits
                cat_i += 1
            else:
                parts.append(cont[:, cont_i : cont_i + n])
                cont_i += n
        q = torch.cat(parts, 1) if parts else features.new_zeros(len(features) - q_from, 1)
        return self.d_head(features).squeeze(1), q


def build(in_dim: int, q_dim: int, channels: int = 1, image_size: int = 28, width: float = 1.0, q_layout=None):
    return Generator(in_dim, channels, width), CapsuleDiscriminator(channels, q_layout or [("cat", q_dim)], width)


FAMILY = Family("caps", "InfoCapsGAN (28 px): the MNIST G; a capsule D/Q, class capsules by dynamic routing",
                build, (28,), encoder="capsule D (trunk, primary capsules, routed class capsules' lengths)")
