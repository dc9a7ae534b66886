"""InfoCapsGAN (28x28 images): capsule discriminators/Q and the capsule generator.

Two discriminator designs (CapsuleDiscriminator):
  light    (family `caps`): 4x4 conv 64 s2 lReLU, 4x4 conv 128 s2-BN-lReLU (B, 128, 7, 7), then
           primary capsules by a 3x3 conv s2: 16 types x 8-D on a 4x4 grid (256 capsules);
           D's logit and the continuous codes read an FC1024-BN-lReLU layer on their poses
  capsnet  (family `capsnet`, the published InfoCapsGAN): 9x9 conv 256 s1-BN-ReLU (B, 256, 20, 20),
           primary capsules by a 9x9 conv s2: 32 types x 8-D on 6x6 (1152 capsules); D's logit
           reads a capsule routed from the class capsules (a linear readout of its 16-D pose)
Both route the primary capsules to K class capsules of 16-D per categorical code (dynamic
routing, 3 iterations, gradients through all of them). The length of class capsule k is Q's
belief that class k made the image: since |v_k| = |s_k|^2 / (1 + |s_k|^2), log |s_k|^2 has
sigmoid(log |s_k|^2) = |v_k|, and Q's logits are Q_SHARPNESS * log |s_k|^2, so Q(c=k|x) is
|s_k|^(2T) normalised over the code's classes: a proper Q(c|x), and the information loss stays
the cross-entropy of the other networks (the InfoCapsGAN code's margin loss, with its constants,
gives no likelihood to bound the MI with). T = 1 (the squared lengths) is the default. T = 2
(--q-sharpness 2) makes Q surer of real images and sorts them sooner, but on 2 seeds of 5 it
locked in digits split by style that T = 1 slowly sorts out over 7 epochs (docs/studies/infocapsgan.md).
T is a buffer in the weights; models saved before it existed load with 1 (LATER_BUFFERS).

The capsule generator (CapsuleGenerator, the published one): the squashed latent -> K class
capsules of 16-D, each a linear map of it, squashed -> 1152 primary capsules of 8-D, each the
squashed sum over the classes of a linear map of each class capsule (no routing, as published)
-> their poses as (256, 6, 6) -> 10x10 upconv 256 s2-BN-ReLU (20x20) -> 9x9 upconv C, tanh.
Its two capsule maps start at the published scales, not DCGAN's (init_own_weights says why).

Routing by agreement (Sabour et al. 2017): each input capsule i predicts every output k,
u_ik = W_ik u_i; couplings c_ik = softmax_k(b_ik) start uniform, s_k = sum_i c_ik u_ik,
v_k = squash(s_k), and b_ik += u_ik . v_k sharpens them (the published code returned after
one update whatever the number of iterations asked; this runs them all).
"""

from __future__ import annotations

import logging
import sys

import torch
from torch import nn

from .common import LEAK, Family, eval_mode, SplitBatchNorm1d, SplitBatchNorm2d, per_group, scaled
from .mnist import Generator

POSE_IN, POSE_OUT = 8, 16  # primary and class capsule dimensions (CapsNet's)
ROUTING_ITERATIONS = 3
EPS = 1e-7
Q_SHARPNESS = 1.0  # T: Q's logits are T * log |s_k|^2 (the module's docstring; --q-sharpness)


def squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """|s|^2 / (1 + |s|^2) * s / |s|: a vector's direction with its length squashed into [0, 1)."""
    sq = (s * s).sum(dim, keepdim=True)
    return s * (sq / ((1 + sq) * torch.sqrt(sq + EPS)))


def routing_compile_options() -> dict:
    """inductor's options for the routing: vectors no wider than a pose (8 floats, 256 bits).

    With 16-float (AVX-512) vectors the 8-D poses fill half of each, and inductor's loop
    planner then counts the pose loop as 8 // 16 = 0 steps: it judges the 65,536 (image, input)
    pairs of a batch of 256 too few to share out and parallelises the 10-output sums of the
    backward pass instead, opening an OpenMP region in each of those 65,536 iterations. The
    routing ran 3x slower on 2 threads than on 1 that way (docs/studies/infocapsgan.md); with 8-float vectors
    it shares out the pairs and is faster on both."""
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        wide = pick_vec_isa().bit_width() > 32 * POSE_IN
    except Exception:  # an inductor without this helper: its defaults
        return {}
    return {"cpp.simdlen": 32 * POSE_IN} if wide else {}


class RoutedCapsules(nn.Module):
    """n_in input capsules (in_dim-D) -> n_out capsules (out_dim-D) by dynamic routing.
    forward returns (v (B, n_out, out_dim), log |s|^2 (B, n_out))."""

    def __init__(self, n_in: int, n_out: int, iterations: int = ROUTING_ITERATIONS, in_dim: int = POSE_IN,
                 out_dim: int = POSE_OUT):
        super().__init__()
        self.n_out, self.out_dim, self.iterations = n_out, out_dim, iterations
        # one out_dim x in_dim transform per (input, output) pair
        self.weight = nn.Parameter(torch.randn(n_in, in_dim, n_out * out_dim) * 0.05)
        self.compiled = None  # the compiled route (compile_routing); not part of the state

    def forward(self, u: torch.Tensor):
        if self.compiled is not None and torch.is_grad_enabled():
            try:
                return self.compiled(self, u)
            except Exception as e:  # no C++ compiler, say; a real error in u raises again below
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                print(f"infogan: the capsule routing runs eagerly (torch.compile failed: {first})", file=sys.stderr)
                self.compiled = None
        return self.route(u)

    def compile_routing(self) -> None:
        """Train with the routing compiled (speed.apply, --compile-routing): inductor fuses its
        elementwise products and sums, which are memory-bound here. Only where gradients are on,
        so evaluation and inference do not compile; falls back to eager if compiling fails."""
        # inductor's CPU build logs a warning that no CUDA runtime was found: not this user's business
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        # The function, not the bound method: a deep copy of the module (EMA's) routes with its
        # own weights
        self.compiled = torch.compile(RoutedCapsules.route, dynamic=False, options=routing_compile_options())

    def route(self, u: torch.Tensor):
        B, n_in, P = u.shape
        K, D = self.n_out, self.out_dim
        # u_ik = W_ik u_i is never formed (it would be B x n_in x K x 16 numbers): the routing sum
        # s_k = sum_i c_ik W_ik u_i = sum_i W_ik (c_ik u_i) is, for each output k, one matrix
        # product of the (batch, n_in * P) weighted inputs with W_k, and the agreement
        # u_ik . v_k = u_i . (W_ik^T v_k) one product of v_k with W_k^T: large products, and
        # elementwise work on B x n_in x K x P numbers only
        W = self.weight.view(n_in * P, K, D).permute(1, 0, 2)  # (K, n_in * P, D): W_k
        flat = u.reshape(B, n_in * P)
        s = (flat @ self.weight.view(n_in * P, K * D)).view(B, K, D).transpose(0, 1) / K  # uniform couplings first
        logits = None  # b_ik, as (K, B, n_in)
        for it in range(self.iterations):
            if it > 0:
                c = logits.softmax(dim=0)  # each input shares itself out over the outputs
                s = torch.bmm((c.unsqueeze(-1) * u.unsqueeze(0)).view(K, B, n_in * P), W)  # (K, B, D)
            if it + 1 < self.iterations:
                v = squash(s)
                agree = (torch.bmm(v, W.transpose(1, 2)).view(K, B, n_in, P) * u.unsqueeze(0)).sum(-1)
                logits = agree if logits is None else logits + agree
        s = s.transpose(0, 1)  # (B, K, D)
        return squash(s), torch.log((s * s).sum(-1) + EPS)


class CapsuleDiscriminator(nn.Module):
    """Conv trunk, primary capsules, one routed set of class capsules per categorical code;
    forward(x, q_from, q_groups) -> (real/fake logits (B,), Q's output (B - q_from, q_dim)) as
    common.Discriminator does. q_layout: ("cat", K) or ("cont", n_outputs) per code, in the
    latent spec's order. design: "light" or "capsnet" (the module's docstring)."""

    # models saved before q_sharpness existed read Q from the squared lengths (model.load_state)
    LATER_BUFFERS = {"q_sharpness": 1.0}

    def __init__(self, channels: int, q_layout, width: float = 1.0, design: str = "light"):
        super().__init__()
        self.design = design
        self.register_buffer("q_sharpness", torch.tensor(Q_SHARPNESS))
        if design == "light":
            c1, c2, types = scaled(64, width), scaled(128, width), scaled(16, width)
            self.trunk = nn.Sequential(
                nn.Conv2d(channels, c1, 4, 2, 1), nn.LeakyReLU(LEAK, inplace=True),  # (B, c1, 14, 14)
                nn.Conv2d(c1, c2, 4, 2, 1, bias=False), SplitBatchNorm2d(c2), nn.LeakyReLU(LEAK, inplace=True),
                nn.Conv2d(c2, types * POSE_IN, 3, 2, 1),  # (B, types * 8, 4, 4): the primary capsules' poses
            )
            self.grid = 4
        else:
            c1, types = scaled(256, width), scaled(32, width)
            self.trunk = nn.Sequential(
                nn.Conv2d(channels, c1, 9, 1), SplitBatchNorm2d(c1), nn.ReLU(inplace=True),  # (B, c1, 20, 20)
                nn.Conv2d(c1, types * POSE_IN, 9, 2),  # (B, types * 8, 6, 6): the primary capsules' poses
            )
            self.grid = 6
        self.types, n_primary = types, types * self.grid**2
        self.q_layout = [tuple(part) for part in q_layout]
        sizes = [n for kind, n in self.q_layout if kind == "cat"]
        self.classes = nn.ModuleList(RoutedCapsules(n_primary, k) for k in sizes)
        n_cont = sum(n for kind, n in self.q_layout if kind == "cont")
        self.routed_logit = design == "capsnet" and bool(sizes)
        fc, q = scaled(1024, width), scaled(128, width)
        if self.routed_logit:  # the published real/fake capsule, routed from the first code's class capsules
            self.real = RoutedCapsules(sizes[0], 1, in_dim=POSE_OUT, out_dim=POSE_OUT)
            self.d_head = nn.Linear(POSE_OUT, 1)
        if not self.routed_logit or n_cont:
            # an FC1024 layer on the primary capsules' poses, as the paper's heads read its trunk's
            # FC1024: D's logit (light design) and the continuous codes read it
            self.features = nn.Sequential(
                nn.LeakyReLU(LEAK), nn.Linear(n_primary * POSE_IN, fc, bias=False), SplitBatchNorm1d(fc),
                nn.LeakyReLU(LEAK, inplace=True))
        if not self.routed_logit:
            self.d_head = nn.Linear(fc, 1)
        self.cont_head = nn.Sequential(  # FC128-BN-lReLU-FC, as Q's head elsewhere
            nn.Linear(fc, q, bias=False), nn.BatchNorm1d(q), nn.LeakyReLU(LEAK, inplace=True),
            nn.Linear(q, n_cont)) if n_cont else None

    def poses(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_primary, 8) the primary capsules' poses, before squashing."""
        h = self.trunk(x)  # (B, types * 8, g, g): capsule type t's pose is channels 8t..8t+7 at each position
        B, g2 = h.shape[0], self.grid**2
        return h.view(B, self.types, POSE_IN, g2).transpose(2, 3).reshape(B, self.types * g2, POSE_IN)

    def primary(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_primary, 8) squashed primary capsules."""
        return squash(self.poses(x))

    def class_capsules(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K, 16) the first categorical code's class capsules (mimic mode reads these)."""
        return self.classes[0](self.primary(x))[0]

    def forward(self, x: torch.Tensor, q_from: int = 0, q_groups: int = 1):
        poses = self.poses(x)
        u = squash(poses)
        features = self.features(poses.flatten(1)) if hasattr(self, "features") else None
        routed = {}
        if self.routed_logit:  # every row needs the first code's class capsules for D's logit
            routed[0] = self.classes[0](u)
            logit = self.d_head(self.real(routed[0][0])[0][:, 0]).squeeze(1)
        else:
            logit = self.d_head(features).squeeze(1)
        cont = per_group(self.cont_head, features[q_from:], q_groups) if self.cont_head is not None else None
        parts, cat_i, cont_i = [], 0, 0
        for kind, n in self.q_layout:  # Q's output in the spec's layout
            if kind == "cat":
                # T * log |s_k|^2 from the capsules' lengths (rows before q_from are not Q's: no routing)
                log_sq = routed[cat_i][1][q_from:] if cat_i in routed else self.classes[cat_i](u[q_from:])[1]
                parts.append(self.q_sharpness * log_sq)
                cat_i += 1
            else:
                parts.append(cont[:, cont_i : cont_i + n])
                cont_i += n
        q = torch.cat(parts, 1) if parts else logit.new_zeros(len(logit) - q_from, 1)
        return logit, q


class CapsuleGenerator(nn.Module):
    """The published capsule G (the module's docstring); forward(latent) = draw(class_capsules(latent))."""

    def __init__(self, in_dim: int, channels: int = 1, width: float = 1.0, n_classes: int = 10):
        super().__init__()
        self.n_classes, self.types = n_classes, scaled(32, width)
        ch = self.types * POSE_IN
        self.to_classes = nn.Linear(in_dim, n_classes * POSE_OUT, bias=False)  # W0: a 16 x in_dim map per class
        # W1: an 8 x 16 map per (primary, class) pair, summed over the classes: one product
        self.to_primary = nn.Linear(n_classes * POSE_OUT, self.types * 36 * POSE_IN, bias=False)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(ch, scaled(256, width), 10, 2, bias=False), nn.BatchNorm2d(scaled(256, width)),
            nn.ReLU(inplace=True),  # (B, 256, 20, 20)
            nn.ConvTranspose2d(scaled(256, width), channels, 9, 1), nn.Tanh(),  # (B, C, 28, 28)
        )

    def init_own_weights(self) -> None:
        """The published scales for the two capsule maps, after the DCGAN init (init_weights).

        Its N(0, 0.02) silences this G: the class capsules come out ~6e-3 long, the primary
        capsules ~1e-6, so the first upconv's output (~5e-7) sits far below batch norm's eps and
        every image is the same flat gray; D then has nothing to tell apart and G never learns
        (docs/studies/infocapsgan.md). The InfoCapsGAN code draws W0 and W1 with std sqrt(3 / (fan_in +
        fan_out)) counted its way (16 + K + latent; 8 + 16 + 1152), which gives class capsules
        ~0.3 long and images that vary from the first step."""
        in_dim, n_primary = self.to_classes.in_features, self.types * 36
        nn.init.normal_(self.to_classes.weight, 0.0, (3 / (POSE_OUT + self.n_classes + in_dim)) ** 0.5)
        nn.init.normal_(self.to_primary.weight, 0.0, (3 / (POSE_IN + POSE_OUT + n_primary)) ** 0.5)

    def class_capsules(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, K, 16) squashed class capsules from the squashed latent."""
        return squash(self.to_classes(squash(latent)).view(-1, self.n_classes, POSE_OUT))

    def draw(self, classes: torch.Tensor) -> torch.Tensor:
        """Images from class capsules (B, K, 16): primary capsules, their poses as a (ch, 6, 6) map, upconvs."""
        B = classes.shape[0]
        primary = squash(self.to_primary(classes.flatten(1)).view(B, self.types * 36, POSE_IN))
        h = primary.view(B, self.types, 36, POSE_IN).transpose(2, 3).reshape(B, self.types * POSE_IN, 6, 6)
        return self.deconv(h)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.draw(self.class_capsules(latent))


def can_mimic(model) -> bool:
    return isinstance(model.G, CapsuleGenerator) and isinstance(model.D, CapsuleDiscriminator)


def redraw(model, images: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mimic mode: (G's redrawing of each image, the class Q reads in the image). G draws from
    D's class capsules of the image (detached: G learns to redraw what D saw, D is not trained
    through it), plus the noise z's own contribution to G's class capsules. images in D's
    range [-1, 1]; D reads them with its running batch-norm statistics."""
    spec, D, G = model.spec, model.D, model.G
    with eval_mode(D), torch.no_grad():
        seen = D.class_capsules(images)  # (B, K, 16)
    classes = seen.norm(dim=-1).argmax(1)
    noise_only = torch.cat([z, z.new_zeros(len(z), spec.code_dim)], 1)  # the latent with no code set
    pre = G.to_classes(squash(noise_only)).view(len(z), G.n_classes, POSE_OUT)
    return G.draw(squash(seen + pre)), classes


GENERATORS = {"mnist": lambda in_dim, channels, width: Generator(in_dim, channels, width),
              "caps": lambda in_dim, channels, width: CapsuleGenerator(in_dim, channels, width)}


def build(in_dim: int, q_dim: int, channels: int = 1, image_size: int = 28, width: float = 1.0, q_layout=None):
    return Generator(in_dim, channels, width), CapsuleDiscriminator(channels, q_layout or [("cat", q_dim)], width)


def build_capsnet(in_dim: int, q_dim: int, channels: int = 1, image_size: int = 28, width: float = 1.0,
                  q_layout=None):
    layout = q_layout or [("cat", q_dim)]
    classes = next((n for kind, n in layout if kind == "cat"), 10)
    return (CapsuleGenerator(in_dim, channels, width, classes),
            CapsuleDiscriminator(channels, layout, width, design="capsnet"))


FAMILY = Family("caps", "InfoCapsGAN, light (28 px): the MNIST G; a capsule D/Q, class capsules by dynamic routing",
                build, (28,), encoder="capsule D (trunk, primary capsules, routed class capsules' lengths)",
                capsule_q=True)
CAPSNET = Family("capsnet", "InfoCapsGAN as published (28 px): CapsNet D/Q (9x9 conv 256, 1152 primary capsules, "
                            "routed class capsules and real/fake capsule) and the capsule G",
                 build_capsnet, (28,), encoder="CapsNet D (9x9 conv, 1152 primary capsules, routed class capsules' lengths)",
                 capsule_q=True)
