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
