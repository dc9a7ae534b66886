import torch
import torch.nn.functional as F

from infogan.augment import (MAX_BLUR, Augmentation, apply, blur_ink, mirror, raise_ink, sample_blurs, sample_boxes,
                             sample_flips, sample_gains, sample_powers)
from infogan.latent import LatentSpec
from infogan.losses import invariance_loss


def _digits(n=6, size=28):
    x = -torch.ones(n, 1, size, size)
    x[:, :, 8:20, 12:16] = 1.0  # a bar: a "1"
    return x


def test_identity_parameters_change_nothing():
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    theta = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).repeat(4, 1, 1)
    assert torch.allclose(apply(x, theta, torch.zeros(4, dtype=torch.long)), x, atol=1e-5)


def test_shapes_range_background_and_morphology():
    x = _digits()
    out = Augmentation()(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
    assert (out[:, :, 0, :] == -1).all()  # shifting pads with the background, not grey
    ident = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).repeat(3, 1, 1)
    thin, same, thick = apply(x[:3], ident, torch.tensor([-1, 0, 1]))
    ink = lambda im: (im + 1).sum().item()  # noqa: E731
    assert ink(thin) < ink(same) < ink(thick)


def test_draws_repeat_with_the_generator_and_gradients_flow():
    aug = Augmentation()
    t1, m1 = aug.sample(8, 28, torch.Generator().manual_seed(3))
    t2, m2 = aug.sample(8, 28, torch.Generator().manual_seed(3))
    assert torch.equal(t1, t2) and torch.equal(m1, m2)
    assert set(m1.tolist()) <= {-1, 0, 1}
    x = _digits().requires_grad_()
    apply(x, t1[:6], m1[:6]).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_erasing_hides_exactly_its_box_and_nothing_else():
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    theta, morph = Augmentation().sample(5, 28, torch.Generator().manual_seed(0))
    boxes = sample_boxes(5, 28, 8, torch.Generator().manual_seed(1))
    assert (boxes[:, 2:] - boxes[:, :2] == 8).all() and boxes.min() >= 0 and boxes.max() <= 28
    plain, erased = apply(x, theta, morph), apply(x, theta, morph, boxes)
    for image, clean, (x0, y0, x1, y1) in zip(erased, plain, boxes.tolist()):
        assert (image[:, y0:y1, x0:x1] == -1).all()
        image[:, y0:y1, x0:x1] = clean[:, y0:y1, x0:x1]
        assert torch.equal(image, clean)  # outside the box, the same transformation
    corner = sample_boxes(1000, 28, 27, torch.Generator().manual_seed(2))[:, :2]
    assert set(corner.flatten().tolist()) == {0, 1}  # every placement inside the image, and only those


def test_gains_scale_the_ink_not_the_background_and_clip_at_white():
    gains = sample_gains(10000, 1.0, torch.Generator().manual_seed(0))
    assert 0.5 <= gains.min() < 0.51 and 1.98 < gains.max() <= 2.0
    assert abs(torch.log(gains).mean().item()) < 0.02  # log-uniform: as often darker as lighter
    x = -torch.ones(3, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 0.0  # mid-grey ink on the background
    ident = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).repeat(3, 1, 1)
    none = torch.zeros(3, dtype=torch.long)
    out = apply(x, ident, none, gains=torch.tensor([0.5, 1.0, 4.0]))
    assert torch.allclose(out[1], apply(x[1:2], ident[:1], none[:1])[0], atol=1e-5)
    assert torch.allclose(out[:, :, 14, 14].flatten(), torch.tensor([-0.5, 0.0, 1.0]), atol=1e-5)  # 4x grey clips at white
    assert (out[:, :, :5] == -1).all()  # the background stays the background
    x.requires_grad_()
    apply(x, ident, none, gains=torch.tensor([0.5, 1.0, 1.5])).sum().backward()
    assert torch.allclose(x.grad[:, 0, 14, 14], torch.tensor([0.5, 1.0, 1.5]), atol=1e-5)


def test_powers_lift_or_deepen_the_greys_keep_black_and_white_and_stay_differentiable():
    powers = sample_powers(10000, 1.0, torch.Generator().manual_seed(0))
    assert 0.5 <= powers.min() < 0.51 and 1.98 < powers.max() <= 2.0
    u = torch.tensor([0.0, 0.2, 0.5, 1.0]).view(1, 1, 1, 4).repeat(3, 1, 1, 1)
    out = raise_ink(u, torch.tensor([0.5, 1.0, 2.0]))
    assert torch.allclose(out[1], u[1], atol=1e-6)  # power 1: the ink as it was
    assert torch.allclose(out[:, 0, 0, 0], torch.zeros(3), atol=1e-6)  # background stays background
    assert torch.allclose(out[:, 0, 0, 3], torch.ones(3), atol=1e-6)  # white stays white
    assert (out[0, 0, 0, 1:3] > u[0, 0, 0, 1:3]).all() and (out[2, 0, 0, 1:3] < u[2, 0, 0, 1:3]).all()
    # a dark and a bright grey come closer under a power below 1: what a gain cannot do
    assert out[0, 0, 0, 2] / out[0, 0, 0, 1] < u[0, 0, 0, 2] / u[0, 0, 0, 1]
    x = -torch.ones(3, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 0.0
    x.requires_grad_()
    ident = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).repeat(3, 1, 1)
    none = torch.zeros(3, dtype=torch.long)
    out = apply(x, ident, none, powers=torch.tensor([0.5, 1.0, 2.0]))
    assert torch.allclose(out[1], apply(x[1:2], ident[:1], none[:1])[0], atol=1e-5)
    assert out[0, 0, 14, 14] > 0 > out[2, 0, 14, 14] and (out[:, :, :5] == -1).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[0, 0, 14, 14] > 0  # finite at the background too


def test_blur_spreads_a_print_keeps_the_ink_and_the_background_and_stays_differentiable():
    sigmas = sample_blurs(10000, MAX_BLUR, torch.Generator().manual_seed(0))
    assert 0 <= sigmas.min() < 0.01 and MAX_BLUR - 0.01 < sigmas.max() <= MAX_BLUR
    x = -torch.ones(3, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 0.0
    x[:, :, 10:18:2, 10:18] = 1.0  # a striped print on a grey garment
    ident = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).repeat(3, 1, 1)
    none = torch.zeros(3, dtype=torch.long)
    out = apply(x, ident, none, blurs=torch.tensor([0.0, 0.7, 1.5]))
    assert torch.allclose(out[0], apply(x[:1], ident[:1], none[:1])[0], atol=1e-6)  # 0 px: as it was
    assert torch.allclose((out + 1).sum((1, 2, 3)), (x + 1).sum((1, 2, 3)), rtol=1e-5)  # no ink made or lost
    stripes = out[:, 0, 12:16, 14].diff(dim=1).abs().mean(1)  # the print's contrast from stripe to stripe
    assert stripes[0] > stripes[1] > stripes[2] and stripes[2] < 0.1 * stripes[0]
    assert torch.allclose(out[:, :, :5], torch.full_like(out[:, :, :5], -1.0), atol=1e-6)  # far background
    # the background beyond the border is background: a garment at the edge keeps its ink
    edge = -torch.ones(1, 1, 28, 28)
    edge[..., :, :4] = 1.0
    assert torch.allclose((blur_ink(edge, torch.tensor([1.5])) + 1).sum(), (edge + 1).sum() * 0.9, rtol=0.1)
    x.requires_grad_()
    blur_ink(x, torch.tensor([0.0, 0.7, 1.5]))[:, 0, 14, 14].sum().backward()
    assert x.grad[0, 0, 14, 14] == 1 and (x.grad[0].abs().sum() == 1)  # 0 px: the pixel itself
    assert 0 < x.grad[2, 0, 14, 14] < x.grad[1, 0, 14, 14] < 1 and x.grad[2, 0, 14, 11] > 0


def test_mirroring_flips_the_warped_copy_and_only_the_chosen_rows():
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    theta, morph = Augmentation().sample(4, 28, torch.Generator().manual_seed(0))
    flips = torch.tensor([True, False, True, False])
    out, plain = apply(x, mirror(theta, flips), morph), apply(x, theta, morph)
    assert torch.allclose(out[flips], plain[flips].flip(-1), atol=1e-5)
    assert torch.equal(out[~flips], plain[~flips])
    ident = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).repeat(4, 1, 1)
    assert torch.allclose(apply(x, mirror(ident, torch.ones(4, dtype=torch.bool)), morph * 0), x.flip(-1), atol=1e-5)
    drawn = sample_flips(10000, 0.25, torch.Generator().manual_seed(1))
    assert drawn.dtype == torch.bool and 0.23 < drawn.float().mean() < 0.27


def test_the_morphology_chance_changes_what_is_drawn_not_how_much():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    t1, m1 = Augmentation(morph_p=0.0).sample(500, 28, g1)
    t2, m2 = Augmentation().sample(500, 28, g2)
    assert torch.equal(t1, t2) and (m1 == 0).all() and 0.4 < (m2 != 0).float().mean() < 0.6
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))  # the same numbers taken
    _, always = Augmentation(morph_p=1.0).sample(500, 28, torch.Generator().manual_seed(5))
    assert (always != 0).all()


def test_affine_strength_scales_the_ranges_and_not_the_draws():
    assert Augmentation().scaled(1.0) == Augmentation() and Augmentation(morph_p=0.2).scaled(1.0).morph_p == 0.2
    wide = Augmentation().scaled(2.0)
    assert (wide.rotate_deg, wide.shear_deg, wide.scale, wide.shift_px) == (30.0, 30.0, 0.2, 4.0)
    draws = {s: (g := torch.Generator().manual_seed(3), Augmentation().scaled(s).sample(200, 28, g)) for s in (0.0, 0.5, 1.0)}
    (_, (t0, m0)), (_, (t_half, m_half)), (g1, (t1, m1)) = draws[0.0], draws[0.5], draws[1.0]
    assert torch.equal(t0, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(200, 2, 3))  # no geometric change
    assert torch.equal(m0, m1) and torch.equal(m_half, m1)  # the same morphology draws whatever the strength
    assert torch.allclose(t_half[:, :, 2], 0.5 * t1[:, :, 2])  # the same draws, half the shift
    assert torch.equal(torch.rand(3, generator=draws[0.0][0]), torch.rand(3, generator=g1))  # the same numbers taken


def test_rotation_stays_in_range():
    theta, _ = Augmentation(rotate_deg=15, shear_deg=0, scale=0, shift_px=0).sample(1000, 28)
    angle = torch.rad2deg(torch.atan2(theta[:, 1, 0], theta[:, 0, 0]))
    assert angle.abs().max() <= 15.0 + 1e-4 and angle.abs().max() > 14.0


def test_invariance_loss_is_lambda_weighted_cross_entropy_of_categorical_codes_only():
    spec = LatentSpec.parse("z4,cat5@2,cont1,cat3")
    q = torch.randn(10, spec.q_dim)
    codes = {"c1": torch.randint(5, (10,)), "c2": torch.rand(10), "c3": torch.randint(3, (10,))}
    parts = spec.split_q(q)
    expected = 2 * F.cross_entropy(parts["c1"][0], codes["c1"]) + F.cross_entropy(parts["c3"][0], codes["c3"])
    assert torch.allclose(invariance_loss(spec, q, codes), expected)
    assert invariance_loss(LatentSpec.parse("z4,cont2"), torch.randn(10, 4), {"c1": torch.rand(10), "c2": torch.rand(10)}) == 0


def test_one_pool_morphology_equals_dilation_and_erosion():
    w = torch.rand(9, 1, 28, 28) * 2 - 1
    morph = torch.tensor([-1, 0, 1] * 3)
    ident = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).repeat(9, 1, 1)
    warped = apply(w, ident, torch.zeros(9, dtype=torch.long))  # the warp alone (identity)
    dilated = 0.5 * (warped + F.max_pool2d(warped, 3, 1, 1))
    eroded = 0.5 * (warped - F.max_pool2d(-warped, 3, 1, 1))
    expected = torch.where(morph.view(-1, 1, 1, 1) > 0, dilated, torch.where(morph.view(-1, 1, 1, 1) < 0, eroded, warped))
    assert torch.allclose(apply(w, ident, morph), expected, atol=1e-6)
