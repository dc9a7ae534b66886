import math

import torch
import torch.nn.functional as F

from infogan.latent import LatentSpec
from infogan.losses import MIN_STD, code_nll, d_loss, g_loss, gaussian_nll, info_loss, mi_bounds


def test_gan_losses_match_bce():
    lr, lf = torch.randn(16), torch.randn(16)
    ones, zeros = torch.ones(16), torch.zeros(16)
    expect_d = F.binary_cross_entropy_with_logits(lr, ones) + F.binary_cross_entropy_with_logits(lf, zeros)
    assert torch.allclose(d_loss(lr, lf), expect_d)
    assert torch.allclose(g_loss(lf), F.binary_cross_entropy_with_logits(lf, ones))


def test_gaussian_nll_matches_torch_normal():
    c, mean, raw = torch.randn(100), torch.randn(100), torch.randn(100)
    std = F.softplus(raw) + MIN_STD
    expected = -torch.distributions.Normal(mean, std).log_prob(c)
    assert torch.allclose(gaussian_nll(c, mean, raw), expected, atol=1e-5)
    fixed = -torch.distributions.Normal(mean, torch.ones(100)).log_prob(c)
    assert torch.allclose(gaussian_nll(c, mean, None), fixed, atol=1e-5)


def test_gaussian_nll_stays_finite_for_extreme_heads():
    c = torch.zeros(4)
    out = gaussian_nll(c, torch.zeros(4), torch.tensor([-1e4, -50.0, 50.0, 1e4]))
    assert torch.isfinite(out).all()


def test_info_loss_weights_codes_by_lambda():
    spec = LatentSpec.parse("cat4@2,cont1@0.5")
    q = torch.randn(8, spec.q_dim)
    codes = {"c1": torch.randint(4, (8,)), "c2": torch.rand(8) * 2 - 1}
    total, nll = info_loss(spec, q, codes)
    assert torch.allclose(total, 2 * nll["c1"] + 0.5 * nll["c2"])
    assert torch.allclose(nll["c1"], F.cross_entropy(q[:, :4], codes["c1"]))


def test_mi_bound_reaches_entropy_for_a_perfect_q_and_never_exceeds_it():
    spec = LatentSpec.parse("cat10")
    c = torch.arange(10).repeat(10)
    perfect = F.one_hot(c, 10).float() * 100
    bound = mi_bounds(spec, code_nll(spec, perfect, {"c1": c}))["c1"]
    assert abs(bound.item() - math.log(10)) < 1e-3
    for _ in range(20):  # any Q: the bound is at most H(c)
        b = mi_bounds(spec, code_nll(spec, torch.randn(100, 10) * 5, {"c1": c}))["c1"]
        assert b.item() <= math.log(10) + 1e-6


def test_information_loss_falls_on_a_learnable_toy_problem():
    # Q must recover codes from a fixed random linear "image" of them
    torch.manual_seed(0)
    spec = LatentSpec.parse("cat5,cont2")
    proj = torch.randn(spec.dim, 32)
    q = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, spec.q_dim))
    opt = torch.optim.Adam(q.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        z, codes = spec.sample(128)
        loss, nll = info_loss(spec, q(spec.join(z, codes) @ proj), codes)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.2 * sum(losses[:20]) / 20
    assert mi_bounds(spec, nll)["c1"].item() > 0.9 * math.log(5)
