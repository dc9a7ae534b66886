import copy
import dataclasses

import pytest
import torch

from infogan.config import resolve
from infogan.losses import d_loss, g_loss, info_loss, invariance_loss
from infogan.model import InfoGAN
from infogan.optim import make_optimizers
from infogan.step import StepParts, Terms, draw_step_inputs, train_step

build_model = InfoGAN.for_training


def test_paper_shapes_and_init():
    m = InfoGAN("z62,cat10,cont2")
    z, codes = m.spec.sample(4)
    x = m(z, codes)
    assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1
    logit, q = m.D(x)
    assert logit.shape == (4,) and q.shape == (4, 14)
    w = m.D.trunk[0].weight
    assert abs(w.std().item() - 0.02) < 0.005 and abs(w.mean().item()) < 0.005
    n_g = sum(p.numel() for p in m.G.parameters())
    assert 6.5e6 < n_g < 6.8e6  # FC1024 + FC 7x7x128 + two upconvs


def test_information_loss_reaches_G_Q_and_the_shared_trunk():
    m = InfoGAN("z8,cat10,cont2", width=0.125)
    z, codes = m.spec.sample(8)
    _, q = m.D(m(z, codes))
    loss, _ = info_loss(m.spec, q, codes)
    loss.backward()
    for name, module in [("G", m.G), ("Q head", m.D.q_head), ("trunk", m.D.trunk)]:
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert all(g is not None for g in grads), name
        assert sum(g.abs().sum().item() for g in grads) > 0, name
    assert m.D.d_head.weight.grad is None  # D's real/fake head plays no part in L_I


def plain_step(model, opt_d, opt_g, x_real, z, codes, aug=None, invariance=0.0, real_aug=None, pair=None):
    """The textbook form of train_step, the oracle it is compared with: D's phase as separate
    passes over the trunk (each with its own batch norm statistics), Q's head on the fakes
    and transformed fakes as one batch (as train_step's and G's phase normalise them)."""
    from infogan.augment import apply as apply_augmentation
    from infogan.nets import split_batches
    from infogan.step import step_report

    spec, B, D = model.spec, x_real.shape[0], model.D
    x_fake = model.G(spec.join(z, codes))
    x_aug = apply_augmentation(x_fake, *aug) if aug is not None else None
    logit_real = D.d_head(D.trunk(x_real)).squeeze(1)
    h_fake = D.trunk(x_fake.detach())
    logit_fake = D.d_head(h_fake).squeeze(1)
    if aug is not None:
        h_fake = torch.cat([h_fake, D.trunk(x_aug.detach())])
    q_all = D.q_head(h_fake)
    loss_info_d, nll = info_loss(spec, q_all[:B], codes)
    loss_inv_d = invariance * invariance_loss(spec, q_all[B:], codes) if aug is not None else 0
    loss_adv_d = d_loss(logit_real, logit_fake)
    opt_d.zero_grad(set_to_none=True)
    (loss_adv_d + loss_info_d + loss_inv_d).backward()
    opt_d.step()
    skipped_d = ~torch.isfinite(loss_adv_d + loss_info_d + loss_inv_d)
    if aug is not None:
        with split_batches(D, 2):
            logit_g, q_g = D(torch.cat([x_fake, x_aug]))
        logit_g = logit_g[:B]
    else:
        logit_g, q_g = D(x_fake)
    loss_inv_g = invariance * invariance_loss(spec, q_g[B:], codes) if aug is not None else 0
    loss_info_g, _ = info_loss(spec, q_g[:B], codes)
    loss_adv_g = g_loss(logit_g)
    opt_g.zero_grad(set_to_none=True)
    (loss_adv_g + loss_info_g + loss_inv_g).backward(inputs=list(model.G.parameters()))
    opt_g.step()
    out = step_report(spec, loss_adv_d, loss_adv_g, loss_info_d, loss_inv_d if aug is not None else None, nll,
                      logit_real, logit_fake)
    out["skipped/D"], out["skipped/G"] = skipped_d.float(), (~torch.isfinite(loss_adv_g + loss_info_g)).float()
    return out


def _step(cfg, model, fuse_d, invariance=0.0):
    opt_d, opt_g = make_optimizers(model, cfg)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(cfg.batch_size, 1, 28, 28, generator=g) * 2 - 1
    cfg = dataclasses.replace(cfg, invariance=invariance)
    inputs = draw_step_inputs(model, cfg, g, torch.device("cpu"))
    if fuse_d:
        return train_step(StepParts(model, opt_d, opt_g), x, **inputs, terms=Terms(invariance=invariance))
    return plain_step(model, opt_d, opt_g, x, **inputs, invariance=invariance)


def test_training_step_moves_the_trunk_through_the_information_loss():
    """With the adversarial gradient identical, lambda changes the trunk's update."""
    cfg = resolve("tiny")
    torch.manual_seed(0)
    a = build_model(cfg)
    b = copy.deepcopy(a)
    b.spec = type(b.spec).parse(cfg.latent, lambda_cat=0.0, lambda_cont=0.0)
    _step(cfg, a, True)
    _step(cfg, b, True)
    diff = (a.D.trunk[0].weight - b.D.trunk[0].weight).abs().max().item()
    assert diff > 1e-6


@pytest.mark.parametrize("invariance", [0.0, 1.0])
def test_fused_D_pass_equals_separate_passes(invariance):
    """The optimised D phase (one batch, per-chunk BN) computes the plain one's losses and update."""
    cfg = resolve("tiny")
    torch.manual_seed(0)
    a = build_model(cfg)
    b = copy.deepcopy(a)
    la, lb = _step(cfg, a, True, invariance), _step(cfg, b, False, invariance)
    assert ("loss_invariance" in la) == (invariance > 0)
    for k in la:
        assert torch.allclose(la[k], lb[k], atol=1e-5), k
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        if va.is_floating_point():
            assert torch.allclose(va, vb, atol=1e-5), k


def test_G_phase_leaves_D_untouched():
    cfg = resolve("tiny")
    m = build_model(cfg)
    opt_d, opt_g = make_optimizers(m, cfg)
    before = {k: v.clone() for k, v in m.D.state_dict().items()}
    # lr_d = 0: any change to D's weights would have to come from the G phase
    for group in opt_d.param_groups:
        group["lr"] = 0.0
    x = torch.rand(cfg.batch_size, 1, 28, 28) * 2 - 1
    z, codes = m.spec.sample(cfg.batch_size)
    train_step(StepParts(m, opt_d, opt_g), x, z, codes)
    for k, v in m.D.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, before[k]), k


def test_invariance_term_trains_G_through_the_transformed_images():
    """With the term on, G's update differs from the plain step's (same draws otherwise)."""
    cfg = resolve("tiny")
    torch.manual_seed(0)
    a = build_model(cfg)
    b = copy.deepcopy(a)
    _step(cfg, a, True, 0.0)
    _step(cfg, b, True, 5.0)
    assert (a.G.fc[0].weight - b.G.fc[0].weight).abs().max().item() > 1e-6


def _garments(n=6, seed=0):
    """Images in [-1, 1]: a background of 0 ink and a 10x10 garment of ink 0.3-0.6 (none near
    the inked threshold), each with its own texture."""
    g = torch.Generator().manual_seed(seed)
    u = torch.zeros(n, 1, 28, 28)
    u[:, :, 9:19, 9:19] = 0.3 + 0.3 * torch.rand(n, 1, 10, 10, generator=g)
    return u * 2 - 1


def test_even_ink_brings_every_garment_to_one_mean_and_says_what_it_took_out():
    from infogan.nets.common import INK_MEAN, even_ink

    x = _garments()
    out, stats = even_ink(x)
    u, garment = (out + 1) / 2, slice(9, 19)
    assert torch.equal(u[:, :, :9], torch.zeros_like(u[:, :, :9]))  # the background stays background
    assert torch.allclose(u[:, :, garment, garment].mean((1, 2, 3)), torch.full((6,), INK_MEAN), atol=1e-5)
    mean_in = ((x + 1) / 2)[:, :, garment, garment].mean((1, 2, 3))
    assert torch.allclose(stats[:, 0], (INK_MEAN / mean_in).log(), atol=1e-5)
    assert torch.allclose(stats[:, 1], torch.full((6,), 100 / 784))
    # a darker copy of each garment is read as the same image (its gain is what differs)
    darker = ((x + 1) / 2 * 0.5) * 2 - 1
    out_dark, stats_dark = even_ink(darker)
    assert torch.allclose(out_dark, out, atol=1e-5)
    assert torch.allclose(stats_dark[:, 0] - stats[:, 0], torch.full((6,), 2.0).log(), atol=1e-5)


def test_with_even_ink_Q_cannot_see_brightness_and_D_can():
    m = InfoGAN("z8,cat10,cont2", width=0.125, even_ink=True).eval()
    x = _garments()
    darker = ((x + 1) / 2 * 0.6) * 2 - 1
    (logit, q), (logit_dark, q_dark) = m.D(x), m.D(darker)
    assert torch.allclose(q, q_dark, rtol=1e-4, atol=1e-9)  # Q's codes of a garment do not depend on its brightness
    assert torch.allclose(m.D.trunk_features(x), m.D.trunk_features(darker), atol=1e-5)
    assert (logit - logit_dark).abs().min() > 0  # D's ink head still tells them apart
    plain = InfoGAN("z8,cat10,cont2", width=0.125).eval()
    assert not torch.allclose(plain.D(x)[1], plain.D(darker)[1], rtol=1e-2, atol=0)  # without it, Q sees the difference


def test_the_ink_head_teaches_G_its_brightness_and_only_D_logit_reads_it():
    m = InfoGAN("z8,cat10,cont2", width=0.125, even_ink=True)
    z, codes = m.spec.sample(8)
    x = m(z, codes)
    logit, q = m.D(x)
    q.sum().backward(retain_graph=True)
    assert all(p.grad is None for p in m.D.ink_head.parameters())  # Q's output does not pass through it
    m.zero_grad(set_to_none=True)
    g_loss(logit).backward()
    for name, module in [("ink head", m.D.ink_head), ("G", m.G)]:
        assert sum(p.grad.abs().sum().item() for p in module.parameters()) > 0, name
    # the ink head alone reaches G: through the gain it measures
    m.zero_grad(set_to_none=True)
    x = m(z, codes)
    _, stats = __import__("infogan.nets.common", fromlist=["even_ink"]).even_ink(x)
    m.D.ink_head(stats).sum().backward()
    assert sum(p.grad.abs().sum().item() for p in m.G.parameters()) > 0


def test_even_ink_round_trips_through_a_saved_model_and_older_models_load_without_it(tmp_path):
    m = InfoGAN("z8,cat10,cont2", width=0.125, even_ink=True).eval()
    back = InfoGAN.from_pretrained(m.save_pretrained(tmp_path / "m"))
    x = _garments()
    assert back.config["even_ink"] is True
    for a, b in zip(m.D(x), back.D(x)):
        assert torch.equal(a, b)
    old = InfoGAN("z8,cat10,cont2", width=0.125).save_pretrained(tmp_path / "old")
    cfg = __import__("json").loads((old / "config.json").read_text())
    del cfg["even_ink"]  # written before the option existed
    (old / "config.json").write_text(__import__("json").dumps(cfg))
    assert not hasattr(InfoGAN.from_pretrained(old).D, "ink_head")


def test_even_ink_refuses_a_capsule_D():
    from infogan.errors import InfoGANError

    with pytest.raises(InfoGANError, match="--even-ink needs a D with a trunk"):
        InfoGAN("z8,cat10,cont2", arch="caps", width=0.125, even_ink=True)
