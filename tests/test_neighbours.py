"""The neighbour stage (neighbours.py): what Q's head learns from real images' neighbours, what stays."""

import json

import pytest
import torch
from safetensors.torch import load_file

from infogan import InfoGAN, data
from infogan.cli import main
from infogan.config import resolve
from infogan.errors import InfoGANError
from infogan.neighbours import NeighbourStage, agreement, neighbour_stage
from infogan.refine import cosine_nearest, trunk_and_q
from infogan.run import Run
from infogan.trainer import check_final_stages


def _model():
    torch.manual_seed(0)
    model = InfoGAN("z8,cat3,cont2", arch="mnist", width=0.125)
    model.eval()
    return model


def _three_kinds(per=40):
    """Dim noise with one bright bar, at one of three places: three kinds of image."""
    images = torch.randint(0, 30, (3 * per, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    images[:per, :, 2:8, 4:24] = 255
    images[per:2 * per, :, 11:17, 4:24] = 255
    images[2 * per:, :, 4:24, 20:26] = 255
    return images


def test_the_stage_makes_neighbours_agree_keeps_the_other_codes_and_touches_only_qs_head():
    model, images = _model(), _three_kinds()
    model.requires_grad_(False)  # as the weights' average (--ema), which the saved model is, keeps them
    features, q_before = trunk_and_q(model.D, images)
    near = cosine_nearest(features, features, 5, exclude_self=True)
    assert (near // 40 == torch.arange(120)[:, None] // 40).float().mean() > 0.9  # the features hold the kinds
    others = [k for k in model.state_dict() if not k.startswith("D.q_head.")]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = neighbour_stage(model, images, NeighbourStage(steps=300, neighbours=5, batch_size=32, lr=1e-2), seed=0)
    after_features, q_after = trunk_and_q(model.D, images)
    assert not any(p.requires_grad for p in model.parameters())
    assert torch.equal(after_features, features)
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in others)  # trunk, D's head, G, BN statistics
    head = [k for k in before if k.startswith("D.q_head.")]
    assert all(not torch.equal(model.state_dict()[k], before[k]) for k in head if k.endswith(("weight", "running_mean")))
    p_after = q_after[:, :3].softmax(1)
    assert report["neighbour_agreement_after"] == agreement(p_after, near) > 0.95
    assert (p_after.max(1).values > 0.9).float().mean() > 0.9  # confident, not merely agreeing
    sizes = report["category_sizes"]
    assert sum(sizes) == 120 and min(sizes) > 0  # the entropy term keeps every category in use
    # each kind is read as one category, and the three kinds as three different ones
    def kinds(p):
        return {torch.mode(p[i * 40:(i + 1) * 40].argmax(1)).values.item() for i in range(3)}

    assert len(kinds(p_after)) == 3 and len(kinds(q_before[:, :3])) < 3  # (the untrained Q: one or two)
    change = (q_after[:, 3:] - q_before[:, 3:]).abs().mean()
    assert report["other_outputs_change"] == round(float(change), 4) < 0.02  # the continuous codes' readings held


def test_no_steps_or_no_categorical_code_leaves_the_model_as_it_was():
    model, images = _model(), _three_kinds(10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert neighbour_stage(model, images, NeighbourStage(steps=0))["moved_images"] == 0
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    plain = InfoGAN("z8,cont2", arch="mnist", width=0.125)
    assert neighbour_stage(plain, images)["moved_images"] == 0


def test_the_options_refuse_what_the_stage_cannot_do():
    with pytest.raises(InfoGANError, match="--neighbour-steps and --neighbour-entropy must be >= 0"):
        resolve("tiny", {"neighbour_steps": -1})
    with pytest.raises(InfoGANError, match="--neighbour-steps trains Q's fully connected head"):
        resolve("tiny", {"neighbour_steps": 10, "arch": "caps", "latent": "z8,cat10", "g_arch": "family"})
    with pytest.raises(InfoGANError, match="--neighbour-steps works on a categorical code and --latent has none: pass --neighbour-steps 0"):
        resolve("tiny", {"neighbour_steps": 10, "latent": "z8,cont2"})


def test_a_dataset_without_enough_neighbours_is_refused_before_training():
    # was torch's topk error once every step had run (each image needs 20 others)
    cfg = resolve("tiny", {"neighbour_steps": 5})
    with pytest.raises(InfoGANError, match="reads each training image's 20 nearest others, and the dataset has 20 "
                                           "images: pass --neighbour-steps 0"):
        check_final_stages(cfg, 20)
    check_final_stages(cfg, 21)
    check_final_stages(resolve("tiny", {"neighbour_steps": 0}), 2)


def test_a_run_with_the_stage_saves_what_the_stage_makes_of_the_same_run_without_it(fake_mnist, tmp_path, capsys):
    # so the stage measured on finished runs (benchmarks) is the stage a run trains with
    base = ["train", "--preset", "tiny", "--max-steps", "8", "--no-progress", "--no-eval", "--data-dir",
            str(fake_mnist), "--outdir"]
    assert main([*base, str(tmp_path / "without")]) == 0
    assert main([*base, str(tmp_path / "with"), "--neighbour-steps", "40"]) == 0
    assert "the neighbour stage (40 steps)" in capsys.readouterr().out
    run = Run.numbered(tmp_path / "with")[0]
    report = json.loads(run.neighbours_file.read_text())
    assert report["steps"] == 40 and report["entropy"] == 2.0 and report["neighbours"] == 20
    model = InfoGAN.from_pretrained(Run.numbered(tmp_path / "without")[0].path)
    images, _ = data.load("mnist", "train", fake_mnist)
    assert neighbour_stage(model, images, NeighbourStage(steps=40), seed=0) == report
    saved = load_file(str(run.model_dir / "model.safetensors"))
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    # killed after training, before its model: the resume redoes the stage from the last checkpoint, exactly
    (run.model_dir / "model.safetensors").unlink()
    assert main(["train", "--resume", str(run.path), "--no-progress", "--data-dir", str(fake_mnist)]) == 0
    again = load_file(str(run.model_dir / "model.safetensors"))
    assert all(torch.equal(again[k], v) for k, v in saved.items())
