"""Identity-preserving transformations of generated images, for the categorical codes'
invariance term.

Why: with the paper's objective alone, a categorical code on MNIST often captures a style
instead of an identity (two values that both draw a "1", one upright and one slanted) and
then has to merge two digits (4 and 9) to make room; measured over 5 seeds, the default
preset's accuracy ranged from 0.65 to 0.96. Elastic-InfoGAN (Ojha et al., NeurIPS 2020)
fixes this by asking Q to predict the same categorical code from a transformed copy of
each generated image: a transformation that keeps a digit's identity (a small rotation,
shear, scale or shift, a thicker or thinner stroke) then cannot carry a category, so G has
to put something that survives it, the identity, into the categorical code. Continuous
codes are not asked to be invariant: slant and width are exactly what they should capture.

Either copy may also lose a random square (cutout). On the fakes (--fake-erase), Q must
still read G's category with part of the image hidden, so a category cannot rest on one
small stroke: a 7 with a crossbar drawn from the 2's code is a plain 7 once the bar is hidden,
which pushes G to draw crossed 7s from the 7's code. On Q's copies of real images (--erase),
Q is asked to class a crossed 7 and the same 7 without its bar alike.

Either copy may also be made darker or lighter (--brightness): on Fashion-MNIST the
categories otherwise split the tops (pullovers, coats, shirts) into a dark, a middle and a
bright group, each a third of every class; a garment keeps its identity in another colour,
so a category that reads brightness cannot survive the term.

Either copy may also have its ink raised to a power (--gamma): a power below 1 lifts a dark
garment's greys toward white and flattens its texture, one above 1 darkens a bright one's, which
no gain can do (a gain keeps the ratios between a garment's greys, the dark tops' texture). On
Fashion-MNIST it took brightness out of the tops at some seeds and the freed category went to a
second kind of bag instead (docs/studies/fashion-mnist.md), so no preset turns it on.

Either copy may also be blurred (--blur): on Fashion-MNIST the categories that brightness and
powers did not break up are a fabric's texture (plain tops in one category, patterned, checked
and printed ones in another, whatever the garment), and an exact brightness normalisation of
real images leaves 97-98% of the tops in their category (docs/studies/fashion-mnist.md). A blur wipes a print or a
check out and keeps a garment's outline: a category that reads the texture cannot survive it.
Measured, it took the fabric out of one seed's tops of two, and that category went to a second
kind of bag instead (docs/studies/fashion-mnist.md), so no preset turns it on.

The stroke morphology (--morph, its chance) was made for digits, whose identity survives a
thicker or thinner pen; --morph 0 turns it off for images that have no strokes. Mirroring
(--flip) suits classes that do not depend on a left or right side; on Fashion-MNIST, whose
shoes all point left, it cost the shoes their categories at one seed of two (docs/studies/fashion-mnist.md).

Random parameters come from the caller's torch.Generator (the trainer's latent generator),
so a resumed run draws the same transformations as an uninterrupted one. Everything here
is differentiable in the images, so the invariance term reaches G as well as Q.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """The ranges of the random transformation (the defaults suit 28-32 px digits)."""

    rotate_deg: float = 15.0
    shear_deg: float = 15.0
    scale: float = 0.1  # isotropic zoom in [1 - scale, 1 + scale]
    shift_px: float = 2.0
    morph_p: float = 0.5  # chance of a (half-strength) 3x3 dilation or erosion, half each

    def scaled(self, strength: float) -> "Augmentation":
        """These ranges of rotation, shear, zoom and shift times `strength` (0: none). The draws
        are the same whatever it is, so a run at 1 draws what it drew before the option."""
        return replace(self, rotate_deg=self.rotate_deg * strength, shear_deg=self.shear_deg * strength,
                       scale=self.scale * strength, shift_px=self.shift_px * strength)

    def sample(self, n: int, image_size: int, generator: torch.Generator | None = None, device=None):
        """(theta (n, 2, 3) affine matrices for affine_grid, morph (n,) in {-1, 0, 1})."""
        u = torch.rand(n, 5, generator=generator, device=device) * 2 - 1  # (n, 5) in [-1, 1)
        rot, shear = u[:, 0] * math.radians(self.rotate_deg), u[:, 1] * math.radians(self.shear_deg)
        scale = 1 + u[:, 2] * self.scale
        shift = u[:, 3:5] * (2 * self.shift_px / image_size)  # affine_grid's coordinates span 2
        cos, sin, tan = torch.cos(rot), torch.sin(rot), torch.tan(shear)
        # output -> input map: rotation @ horizontal shear, divided by the zoom
        theta = torch.stack([
            torch.stack([cos, cos * tan - sin, shift[:, 0]], 1),
            torch.stack([sin, sin * tan + cos, shift[:, 1]], 1),
        ], 1)
        theta[:, :, :2] /= scale[:, None, None]
        r = torch.rand(n, generator=generator, device=device)
        morph = torch.where(r < self.morph_p / 2, -1, torch.where(r < self.morph_p, 1, 0))
        return theta, morph

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        theta, morph = self.sample(len(images), images.shape[-1], generator, images.device)
        return apply(images, theta, morph)


def sample_boxes(n: int, image_size: int, side: int, generator: torch.Generator | None = None, device=None):
    """(n, 4) squares of `side` pixels, [x0, y0, x1, y1), placed uniformly inside the image."""
    corner = torch.randint(0, image_size - side + 1, (n, 2), generator=generator, device=device)
    return torch.cat([corner, corner + side], 1)


def sample_gains(n: int, brightness: float, generator: torch.Generator | None = None, device=None):
    """(n,) brightness gains, log-uniform in [1 / (1 + brightness), 1 + brightness]."""
    u = torch.rand(n, generator=generator, device=device) * 2 - 1
    return torch.exp(u * math.log1p(brightness))


def sample_powers(n: int, gamma: float, generator: torch.Generator | None = None, device=None):
    """(n,) powers for the ink, log-uniform in [1 / (1 + gamma), 1 + gamma] (see raise_ink)."""
    return sample_gains(n, gamma, generator, device)


GAMMA_EPS = 0.01  # raise_ink's offset: the slope of u ** p at u = 0 is infinite for p < 1


def raise_ink(u: torch.Tensor, powers: torch.Tensor) -> torch.Tensor:
    """Ink u in [0, 1] (B, C, H, W) to the row's power, offset so its gradient stays finite at
    the background: ((u + e) ** p - e ** p) / ((1 + e) ** p - e ** p), which keeps 0 at 0 and
    1 at 1 and is u itself for p = 1."""
    p = powers.to(u.dtype).view(-1, 1, 1, 1)
    e = GAMMA_EPS
    floor = e ** p  # (B, 1, 1, 1): where u = 0 lands before the shift
    return ((u + e) ** p - floor) / ((1 + e) ** p - floor)


BLUR_RADIUS = 3  # the blur's kernel spans 2 * 3 + 1 pixels: two standard deviations of the widest blur
MAX_BLUR = 1.5  # px, the widest standard deviation that radius holds


def sample_blurs(n: int, blur: float, generator: torch.Generator | None = None, device=None):
    """(n,) blur standard deviations in pixels, uniform in [0, blur] (see blur_ink)."""
    return torch.rand(n, generator=generator, device=device) * blur


def blur_ink(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (B, C, H, W), each row blurred by a Gaussian of its own standard
    deviation (pixels, <= MAX_BLUR; 0 leaves the row as it was), the background beyond the
    border read as background. Separable, one grouped convolution per axis."""
    b, c, h, w = images.shape
    offsets = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, device=images.device, dtype=torch.float32)
    s = sigmas.float().clamp(min=1e-2).view(-1, 1)  # a 0.01 px Gaussian is a delta to 1e-300
    kernel = torch.exp(-0.5 * (offsets / s) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0).to(images.dtype)  # (B * C, 2r + 1)
    ink = (images + 1).reshape(1, b * c, h, w)  # zero padding is then the background
    ink = F.conv2d(ink, kernel.view(b * c, 1, -1, 1), padding=(BLUR_RADIUS, 0), groups=b * c)
    ink = F.conv2d(ink, kernel.view(b * c, 1, 1, -1), padding=(0, BLUR_RADIUS), groups=b * c)
    return ink.view(b, c, h, w) - 1


def sample_flips(n: int, p: float, generator: torch.Generator | None = None, device=None):
    """(n,) booleans, each True with chance p: which copies are mirrored (see mirror)."""
    return torch.rand(n, generator=generator, device=device) < p


def mirror(theta: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """theta with the rows that flips selects mirrored left to right: theta maps output to
    input coordinates, so negating its x coefficients makes output column x read what the
    plain warp puts at column -x (the warped copy, mirrored)."""
    sign = torch.where(flips, -1.0, 1.0).to(theta.dtype).view(-1, 1, 1)
    return torch.cat([theta[:, :, :1] * sign, theta[:, :, 1:]], 2)


def apply(images: torch.Tensor, theta: torch.Tensor, morph: torch.Tensor, boxes: torch.Tensor | None = None,
          gains: torch.Tensor | None = None, powers: torch.Tensor | None = None,
          blurs: torch.Tensor | None = None) -> torch.Tensor:
    """Warp images in [-1, 1] (background -1) by theta, then dilate (+1) or erode (-1) the
    bright strokes of the rows morph selects, then scale each row's distance from the
    background by its gain (sample_gains), if given, clipped at white, then raise its ink to
    its power (raise_ink), if given, then blur it (blur_ink), if given, then set each row's box
    (sample_boxes), if given, to the background. Shapes are kept: (B, C, H, W)."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    # grid_sample pads with 0, so warp (x + 1) to pad with the background value -1
    warped = F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    # half-strength 3x3 morphology: a full erosion wipes out MNIST's thinnest strokes.
    # dilation 0.5 * (w + maxpool(w)) and erosion 0.5 * (w - maxpool(-w)) are both
    # w + 0.5 * m * (maxpool(m * w) - m * w) for m = +1 / -1 (and w itself for m = 0), so
    # one max-pool over m * w serves every row (half the pooling of computing both)
    m = morph.to(warped.dtype).view(-1, 1, 1, 1)
    signed = warped * m
    out = warped + 0.5 * m * (F.max_pool2d(signed, 3, 1, 1) - signed)
    if gains is not None:
        out = ((out + 1) * gains.to(out.dtype).view(-1, 1, 1, 1)).clamp(max=2.0) - 1
    if powers is not None:
        out = raise_ink(((out + 1) / 2).clamp(0, 1), powers) * 2 - 1
    if blurs is not None:
        out = blur_ink(out, blurs)
    if boxes is None:
        return out
    ys = torch.arange(out.shape[-2], device=out.device).view(1, -1, 1)
    xs = torch.arange(out.shape[-1], device=out.device).view(1, 1, -1)
    b = boxes.view(-1, 4, 1, 1)
    inside = (xs >= b[:, 0]) & (xs < b[:, 2]) & (ys >= b[:, 1]) & (ys < b[:, 3])  # (B, H, W)
    return torch.where(inside[:, None], torch.full_like(out, -1.0), out)
