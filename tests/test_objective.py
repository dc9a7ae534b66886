"""The terms beyond the paper's objective: Q's consistency, self-labelling and balance on real images,
the overclustering head and the instance-contrastive term on D's trunk, G's cover of the real images,
erasing part of the transformed copies Q reads, the weights' moving average and the learning-rate
schedule. Each reaches what it should and nothing else, is zero where it should be, and resumes
exactly."""

import math
import shutil

import pytest
import torch
from safetensors.torch import load_file

from infogan import InfoGAN, LatentSpec
from infogan.augment import Augmentation
from infogan.augment import apply as apply_augmentation
from infogan.cli import main
from infogan.config import resolve
from infogan.ema import EMA
from infogan.errors import InfoGANError
from infogan.losses import (balance_loss, consistency_loss, cover_loss, instance_contrast_loss, overcluster_loss,
                            self_label_loss)
from infogan.optim import lr_factor
from infogan.run import Run
from infogan.step import Stepper, draw_step_inputs, overcluster_head

SPEC = LatentSpec.parse("cat4,cont1")


def logits(classes, confident=20.0):
    """Q outputs whose categorical part puts `confident` logits on the given classes."""
    q = torch.zeros(len(classes), SPEC.q_dim)
    q[torch.arange(len(classes)), classes] = confident
    return q


def test_consistency_is_minus_log_k_for_balanced_agreement_and_zero_without_information():
    balanced = torch.arange(4).repeat(16)
    assert consistency_loss(SPEC, logits(balanced), logits(balanced)).item() == pytest.approx(-math.log(4), abs=1e-3)
    collapsed = torch.zeros(64, dtype=torch.long)  # agreement on one class says nothing
    assert consistency_loss(SPEC, logits(collapsed), logits(collapsed)).item() == pytest.approx(0, abs=1e-3)
    uniform = torch.zeros(64, SPEC.q_dim)
    assert consistency_loss(SPEC, uniform, uniform).item() == pytest.approx(0, abs=1e-6)
    # a consistent relabelling (T(x) always one class on) informs, but the symmetrised joint
    # splits its mass over (k, k+1) and (k+1, k): half the bits, so agreeing classes are preferred
    shifted = consistency_loss(SPEC, logits(balanced), logits((balanced + 1) % 4)).item()
    assert shifted == pytest.approx(-math.log(2), abs=1e-3)
    shuffled = consistency_loss(SPEC, logits(balanced), logits(balanced[torch.randperm(64, generator=torch.Generator().manual_seed(0))]))
    assert -math.log(4) < shuffled.item() < -0.05  # partial information in between


def test_self_labels_need_confidence_and_teach_only_the_transformed_copy():
    x_cls, tx_cls = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 1, 2, 0])
    q_x, q_tx = logits(x_cls).requires_grad_(), logits(tx_cls, 2.0).requires_grad_()
    loss = self_label_loss(SPEC, q_x, q_tx, threshold=0.95)
    assert loss.item() > 0
    loss.backward()
    assert q_x.grad.abs().sum() == 0 and q_tx.grad.abs().sum() > 0  # the targets are not trained on
    unsure = self_label_loss(SPEC, logits(x_cls, 1.0), q_tx.detach(), threshold=0.95)
    assert unsure.item() == 0  # nothing confident enough: no target at all


def test_balance_is_zero_for_even_classes_and_log_k_for_one():
    even = torch.arange(4).repeat(8)
    assert balance_loss(SPEC, logits(even)).item() == pytest.approx(0, abs=1e-6)
    assert balance_loss(SPEC, torch.zeros(8, SPEC.q_dim)).item() == pytest.approx(0, abs=1e-6)  # unsure, yet even
    one = torch.zeros(32, dtype=torch.long)
    assert balance_loss(SPEC, logits(one)).item() == pytest.approx(math.log(4), abs=1e-3)
    # one class with half the batch: KL((1/2, 1/6, 1/6, 1/6) || uniform), by hand
    half = torch.tensor([0] * 12 + [1, 2, 3] * 4)
    expected = 0.5 * math.log(2) + 3 * (1 / 6) * math.log(4 / 6)
    assert balance_loss(SPEC, logits(half)).item() == pytest.approx(expected, abs=1e-3)
    # lambda scales it, and the continuous outputs do not enter
    spec2 = LatentSpec.parse("cat4@2,cont1")
    q = logits(half)
    q[:, -2:] = torch.randn(len(q), 2)
    assert balance_loss(spec2, q).item() == pytest.approx(2 * expected, abs=1e-3)


def test_balance_pushes_the_crowded_class_down():
    q = logits(torch.tensor([0] * 12 + [1, 2, 3] * 4), confident=2.0).requires_grad_()
    balance_loss(SPEC, q).backward()
    crowded = q.grad[:, 0]
    assert (crowded > 0).all() and (q.grad[:, 1:4].sum(1) < 0).all()  # descent lowers class 0's logits


def test_q_on_real_images_trains_the_trunk_and_q_but_not_d_head_nor_g():
    torch.manual_seed(0)
    model = InfoGAN("z8,cat10,cont2", width=0.125)
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    theta, morph = Augmentation().sample(16, 28, torch.Generator().manual_seed(1))
    _, q = model.D(torch.cat([x, apply_augmentation(x, theta, morph)]), q_groups=2)
    (consistency_loss(model.spec, q[:16], q[16:]) + self_label_loss(model.spec, q[:16], q[16:], 0.0)
     + balance_loss(model.spec, q)).backward()
    for name, module in (("trunk", model.D.trunk), ("Q head", model.D.q_head)):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()), name
    assert model.D.d_head.weight.grad is None and all(p.grad is None for p in model.G.parameters())


def test_overclustering_is_the_consistency_term_on_k_classes_that_no_code_reads():
    k = 12
    balanced = torch.arange(k).repeat(8)
    agree = torch.zeros(len(balanced), k)
    agree[torch.arange(len(balanced)), balanced] = 20.0
    assert overcluster_loss(agree, agree).item() == pytest.approx(-math.log(k), abs=1e-3)
    assert overcluster_loss(torch.zeros(8, k), torch.zeros(8, k)).item() == pytest.approx(0, abs=1e-6)
    # on a categorical code's logits it is that code's consistency term (lambda 1)
    q = logits(torch.arange(4).repeat(4), confident=1.5)
    assert overcluster_loss(q[:, :4], q.flip(0)[:, :4]).item() == pytest.approx(
        consistency_loss(SPEC, q, q.flip(0)).item(), abs=1e-6)


def test_the_overclustering_head_trains_the_trunk_and_itself_only():
    cfg = resolve("tiny", {"invariance": 1.0, "overcluster": 1.0, "overcluster_k": 30})
    torch.manual_seed(0)
    model = InfoGAN("z8,cat10,cont2", width=0.125)
    head, opt = overcluster_head(model, cfg, torch.device("cpu"))
    assert head.out_features == 30 and opt.param_groups[0]["lr"] == cfg.lr_d
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    theta, morph = Augmentation().sample(16, 28, torch.Generator().manual_seed(1))
    _, _, features = model.D(torch.cat([x, apply_augmentation(x, theta, morph)]), q_groups=2, features=True)
    over = head(features)
    overcluster_loss(over[:16], over[16:]).backward()
    for name, module in (("trunk", model.D.trunk), ("head", head)):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()), name
    assert all(p.grad is None for p in [*model.D.q_head.parameters(), *model.D.d_head.parameters(),
                                        *model.G.parameters()])
    with pytest.raises(InfoGANError, match="--overcluster reads D's trunk features; the caps networks"):
        overcluster_head(InfoGAN("z8,cat10", arch="caps", width=0.125), cfg, torch.device("cpu"))


def test_instance_contrast_known_answers():
    # each image's copy is its own direction: at a low temperature every view finds its partner
    eye = torch.eye(8)
    assert instance_contrast_loss(eye[:4], eye[:4], temperature=0.05).item() == pytest.approx(0, abs=1e-6)
    # features that say nothing: every other view is as likely, loss log(2B - 1)
    same = torch.ones(4, 3)
    assert instance_contrast_loss(same, same, temperature=0.5).item() == pytest.approx(math.log(7), abs=1e-5)
    # the partner at cosine 1, the others at cosine 0: -log(e^(1/t) / (e^(1/t) + 2B - 2)); lengths do not count
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 6))
    assert instance_contrast_loss(eye[:4], 3 * eye[:4], temperature=t).item() == pytest.approx(expected, abs=1e-5)
    # a copy nearer another image than its own is worse than no information
    assert instance_contrast_loss(eye[:4], eye[:4].roll(1, 0), temperature=0.5).item() > math.log(7)


def test_the_contrastive_term_trains_the_trunk_only():
    torch.manual_seed(0)
    model = InfoGAN("z8,cat10,cont2", width=0.125)
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    theta, morph = Augmentation().sample(16, 28, torch.Generator().manual_seed(1))
    _, _, features = model.D(torch.cat([x, apply_augmentation(x, theta, morph)]), q_groups=2, features=True)
    instance_contrast_loss(features[:16], features[16:], temperature=0.5).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.D.trunk.parameters() if p.requires_grad)
    assert all(p.grad is None for p in [*model.D.q_head.parameters(), *model.D.d_head.parameters(),
                                        *model.G.parameters()])


def test_contrast_in_the_step_is_zero_when_off_and_needs_a_trunk():
    plain, on = _stepper(consistency=1.0), _stepper(consistency=1.0, contrast=1.0)
    out = on.step_once(0)
    assert "loss_contrast" in out and out["loss_contrast"] > 0 and "loss_contrast" not in plain.step_once(0)
    assert not _same_weights(on.model.D.trunk, plain.model.D.trunk)
    alone = _stepper(contrast=1.0)  # the term alone has the trunk read real images and their copies
    assert "loss_contrast" in alone.step_once(0)
    zero = _stepper(consistency=1.0, contrast=0.0)
    zero.step_once(0)
    assert _same_weights(zero.model, plain.model)  # 0 is the plain step, draw for draw
    with pytest.raises(InfoGANError, match="--contrast compares D's trunk features; the caps networks"):
        _stepper(contrast=1.0, arch="caps", latent="z8,cat10", g_arch="family")
    with pytest.raises(InfoGANError, match="--contrast-temperature must be > 0"):
        resolve("tiny", {"contrast": 1.0, "contrast_temperature": 0.0})


def test_cover_is_each_real_images_squared_distance_to_its_nearest_drawing_and_pulls_only_that_drawing():
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert cover_loss(real, torch.tensor([[3.0, 0.0], [0.0, 0.5], [-1.0, 0.0]])).item() == pytest.approx(0, abs=1e-6)
    # unit-length rows: (1, 0) is 90 degrees from both drawings (squared distance 2), (0, 1) matches one
    fakes = torch.tensor([[0.0, 1.0], [0.0, 5.0], [-1.0, 0.0]], requires_grad=True)
    real = real.requires_grad_()
    loss = cover_loss(real, fakes)
    assert loss.item() == pytest.approx((2 + 0) / 2, abs=1e-6)
    loss.backward()
    assert real.grad is None  # the real images' features are constants
    assert fakes.grad[0].abs().sum() > 0 and fakes.grad[2].abs().sum() == 0  # the far drawing is left alone
    # (drawing 1 is as near to (1, 0) as drawing 0 is; min picks the first)


def test_cover_trains_g_only_and_leaves_ds_update_as_it_is():
    plain, covered = _stepper(consistency=1.0), _stepper(consistency=1.0, cover=1.0)
    out = covered.step_once(0)
    assert "loss_cover" in out and out["loss_cover"] > 0 and "loss_cover" not in plain.step_once(0)
    assert _same_weights(covered.model.D, plain.model.D)  # the term enters G's phase only
    assert not _same_weights(covered.model.G, plain.model.G)
    ink = _stepper(consistency=1.0, cover=1.0, cover_space="pixels")
    assert ink.step_once(0)["loss_cover"] > 0
    assert _same_weights(ink.model.D, plain.model.D)
    assert not _same_weights(ink.model.G, covered.model.G)
    zero = _stepper(consistency=1.0, cover=0.0)
    zero.step_once(0)
    assert _same_weights(zero.model, plain.model)  # 0 is the plain step, draw for draw
    with pytest.raises(InfoGANError, match="--cover compares D's trunk features; the caps networks"):
        _stepper(cover=1.0, arch="caps", latent="z8,cat10", g_arch="family")
    _stepper(cover=1.0, cover_space="pixels", arch="caps", latent="z8,cat10", g_arch="family")  # ink needs no trunk
    with pytest.raises(InfoGANError, match="--cover must be >= 0"):
        resolve("tiny", {"cover": -1.0})


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _stepper(**options):
    cfg = resolve("tiny", {"invariance": 1.0, **options})
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return Stepper(cfg, images, torch.device("cpu"))


def test_the_terms_are_off_by_default_and_change_the_step_when_on():
    plain = _stepper()
    assert plain.step_once(0).keys().isdisjoint({"loss_consistency", "loss_self_label", "loss_balance"})
    on = _stepper(consistency=1.0, self_label=1.0, self_label_threshold=0.1, balance=1.0)
    out = on.step_once(0)
    assert {"loss_consistency", "loss_self_label", "loss_balance"} <= out.keys() and out["loss_self_label"] > 0
    assert plain.over is None and on.over is None and "loss_overcluster" not in out
    over = _stepper(overcluster=1.0, overcluster_k=20)  # the head alone has Q's trunk read real images
    before = over.over.weight.detach().clone()
    assert "loss_overcluster" in over.step_once(0) and not torch.equal(over.over.weight, before)
    alone = _stepper(balance=1.0)  # the balance term alone has Q read real images
    assert "loss_balance" in alone.step_once(0) and alone.step_once(1)["loss_balance"] >= 0

    def real_aug(stepper):
        return draw_step_inputs(stepper.model, stepper.cfg, stepper.latent_gen, stepper.device)["real_aug"]

    assert real_aug(_stepper(consistency=1.0, erase=8))[2] is not None and real_aug(_stepper(consistency=1.0))[2] is None
    # a weight of 0 is the plain step, draw for draw
    same = _stepper(consistency=0.0, self_label=0.0, balance=0.0, overcluster=0.0)
    same.step_once(0)
    assert _same_weights(same.model, plain.model)


def test_q_fakes_weighs_what_d_phase_learns_from_the_fakes_categories_and_never_what_g_learns():
    def after_one_step(**options):
        stepper = _stepper(consistency=1.0, **options)
        stepper.step_once(0)
        return stepper.model

    # at 0, D's phase reads no categorical loss on the fakes: the invariance weight (a multiple of
    # those losses) leaves D's update as it is, and still reaches G's (its phase keeps weight 1)
    base, other = after_one_step(q_fakes=0.0), after_one_step(q_fakes=0.0, invariance=3.0)
    assert _same_weights(base.D, other.D) and not _same_weights(base.G, other.G)
    # above 0 they reach D's phase again, and 1 is the paper's step, draw for draw
    assert not _same_weights(after_one_step(q_fakes=0.5).D, after_one_step(q_fakes=0.5, invariance=3.0).D)
    assert not _same_weights(base.D, after_one_step(q_fakes=0.5).D)
    assert _same_weights(after_one_step(q_fakes=1.0), after_one_step())


@pytest.mark.parametrize("options, message", [
    ({"q_fakes": 1.5, "consistency": 1.0}, "--q-fakes must be in"),
    ({"q_fakes": 0.5}, "--q-fakes below 1 lets Q learn its classes from real images"),
])
def test_q_fakes_out_of_range_or_without_a_real_image_term_is_a_one_line_error(options, message):
    with pytest.raises(InfoGANError, match=message):
        resolve("tiny", {"invariance": 1.0, **options})


def test_fake_erase_hides_a_square_of_the_transformed_fakes_and_reaches_g_through_the_invariance_term():
    def fake_aug(stepper):
        return draw_step_inputs(stepper.model, stepper.cfg, stepper.latent_gen, stepper.device)["aug"]

    assert fake_aug(_stepper(fake_erase=8))[2] is not None and fake_aug(_stepper())[2] is None
    # the boxes are drawn after the transformation: the fakes and their transformation are the same draws
    erased, plain = fake_aug(_stepper(fake_erase=8)), fake_aug(_stepper())
    assert torch.equal(erased[0], plain[0]) and torch.equal(erased[1], plain[1])
    assert ((erased[2][:, 2:] - erased[2][:, :2]) == 8).all()
    a, b = _stepper(fake_erase=8), _stepper()
    out_a, out_b = a.step_once(0), b.step_once(0)
    assert not torch.equal(out_a["loss_invariance"], out_b["loss_invariance"])  # Q reads erased copies
    assert not _same_weights(a.model.G, b.model.G)


def test_erase_start_trains_the_run_without_erasing_until_its_step_then_erases_both_copies():
    late = _stepper(fake_erase=8, erase=6, consistency=1.0, erase_start=0.5, max_steps=4)
    plain = _stepper(consistency=1.0, max_steps=4)
    assert [late.erasing(s) for s in range(4)] == [False, False, True, True]
    for step in range(2):  # before the start: the run without erasing, draw for draw
        late.step_once(step), plain.step_once(step)
    assert _same_weights(late.model, plain.model)
    inputs = draw_step_inputs(late.model, late.cfg, late.latent_gen, late.device, erasing=late.erasing(2))
    assert ((inputs["aug"][2][:, 2:] - inputs["aug"][2][:, :2]) == 8).all()
    assert ((inputs["real_aug"][2][:, 2:] - inputs["real_aug"][2][:, :2]) == 6).all()
    with pytest.raises(InfoGANError, match="--erase-start delays --erase and --fake-erase"):
        resolve("tiny", {"invariance": 1.0, "erase_start": 0.5})
    with pytest.raises(InfoGANError, match=r"--erase-start must be in \[0, 1\)"):
        resolve("tiny", {"invariance": 1.0, "fake_erase": 8, "erase_start": 1.0})


def test_brightness_draws_a_gain_per_copy_after_the_rest_and_reaches_g_and_the_real_terms():
    def inputs(stepper):
        return draw_step_inputs(stepper.model, stepper.cfg, stepper.latent_gen, stepper.device)

    lit, plain = inputs(_stepper(brightness=1.0, consistency=1.0)), inputs(_stepper(consistency=1.0))
    assert plain["aug"][3] is None and plain["real_aug"][3] is None
    # the fakes' transformation is the same draw, its gain drawn after it
    assert torch.equal(lit["aug"][0], plain["aug"][0]) and torch.equal(lit["aug"][1], plain["aug"][1])
    for key in ("aug", "real_aug"):
        assert lit[key][3].shape == (16,) and 0.5 <= lit[key][3].min() and lit[key][3].max() <= 2.0
    assert not torch.equal(lit["aug"][3], lit["real_aug"][3])  # each copy its own gain
    a, b = _stepper(brightness=1.0), _stepper()
    out_a, out_b = a.step_once(0), b.step_once(0)
    assert not torch.equal(out_a["loss_invariance"], out_b["loss_invariance"])
    assert not _same_weights(a.model.G, b.model.G)
    c, d = _stepper(brightness=1.0, invariance=0.0, consistency=1.0), _stepper(invariance=0.0, consistency=1.0)
    assert not torch.equal(c.step_once(0)["loss_consistency"], d.step_once(0)["loss_consistency"])


@pytest.mark.parametrize("option, slot, low, high, before", [
    ("gamma", 4, 0.5, 2.0, {}),  # a power log-uniform in [1/2, 2]
    ("blur", 5, 0.0, 1.0, {"gamma": 1.0}),  # a width uniform in [0, 1] px, drawn after the power
])
def test_gamma_and_blur_draw_one_number_per_copy_after_the_rest_and_reach_g_and_the_real_terms(
        option, slot, low, high, before):
    def inputs(stepper):
        return draw_step_inputs(stepper.model, stepper.cfg, stepper.latent_gen, stepper.device)

    on, plain = inputs(_stepper(**{option: 1.0}, **before, consistency=1.0)), inputs(_stepper(**before, consistency=1.0))
    assert plain["aug"][slot] is None and plain["real_aug"][slot] is None
    for i in range(slot):  # the fakes' transformation is the same draw, this option's number drawn after it
        assert (on["aug"][i] is None and plain["aug"][i] is None) or torch.equal(on["aug"][i], plain["aug"][i])
    for key in ("aug", "real_aug"):
        assert on[key][slot].shape == (16,) and low <= on[key][slot].min() and on[key][slot].max() <= high
    assert not torch.equal(on["aug"][slot], on["real_aug"][slot])  # each copy its own
    a, b = _stepper(**{option: 1.0}), _stepper()
    assert not torch.equal(a.step_once(0)["loss_invariance"], b.step_once(0)["loss_invariance"])
    assert not _same_weights(a.model.G, b.model.G)
    c, d = _stepper(**{option: 1.0}, invariance=0.0, consistency=1.0), _stepper(invariance=0.0, consistency=1.0)
    assert not torch.equal(c.step_once(0)["loss_consistency"], d.step_once(0)["loss_consistency"])


def test_flip_and_morph_change_the_copies_draw_for_draw_and_reach_g():
    def inputs(stepper):
        return draw_step_inputs(stepper.model, stepper.cfg, stepper.latent_gen, stepper.device)

    plain, flipped, flat = (inputs(_stepper(consistency=1.0, **o)) for o in ({}, {"flip": 0.5}, {"morph": 0.0}))
    # mirroring negates the x coefficients of the rows it picks, drawn after the rest of the fakes' copy
    same = (flipped["aug"][0] == plain["aug"][0]).all(2).all(1)
    negated = (flipped["aug"][0][:, :, 0] == -plain["aug"][0][:, :, 0]).all(1)
    assert (same | negated).all() and same.any() and negated.any()
    assert torch.equal(flipped["aug"][0][:, :, 1:], plain["aug"][0][:, :, 1:])
    assert torch.equal(flipped["aug"][1], plain["aug"][1])
    for key in ("aug", "real_aug"):  # no morphology, from the same draws
        assert torch.equal(flat[key][0], plain[key][0]) and (flat[key][1] == 0).all() and (plain[key][1] != 0).any()
    assert torch.equal(flipped["z"], plain["z"])
    a, b = _stepper(flip=1.0), _stepper()
    assert not torch.equal(a.step_once(0)["loss_invariance"], b.step_once(0)["loss_invariance"])
    assert not _same_weights(a.model.G, b.model.G)


@pytest.mark.parametrize("options, message", [
    ({"overcluster": -1.0}, "--consistency, --self-label, --balance, --overcluster and --contrast must be >= 0"),
    ({"overcluster": 1.0, "overcluster_k": 1}, "--overcluster-k must be >= 2"),
    ({"flip": 0.5, "invariance": 0.0}, "--flip mirrors the transformed copies"),
    ({"flip": 1.5}, "--morph and --flip must be in"),
    ({"morph": -0.1}, "--morph and --flip must be in"),
    ({"brightness": 1.0, "invariance": 0.0}, "--brightness changes the transformed copies"),
    ({"brightness": -0.5}, "--brightness must be >= 0"),
    ({"gamma": 1.0, "invariance": 0.0}, "--gamma changes the transformed copies"),
    ({"gamma": -0.5}, "--gamma must be >= 0"),
    ({"blur": 1.0, "invariance": 0.0}, "--blur changes the transformed copies"),
    ({"blur": 2.0}, r"--blur must be in \[0, 1.5\]"),
    ({"affine": 0.5, "invariance": 0.0}, "--affine changes the transformed copies"),
    ({"affine": 2.5}, r"--affine must be in \[0, 2\]"),
    ({"erase": 6}, "--erase hides part of the real images' copies"),
    ({"fake_erase": 6, "invariance": 0.0}, "--fake-erase hides part of the transformed fakes"),
    ({"fake_erase": 28}, "--erase and --fake-erase must be >= 0 and smaller than the image"),
])
def test_erasing_without_the_term_that_reads_the_copies_is_a_one_line_error(options, message):
    with pytest.raises(InfoGANError, match=message):
        resolve("tiny", {"invariance": 1.0, **options})


def test_ema_averages_with_a_warm_up_and_is_what_is_saved(fake_mnist, tmp_path):
    model = InfoGAN("z4,cat3", width=0.125)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    before = next(ema.model.parameters()).clone()
    ema.update(model, step=0)  # warm-up: d = 1/10, so nine tenths of the way to the weights
    after, target = next(ema.model.parameters()), next(model.parameters())
    assert torch.allclose(after, before + 0.9 * (target - before))
    assert main(["train", "--preset", "tiny", "--max-steps", "6", "--ema", "0.99", "--no-progress", "--no-eval",
                 "--data-dir", str(fake_mnist), "--outdir", str(tmp_path)]) == 0
    run = Run.numbered(tmp_path)[0]
    saved = load_file(str(run.model_dir / "model.safetensors"))
    ckpt = load_file(str(run.latest_checkpoint() / "state.safetensors"))
    assert all(torch.equal(saved[k], ckpt[f"module.ema.{k}"]) for k in saved)  # the average, not the weights
    assert any(not torch.equal(saved[k], ckpt[f"model.{k}"]) for k in saved if "running" not in k)


def test_the_learning_rate_schedule():
    assert [lr_factor(s, 100, 0.0) for s in (0, 99)] == [1.0, 1.0]
    assert [lr_factor(s, 100, 0.5) for s in (0, 49, 50, 75, 100)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    stepper = _stepper(lr_decay=0.5, max_steps=10)
    for step in range(8):
        stepper.step_once(step)
    assert float(stepper.opt_g.param_groups[0]["lr"]) == pytest.approx(1e-3 * 3 / 5)


def test_a_longer_run_is_a_shorter_one_resumed_with_more_epochs_before_its_decay(fake_mnist, tmp_path):
    # (how the README's 7-epoch capsule study reused the 5-epoch runs' checkpoints at step 3,000:
    # the decay of the 5-epoch runs began at step 3,280, so until then both runs are one)
    flags = ["--preset", "tiny", "--lr-decay", "0.5", "--ema", "0.9", "--ckpt-every", "10", "--keep-ckpts", "9",
             "--no-progress", "--no-eval", "--data-dir", str(fake_mnist)]  # 20 steps per epoch
    assert main(["train", "--epochs", "3", *flags, "--outdir", str(tmp_path / "long")]) == 0  # decay from step 30
    longer = load_file(str(Run.numbered(tmp_path / "long")[0].model_dir / "model.safetensors"))
    assert main(["train", "--epochs", "2", *flags, "--outdir", str(tmp_path / "short")]) == 0  # decay from step 20
    short = Run.numbered(tmp_path / "short")[0]

    def resumed_from(step):
        copy = Run(shutil.copytree(short.path, tmp_path / f"from-{step}"))
        assert main(["train", "--resume", str(copy.checkpoints_dir / f"checkpoint-{step:06d}"), "--epochs", "3",
                     "--no-progress", "--no-eval", "--data-dir", str(fake_mnist), "--outdir", str(tmp_path)]) == 0
        return load_file(str(copy.model_dir / "model.safetensors"))

    before_decay, in_decay = resumed_from(10), resumed_from(30)
    assert all(torch.equal(longer[k], before_decay[k]) for k in longer)
    assert not all(torch.equal(longer[k], in_decay[k]) for k in longer)  # past step 20 the short run had decayed


def test_resume_stays_exact_with_every_term_on(fake_mnist, tmp_path):
    flags = ["--consistency", "1", "--self-label", "1", "--self-label-threshold", "0.2", "--balance", "1", "--overcluster", "1",
             "--overcluster-k", "7", "--contrast", "1", "--cover", "1", "--q-fakes", "0.5", "--erase", "6",
             "--fake-erase", "5", "--brightness", "1", "--gamma", "0.5", "--blur", "1", "--affine", "0.5", "--morph", "0.3", "--flip", "0.5", "--ema", "0.9",
             "--lr-decay", "0.5", "--refine-groups", "4", "--refine-margin", "0", "--no-progress", "--no-eval",
             "--data-dir", str(fake_mnist)]
    assert main(["train", "--preset", "tiny", "--max-steps", "10", "--ckpt-every", "3", *flags,
                 "--outdir", str(tmp_path)]) == 0
    run = Run.numbered(tmp_path)[0]
    # (names are cut at a length: the rest of the options is in the run's config)
    assert run.name == "00000-tiny-cons1-self1-bal1-over1-overk7-ctr1-cover1-qfake0.5-erase6-ferase5-bright1-g"
    uninterrupted = load_file(str(run.model_dir / "model.safetensors"))
    assert run.refine_file.is_file()  # the relabelling ran (and runs again after the resume)
    # (the schedule is part of the run: a resume goes on from step 6 of the same 10)
    assert main(["train", "--resume", str(run.checkpoints_dir / "checkpoint-000006"), "--outdir", str(tmp_path),
                 *flags[-4:]]) == 0
    resumed = load_file(str(run.model_dir / "model.safetensors"))
    assert all(torch.equal(uninterrupted[k], resumed[k]) for k in uninterrupted)
