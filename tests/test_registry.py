"""Datasets, network families and metrics are registered by name: a new one is one module and
one registration line, and the command line, evaluate and sweeps pick it up."""

import json

import pytest
import torch

from infogan import data, nets
from infogan.cli import main
from infogan.errors import InfoGANError
from infogan.metrics import METRICS, Column, Metric
from infogan.registry import Registry


def test_unknown_names_are_one_line_errors():
    reg = Registry("widget")
    with pytest.raises(InfoGANError, match="unknown widget 'x' \\(known: \\)"):
        reg.lookup("x")
    for registry, kind in ((data.DATASETS, "dataset"), (nets.FAMILIES, "network family"), (METRICS, "metric")):
        with pytest.raises(InfoGANError, match=f"unknown {kind} 'nope'"):
            registry.lookup("nope")


def test_every_registered_thing_has_help():
    for registry in (data.DATASETS, nets.FAMILIES, METRICS):
        for name, item in registry.items():
            assert item.name == name and len(item.help) > 10, name


def test_a_new_metric_reaches_evaluate_and_the_sweep_table(fake_mnist, tmp_path, monkeypatch, capsys):
    mean_pixel = Metric("brightness", "mean pixel of 64 samples", lambda ctx: {"mean": ctx.model.generate(64).mean().item()},
                        columns=(Column("brightness", "mean pixel", lambda r: r["mean"]),),
                        lines=lambda r: [f"brightness {r['mean']:.3f}"])
    monkeypatch.setitem(METRICS, "brightness", mean_pixel)  # what METRICS.register(...) does
    out = tmp_path / "sweep"
    assert main(["sweep", "--preset", "tiny", "--seeds", "0", "--max-steps", "2", "--data-dir", str(fake_mnist),
                 "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "sweep.json").read_text())
    assert 0 <= result["seeds"][0]["brightness"] <= 1 and "| mean pixel |" in (out / "sweep.md").read_text()
    capsys.readouterr()
    assert main(["evaluate", str(out / "tiny-seed0"), "--metrics", "brightness", "--data-dir", str(fake_mnist)]) == 0
    assert "brightness" in capsys.readouterr().out
    metrics = json.loads((out / "tiny-seed0" / "metrics.json").read_text())
    assert {"brightness", "categorical", "information"} <= set(metrics)  # the earlier results are kept
    assert main(["evaluate", str(out / "tiny-seed0"), "--metrics", "nope"]) == 2


def test_a_new_family_is_buildable_by_name(monkeypatch):
    mnist = nets.FAMILIES["mnist"]
    monkeypatch.setitem(nets.FAMILIES, "mnist-copy", nets.Family("mnist-copy", "the MNIST nets again", mnist.build, (28,)))
    from infogan import InfoGAN

    model = InfoGAN("z4,cat3", arch="mnist-copy", width=0.125)
    assert model.generate(2).shape == (2, 1, 28, 28)
    with pytest.raises(InfoGANError, match="the mnist-copy networks take 28x28 images, not 32x32"):
        InfoGAN("z4,cat3", arch="mnist-copy", image_size=32)


def test_a_new_dataset_is_loadable_by_name(monkeypatch):
    from dataclasses import dataclass

    @dataclass(frozen=True, kw_only=True)
    class Noise(data.Dataset):
        def load(self, split="train", data_dir=None, **_):
            self.check_split(split)
            g = torch.Generator().manual_seed(0 if split == "train" else 1)
            return torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=g), torch.arange(32) % 10

    monkeypatch.setitem(data.DATASETS, "noise", Noise(name="noise", help="random pixels, for this test"))
    images, labels = data.load("noise", "test")
    assert images.shape == (32, 1, 28, 28) and labels.max() == 9
    with pytest.raises(InfoGANError, match="noise has no 'valid' split"):
        data.load("noise", "valid")
