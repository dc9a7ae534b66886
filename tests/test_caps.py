"""InfoCapsGAN's capsule D/Q: squash, routing by agreement, Q's layout, training and the CLI."""

import json

import torch

from infogan.cli import main
from infogan.losses import info_loss
from infogan.model import InfoGAN
from infogan.nets import split_batches
from infogan.nets.caps import CapsuleDiscriminator, RoutedCapsules, squash


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
    for name, caps in zip(("c1", "c4"), m.D.classes):  # categorical codes: their capsules' lengths
        v, _ = caps(u)
        assert torch.allclose(torch.sigmoid(parts[name][0]), v.norm(dim=-1), atol=1e-5)
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
