"""Relabelling by the drawings (refine.py): which groups move, what Q's head learns, what stays."""

import json

import pytest
import torch

from infogan import InfoGAN
from infogan.cli import main
from infogan.config import resolve
from infogan.errors import InfoGANError
from infogan.latent import LatentSpec
from infogan.refine import Refinement, drawing_votes, refine, relabel, trunk_and_q, tune_head
from infogan.run import Run


def _blobs(centres, per=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.tensor(c, dtype=torch.float32) + 0.01 * torch.randn(per, len(c), generator=g)
                      for c in centres])


def test_a_group_moves_when_its_drawings_outvote_qs_class_by_the_margin():
    features = _blobs([[1, 0, 0], [0, 1, 0], [0, 0, 1]])  # three groups of 20
    probs = torch.tensor([[0.9, 0.1, 0.0]]).repeat(60, 1)  # Q reads every image as class 0
    votes = torch.zeros(60, 3)
    votes[:20, 0] = 1.0  # group A: the drawings agree with Q
    votes[20:40, 1], votes[20:40, 0] = 0.7, 0.3  # group B: they say 1 by 0.4
    votes[40:, 2], votes[40:, 0] = 0.55, 0.45  # group C: they say 2 by only 0.1
    target, group_of, moved = relabel(probs, votes, features, groups=3, margin=0.2, seed=0)
    assert target[:20].eq(-1).all() and target[20:40].eq(1).all() and target[40:].eq(-1).all()
    assert len(set(group_of[:20])) == len(set(group_of[20:40])) == 1
    assert [(m["images"], m["from"], m["to"], m["vote_from"], m["vote_to"]) for m in moved] == [(20, 0, 1, 0.3, 0.7)]
    target, _, moved = relabel(probs, votes, features, groups=3, margin=0.05, seed=0)  # a lower bar moves C too
    assert target[40:].eq(2).all() and len(moved) == 2


def test_fewer_images_than_principal_components_are_grouped_in_full():
    # was scikit-learn's ValueError (n_components=64 must be between 1 and min(n_samples, n_features)=40)
    # after a small folder's run had trained
    features = torch.cat([_blobs([[1.0] * 50 + [0.0] * 50, [0.0] * 50 + [1.0] * 50], per=20)])  # 40 images, 100 dims
    probs = torch.tensor([[0.9, 0.1]]).repeat(40, 1)
    votes = torch.tensor([[1.0, 0.0]] * 20 + [[0.0, 1.0]] * 20)
    target, group_of, moved = relabel(probs, votes, features, groups=2, margin=0.2, seed=0, dims=64)
    assert len(set(group_of[:20])) == len(set(group_of[20:])) == 1 and target[20:].eq(1).all() and len(moved) == 1


class _Bars:
    """A stand-in model whose category c draws a bright bar at rows 2c..2c+2 (the spec is real)."""

    spec = LatentSpec.parse("z4,cat5")

    def generate(self, n, codes, seed):
        g = torch.Generator().manual_seed(seed)
        images = 0.1 * torch.rand(n, 1, 28, 28, generator=g)
        row = 2 * codes["c1"]
        images[:, :, row : row + 2, 4:24] = 1.0
        return images


def test_each_real_image_is_voted_for_by_the_categories_that_drew_its_nearest_drawings():
    images = torch.zeros(10, 1, 28, 28, dtype=torch.uint8)
    for i in range(10):
        images[i, :, 2 * (i % 5) : 2 * (i % 5) + 2, 4:24] = 255
    votes = drawing_votes(_Bars(), images, "c1", per_code=20, neighbours=5, seed=0)
    assert votes.shape == (10, 5) and torch.equal(votes.argmax(1), torch.arange(10) % 5)
    assert torch.allclose(votes.sum(1), torch.ones(10)) and votes.max() == 1.0


def _tiny_model():
    torch.manual_seed(0)
    model = InfoGAN("z8,cat3,cont2", arch="mnist", width=0.125)
    model.eval()
    return model


def test_tuning_moves_the_targeted_images_keeps_the_rest_and_touches_only_qs_head():
    model = _tiny_model()
    images = torch.randint(0, 30, (96, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    images[:16, :, 4:10, 4:24] = 255  # a group that looks alike (a wide bar at the top)
    images[16:, :, 14:16, 12:14] = 255
    features, q_before = trunk_and_q(model.D, images)
    cat = slice(0, 3)
    target = torch.full((96,), -1)
    target[:16] = (q_before[:16, cat].argmax(1) + 1) % 3  # another class than Q's, for the group
    model.requires_grad_(False)  # as the weights' average (--ema), which the saved model is, keeps them
    others = [k for k in model.state_dict() if not k.startswith("D.q_head.")]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tune_head(model.D.q_head, features, q_before, cat, target, Refinement(epochs=60, batch_size=32, lr=3e-3), seed=0)
    after_features, q_after = trunk_and_q(model.D, images)
    assert not any(p.requires_grad for p in model.parameters())
    assert torch.equal(after_features, features)
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in others)  # trunk, D's head, G, BN statistics
    assert (q_after[:16, cat].argmax(1) == target[:16]).float().mean() >= 0.9
    # (the untrained head's probabilities are near even, so the others are held to them, not to an argmax)
    assert (q_after[16:, cat].softmax(1) - q_before[16:, cat].softmax(1)).abs().max() < 0.1
    assert (q_after[:, 3:] - q_before[:, 3:]).abs().mean() < 0.25 * q_before[:, 3:].abs().mean() + 0.02


def test_refine_leaves_the_model_as_it_was_when_no_group_moves():
    model = _tiny_model()
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = refine(model, images, Refinement(groups=4, margin=0.999, per_code=20), seed=0)
    assert report["moved_images"] == 0 and report["moved_groups"] == [] and report["others_unchanged"] == 1.0
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    plain = InfoGAN("z8,cont2", arch="mnist", width=0.125)  # no categorical code: nothing to relabel
    assert refine(plain, images)["moved_images"] == 0


def test_the_options_refuse_what_refine_cannot_do():
    with pytest.raises(InfoGANError, match="--refine-groups must be 0"):
        resolve("tiny", {"refine_groups": 1})
    with pytest.raises(InfoGANError, match="--refine-margin must be in"):
        resolve("tiny", {"refine_groups": 4, "refine_margin": 1.0})
    with pytest.raises(InfoGANError, match="capsule Q does not have"):
        resolve("tiny", {"refine_groups": 4, "arch": "caps", "latent": "z8,cat10", "g_arch": "family"})
    with pytest.raises(InfoGANError, match="--latent has none"):
        resolve("tiny", {"refine_groups": 4, "latent": "z8,cont2"})


@pytest.mark.parametrize("stage, message", [
    (["--refine-groups", "321"], "--refine-groups 321 sorts the training images into that many groups, and the "
                                 "dataset has 320: pass --refine-groups 0 (or fewer groups)"),
])
def test_a_stage_after_training_that_the_dataset_is_too_small_for_is_refused_before_training(
        fake_mnist, tmp_path, capsys, stage, message):
    # was a traceback from scikit-learn once every step had run
    args = ["train", "--preset", "tiny", "--max-steps", "8", "--no-progress", "--data-dir", str(fake_mnist),
            "--outdir", str(tmp_path / "runs"), *stage]
    assert main(args) == 2
    assert capsys.readouterr().err == f"infogan: error: {message}\n"
    assert not any((tmp_path / "runs").iterdir())  # no run folder left behind


def test_a_run_with_refine_writes_its_report_and_moves_what_it_reports(fake_mnist, tmp_path, capsys):
    args = ["train", "--preset", "tiny", "--max-steps", "8", "--no-progress", "--data-dir", str(fake_mnist),
            "--outdir", str(tmp_path), "--refine-groups", "6", "--refine-margin", "0"]
    assert main(args) == 0
    run = Run.numbered(tmp_path)[0]
    report = json.loads(run.refine_file.read_text())
    assert report["groups"] == 6 and report["margin"] == 0.0
    assert report["moved_images"] == sum(m["images"] for m in report["moved_groups"])
    assert "relabelling by the drawings" in capsys.readouterr().out
    assert run.metrics_file.is_file()  # the evaluation reads the refined model
    # margin 0 on a barely trained run: some group's drawings disagree with Q (what Q's head then
    # learns is test_tuning_...'s question)
    assert report["moved_groups"] and run.refine_png.is_file()
