"""InfoCapsGAN's capsule D/Q: squash, routing by agreement, Q's layout, training and the CLI."""

import copy
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from infogan.cli import main
from infogan.losses import info_loss
from infogan.model import InfoGAN
from infogan.nets import split_batches
from infogan.nets.caps import Q_SHARPNESS, CapsuleDiscriminator, RoutedCapsules, squash


def test_squash_keeps_the_direction_and_squashes_the_length():
    s = torch.randn(50, 16) * torch.logspace(-2, 2, 50)[:, None]
    v = squash(s)
    n = s.norm(dim=1)
    assert torch.allclose(v.norm(dim=1), n**2 / (1 + n**2), rtol=1e-4)
    assert torch.allclose(torch.cosine_similarity(v, s, dim=1), torch.ones(50), atol=1e-5)
    assert v.norm(dim=1).max() < 1


def test_routing_couples_inputs_to_the_output_they_agree_with():
    torch.manual_seed(0)
    caps = RoutedCapsules(n_in=6, n_out=3, iterations=1)
    u = squash(torch.randn(4, 6, 8))
    v1, logit1 = caps(u)
    # one iteration: uniform couplings, so s_k is the mean prediction over the outputs' share
    u_hat = torch.einsum("bid,idk->bik", u, caps.weight).view(4, 6, 3, 16)
    s = u_hat.sum(1) / 3
    assert torch.allclose(v1, squash(s), atol=1e-6)
    # log |s|^2 is the logit of the capsule's length
    assert torch.allclose(torch.sigmoid(logit1), v1.norm(dim=-1), atol=1e-5)
    # inputs that all predict output 0 strongly: routing makes output 0 longer than uniform couplings do
    with torch.no_grad():
        caps.weight.zero_()
        caps.weight[:, :, :16] = 0.3  # every input -> a long prediction for output 0 only
        caps.weight[:, :, 16:] = torch.randn(6, 8, 32) * 0.3  # disagreeing predictions for 1 and 2
    u = squash(torch.randn(4, 6, 8).abs())
    length_uniform = caps(u)[0].norm(dim=-1)[:, 0]
    caps.iterations = 3
    length_routed = caps(u)[0].norm(dim=-1)[:, 0]
    assert (length_routed > length_uniform).all()


def test_q_output_follows_the_latent_layout():
    m = InfoGAN("z6,cat5,cont2,cat3,cont1:fixed", arch="caps", width=0.25)
    assert isinstance(m.D, CapsuleDiscriminator) and len(m.D.classes) == 2
    x = m(*m.spec.sample(8))
    logit, q = m.D(x)
    assert logit.shape == (8,) and q.shape == (8, m.spec.q_dim)
    parts = m.spec.split_q(q)
    u = m.D.primary(x)
    for name, caps in zip(("c1", "c4"), m.D.classes):  # categorical codes: their capsules' lengths, sharpened
        v, _ = caps(u)
        assert torch.allclose(torch.sigmoid(parts[name][0] / Q_SHARPNESS), v.norm(dim=-1), atol=1e-5)
    assert parts["c2"][1] is not None and parts["c5"][1] is None  # learned and fixed std
    assert m.D(x, q_from=5)[1].shape == (3, m.spec.q_dim)


def test_split_batches_equals_separate_passes_and_the_information_loss_reaches_the_trunk():
    m = InfoGAN("z8,cat10,cont2", arch="caps", width=0.25)
    a, b = torch.rand(6, 1, 28, 28) * 2 - 1, torch.rand(6, 1, 28, 28) * 2 - 1
    with split_batches(m.D, 2):
        logits, q = m.D(torch.cat([a, b]))
    assert torch.allclose(logits, torch.cat([m.D(a)[0], m.D(b)[0]]), atol=1e-5)
    # the class capsules too (Q's continuous head normalises its rows as one batch, as elsewhere)
    cat = lambda q: m.spec.split_q(q)["c1"][0]  # noqa: E731
    assert torch.allclose(cat(q), torch.cat([cat(m.D(a)[1]), cat(m.D(b)[1])]), atol=1e-5)
    z, codes = m.spec.sample(8)
    loss, _ = info_loss(m.spec, m.D(m(z, codes))[1], codes)
    loss.backward()
    for name, module in [("G", m.G), ("trunk", m.D.trunk), ("class capsules", m.D.classes)]:
        assert sum(p.grad.abs().sum().item() for p in module.parameters()) > 0, name
    assert m.D.d_head.weight.grad is None


def test_save_and_load_round_trip(tmp_path):
    m = InfoGAN("z8,cat10,cont2", arch="caps", width=0.25).eval()
    m.save_pretrained(tmp_path / "model")
    back = InfoGAN.from_pretrained(tmp_path / "model")
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(m.infer_codes(x)["c1"], back.infer_codes(x)["c1"])
    assert torch.allclose(m.generate(4, seed=1), back.generate(4, seed=1))


def test_q_is_the_sharpened_lengths_and_models_saved_before_the_sharpness_load_as_they_were(tmp_path):
    m = InfoGAN("z8,cat10", arch="caps", width=0.25).eval()
    x = torch.rand(5, 1, 28, 28)
    s_sq = m.D.classes[0](m.D.primary(x * 2 - 1))[1].exp()  # |s_k|^2 (+ EPS)
    for t in (Q_SHARPNESS, 2.0):  # the default and --q-sharpness 2: Q is |s_k|^(2T), normalised
        m.D.q_sharpness.fill_(t)
        power = s_sq**t
        assert torch.allclose(m.infer_codes(x, probs=True)["c1"], power / power.sum(1, keepdim=True), atol=1e-5)
    m.save_pretrained(tmp_path / "new")
    assert InfoGAN.from_pretrained(tmp_path / "new").D.q_sharpness.item() == 2.0  # the weights keep T
    # a model folder written before the buffer existed: its weights without it
    m.save_pretrained(tmp_path / "old")
    weights = tmp_path / "old" / "model.safetensors"
    save_file({k: v for k, v in load_file(str(weights)).items() if k != "D.q_sharpness"}, str(weights))
    old = InfoGAN.from_pretrained(tmp_path / "old")
    assert old.D.q_sharpness.item() == 1.0
    assert torch.allclose(old.infer_codes(x, probs=True)["c1"], s_sq / s_sq.sum(1, keepdim=True), atol=1e-5)
    assert torch.equal(old.infer_codes(x)["c1"], m.infer_codes(x)["c1"])  # the same classes either way


def test_train_and_baseline_through_the_cli(fake_mnist, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "--preset", "mnist-caps", "--width", "0.125", "--batch-size", "16", "--max-steps", "6",
                 "--no-progress", "--data-dir", str(fake_mnist), "--outdir", str(out)]) == 0
    run = out / "00000-mnist-caps"
    assert json.loads((run / "model" / "config.json").read_text())["arch"] == "caps"
    assert 0 <= json.loads((run / "metrics.json").read_text())["categorical"]["c1"]["accuracy"] <= 1
    capsys.readouterr()
    assert main(["baseline", "--preset", "mnist-caps", "--width", "0.125", "--epochs", "10", "--batch-size", "32",
                 "--data-dir", str(fake_mnist), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["encoder"].startswith("capsule D") and result["test_accuracy"] > 0.5


def test_q_sharpness_is_an_option_of_capsule_qs_only(fake_mnist, tmp_path, capsys):
    from infogan.baseline import train_baseline
    from infogan.config import resolve
    from infogan.errors import InfoGANError

    out = tmp_path / "runs"
    common = ["--width", "0.125", "--batch-size", "16", "--max-steps", "2", "--no-progress", "--no-eval",
              "--data-dir", str(fake_mnist), "--outdir", str(out)]
    assert main(["train", "--preset", "mnist-caps", "--q-sharpness", "2", *common]) == 0
    run = out / "00000-mnist-caps-qT2"  # the run's name says it differs from the preset
    assert InfoGAN.from_pretrained(run).D.q_sharpness.item() == 2.0  # in the saved weights
    assert main(["train", "--preset", "mnist", "--q-sharpness", "2", *common]) == 2
    assert "needs a capsule Q" in capsys.readouterr().err and len(list(out.iterdir())) == 1  # no run folder
    with pytest.raises(InfoGANError, match="must be > 0"):
        resolve("mnist-caps", {"q_sharpness": 0.0})
    cfg = resolve("mnist-caps", {"q_sharpness": 3.0, "width": 0.125, "batch_size": 8})
    net = train_baseline(cfg, torch.randint(0, 255, (16, 1, 28, 28), dtype=torch.uint8), torch.arange(16) % 10, 1,
                         progress=False)
    assert net.q_sharpness.item() == 3.0  # the supervised twin trains the same Q


def test_routing_on_a_hand_computed_case():
    """Two inputs, two outputs, 1-D poses: W makes input 0 predict (1, 0) and input 1 predict
    (0, 1) for output 0, and both predict (0, 0) for output 1; followed by hand."""
    caps = RoutedCapsules(n_in=2, n_out=2, iterations=2, in_dim=1, out_dim=2)
    with torch.no_grad():
        caps.weight.zero_()
        caps.weight[0, 0, 0] = 1.0  # u_00 = (1, 0) x u_0
        caps.weight[1, 0, 1] = 1.0  # u_10 = (0, 1) x u_1
    u = torch.tensor([[[2.0], [1.0]]])  # (B=1, 2 inputs, 1-D)
    v, logit = caps(u)
    # iteration 1: couplings 1/2 each: s_0 = ((2, 0) + (0, 1)) / 2 = (1, 0.5), s_1 = 0
    s0 = torch.tensor([1.0, 0.5])
    v0 = s0 * (s0 @ s0) / ((1 + s0 @ s0) * torch.sqrt(s0 @ s0))
    # agreement: b_00 = u_00 . v_0 = 2 v0[0], b_10 = u_10 . v_0 = v0[1]; b_i1 = 0
    c00, c10 = torch.sigmoid(2 * v0[0]), torch.sigmoid(v0[1])  # softmax over two outputs with b_i1 = 0
    s0 = torch.stack([c00 * 2, c10 * 1])
    expect = s0 * (s0 @ s0) / ((1 + s0 @ s0) * torch.sqrt(s0 @ s0))
    assert torch.allclose(v[0, 0], expect, atol=1e-6) and torch.allclose(v[0, 1], torch.zeros(2), atol=1e-6)
    assert torch.allclose(logit[0, 0], torch.log(s0 @ s0), atol=1e-5)


def test_compiled_routing_equals_the_eager_routing_and_a_copy_routes_with_its_own_weights():
    pytest.importorskip("torch._inductor")
    torch.manual_seed(0)
    caps, u = RoutedCapsules(32, 4), torch.randn(6, 32, 8).mul(0.3).requires_grad_()
    eager = caps.route(u)
    grad_eager = torch.autograd.grad(eager[0].sum() + eager[1].sum(), [u, caps.weight])
    caps.compile_routing()
    compiled = caps(u)
    assert caps.compiled is not None  # it compiled and ran, rather than falling back to eager
    grad_compiled = torch.autograd.grad(compiled[0].sum() + compiled[1].sum(), [u, caps.weight])
    for a, b in zip(eager + grad_eager, compiled + grad_compiled):
        assert torch.allclose(a, b, atol=1e-5)
    twin = copy.deepcopy(caps)  # EMA's copy of D: its compiled routing must read its own weights
    with torch.no_grad():
        twin.weight.mul_(2)
    assert torch.allclose(twin(u)[0], twin.route(u)[0], atol=1e-6)
    assert not torch.allclose(twin(u)[0], compiled[0], atol=1e-3)
    with torch.no_grad():  # evaluation and inference route eagerly
        assert torch.equal(caps(u)[0], caps.route(u)[0])


@pytest.mark.parametrize("bits, options", [(512, {"cpp.simdlen": 256}), (256, {}), (128, {})])
def test_the_routing_is_compiled_with_vectors_no_wider_than_a_pose(monkeypatch, bits, options):
    # 16-float vectors made inductor share the backward's 10-output sums between threads inside
    # a serial loop over every (image, input) pair (README, InfoCapsGAN): 8 floats, a pose, at most
    cpu_vec_isa = pytest.importorskip("torch._inductor.cpu_vec_isa")
    monkeypatch.setattr(cpu_vec_isa, "pick_vec_isa", lambda: type("ISA", (), {"bit_width": lambda self: bits})())
    asked = {}
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: asked.update(kwargs) or fn)
    RoutedCapsules(8, 3).compile_routing()
    assert asked["options"] == options and asked["dynamic"] is False


def test_routing_falls_back_to_eager_when_compiling_fails(monkeypatch, capsys):
    def no_compiler(fn, **kwargs):
        def fail(*args):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return fail
    monkeypatch.setattr(torch, "compile", no_compiler)
    caps, u = RoutedCapsules(8, 3), torch.randn(2, 8, 8)
    caps.compile_routing()
    v, log_sq = caps(u)
    assert torch.equal(v, caps.route(u)[0]) and caps.compiled is None
    err = capsys.readouterr().err
    assert err.strip() == "infogan: the capsule routing runs eagerly (torch.compile failed: no C++ compiler found)"


def test_the_capsule_generator_shapes_and_gradients():
    from infogan.nets.caps import CapsuleGenerator

    G = CapsuleGenerator(in_dim=20, channels=1, width=0.125, n_classes=10)
    latent = torch.randn(6, 20, requires_grad=True)
    classes = G.class_capsules(latent)
    assert classes.shape == (6, 10, 16) and classes.norm(dim=-1).max() < 1  # squashed
    x = G.draw(classes)
    assert x.shape == (6, 1, 28, 28) and x.abs().max() <= 1
    x.sum().backward()
    assert latent.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    # the published design, and the capsule G with any 28-px preset's D
    for arch, g in (("capsnet", "family"), ("mnist", "caps"), ("caps", "caps")):
        m = InfoGAN("z8,cat10,cont2" if arch != "capsnet" else "z8,cat10", arch=arch, g_arch=g, width=0.125)
        assert type(m.G).__name__ == "CapsuleGenerator" and m.generate(3).shape == (3, 1, 28, 28)
        assert m.D(m(*m.spec.sample(3)))[1].shape == (3, m.spec.q_dim)
    paper_g = InfoGAN("z8,cat10", arch="capsnet", g_arch="mnist", width=0.125)
    assert type(paper_g.G).__name__ == "Generator"


def test_the_capsule_g_draws_different_images_from_the_first_step():
    """With the DCGAN init alone this G's capsules were ~1e-6 long and every image the same
    flat gray, which D could not tell from another: the published design never learned."""
    torch.manual_seed(0)
    m = InfoGAN("z52,cat10", arch="capsnet")  # the published design, full width
    latent = m.spec.join(*m.spec.sample(8))
    with torch.no_grad():
        lengths = m.G.class_capsules(latent).norm(dim=-1)
        x = m.G(latent)
    assert lengths.mean() > 0.1
    assert x.std(0).mean() > 0.05  # pixels vary from latent to latent
    assert x.shape == (8, 1, 28, 28)


def test_the_published_d_decides_real_or_fake_with_a_routed_capsule():
    m = InfoGAN("z8,cat10", arch="capsnet", width=0.125)
    assert m.D.routed_logit and m.D.primary(torch.zeros(2, 1, 28, 28)).shape == (2, 4 * 36, 8)
    x = m(*m.spec.sample(4))
    logit, _ = m.D(x)
    logit.sum().backward()
    assert m.D.real.weight.grad.abs().sum() > 0 and m.D.classes[0].weight.grad.abs().sum() > 0


def test_mimic_redraws_d_capsules_of_real_images_detached():
    from infogan.nets.caps import redraw

    torch.manual_seed(0)
    m = InfoGAN("z8,cat10", arch="capsnet", width=0.125)
    real = (torch.rand(4, 1, 28, 28) * 2 - 1).requires_grad_()
    z = torch.randn(4, 8)
    drawn, classes = redraw(m, real, z)
    assert drawn.shape == (4, 1, 28, 28) and classes.shape == (4,)
    seen = m.D.eval().class_capsules(real)
    assert torch.equal(classes, seen.norm(dim=-1).argmax(1))  # Q's class of each real image
    m.D.train()
    drawn.sum().backward()
    assert real.grad is None and all(p.grad is None for p in m.D.parameters())  # D's capsules are detached
    assert all(p.grad is not None for p in m.G.parameters())  # G learns to redraw them
    other, _ = redraw(m, real.detach().flip(0), z)  # other images: other redrawings
    assert not torch.allclose(other, drawn)


def test_mimic_mode_trains_resumes_exactly_and_is_measured(fake_mnist, tmp_path):
    from safetensors.torch import load_file

    common = ["--preset", "infocapsgan", "--width", "0.125", "--batch-size", "8", "--mimic", "3", "--no-progress",
              "--data-dir", str(fake_mnist), "--log-every", "2"]
    assert main(["train", *common, "--max-steps", "8", "--ckpt-every", "4", "--outdir", str(tmp_path)]) == 0
    from infogan.run import Run

    run = Run.numbered(tmp_path)[0].path
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["mimic"]["agreement"] <= 1 and (run / "mimic.png").is_file()
    from infogan.study import seed_row

    row = seed_row(0, Run(run))  # a sweep's table shows both of mimic mode's figures
    assert row["mimic_agreement"] == metrics["mimic"]["agreement"]
    assert row["mimic_frechet_distance"] == metrics["mimic"]["frechet_distance"] > 0
    first = load_file(str(run / "model" / "model.safetensors"))
    assert main(["train", "--resume", str(run / "checkpoints" / "checkpoint-000004"), "--outdir", str(tmp_path),
                 "--no-progress", "--no-eval", "--data-dir", str(fake_mnist)]) == 0
    again = load_file(str(run / "model" / "model.safetensors"))
    assert all(torch.equal(first[k], again[k]) for k in first)  # a capsule run resumes exactly
    assert main(["train", "--preset", "mnist", "--mimic", "3", "--dry-run"]) == 0  # (the options resolve...)
    assert main(["train", "--preset", "mnist", "--mimic", "3", "--max-steps", "1", "--data-dir", str(fake_mnist),
                 "--outdir", str(tmp_path / "x"), "--no-progress"]) == 2  # ...but the paper networks cannot mimic
