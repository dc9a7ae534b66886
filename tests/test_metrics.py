import io
import math
import sys

import numpy as np
import pytest
import torch

from infogan import InfoGAN
from infogan.errors import InfoGANError
from infogan.metrics import cluster_scores, evaluate_model, mi_lower_bounds


def test_a_permuted_perfect_predictor_scores_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1000)
    perm = rng.permutation(10)
    r = cluster_scores(perm[labels], labels, 10)
    assert r["accuracy"] == 1.0 and abs(r["nmi"] - 1) < 1e-9 and abs(r["ari"] - 1) < 1e-9
    assert np.trace(np.array(r["confusion"])) == 1000
    assert all(perm[int(t)] == int(p) for p, t in r["match"].items())


def test_a_random_predictor_scores_near_chance():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 20000)
    r = cluster_scores(rng.integers(0, 10, 20000), labels, 10)
    assert 0.09 < r["accuracy"] < 0.13 and r["nmi"] < 0.01 and abs(r["ari"]) < 0.01


def test_known_partial_accuracy():
    labels = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([1, 1, 0, 0, 0, 0])  # best match 1->0, 0->1: 2 + 3 correct
    assert abs(cluster_scores(pred, labels, 2)["accuracy"] - 5 / 6) < 1e-12


def test_mi_bounds_of_an_untrained_q_are_below_entropy():
    torch.manual_seed(0)
    m = InfoGAN("z8,cat10,cont2", width=0.125)
    bounds = mi_lower_bounds(m, n=500, batch_size=250)
    assert bounds["c1"]["mi_lower_bound"] <= math.log(10)
    assert abs(bounds["c1"]["entropy"] - math.log(10)) < 1e-9
    assert -1 <= bounds["c2"]["correlation"] <= 1


def test_evaluate_model_reports_every_code():
    torch.manual_seed(0)
    m = InfoGAN("z8,cat10,cont2", width=0.125)
    imgs = torch.randint(0, 256, (200, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (200,))
    r = evaluate_model(m, imgs, labels, n_samples=200)
    assert set(r["categorical"]) == {"c1"} and set(r["information"]) == {"c1", "c2", "c3"}
    assert 0 <= r["categorical"]["c1"]["accuracy"] <= 1


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_evaluation_names_the_metric_it_is_measuring_at_a_terminal_only(monkeypatch, progress):
    # dSprites' DCI and SAP fit models for minutes, and evaluate said nothing meanwhile
    torch.manual_seed(0)
    m = InfoGAN("z8,cat10,cont2", width=0.125)
    imgs, labels = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (50,))
    for stream, shown in ((Terminal(), progress), (io.StringIO(), False)):  # a log file gets no bar
        monkeypatch.setattr(sys, "stderr", stream)
        evaluate_model(m, imgs, labels, n_samples=50, metrics="categorical, information", progress=progress)
        text = stream.getvalue()
        assert ("evaluating" in text and "categorical" in text and "information" in text) == shown, text


@pytest.mark.parametrize("flags, progress", [([], True), (["--no-progress"], False)])
def test_evaluate_command_turns_its_bar_off_with_no_progress(monkeypatch, tmp_path, flags, progress):
    # train's --no-progress reached the bar; evaluate, run at a terminal, had no way to turn it off
    import infogan.metrics
    from infogan.cli import main

    seen = {}
    monkeypatch.setattr(infogan.metrics, "evaluate", lambda model, **kw: seen.update(kw) or {})
    monkeypatch.setattr(infogan.metrics, "format_report", lambda result: "")
    assert main(["evaluate", str(tmp_path / "any"), *flags]) == 0
    assert seen["progress"] is progress


def test_metrics_named_as_the_command_line_names_them():
    # a string is iterable: metrics="categorical" asked for the metric "c"
    torch.manual_seed(0)
    m = InfoGAN("z8,cat10,cont2", width=0.125)
    imgs, labels = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (50,))
    r = evaluate_model(m, imgs, labels, n_samples=50, metrics="categorical, information")
    assert set(r) == {"n_images", "categorical", "information"}
    with pytest.raises(InfoGANError, match="names no metric"):
        evaluate_model(m, imgs, labels, n_samples=50, metrics=",")


@pytest.mark.parametrize("n", [-5, 0, 1, 10**9])
def test_too_few_or_too_many_samples_is_a_one_line_error(n):
    m = InfoGAN("z8,cat10,cont2", width=0.125)
    # were a ZeroDivisionError or an empty torch.cat; 10^9 ran for hours (a metric that generates nothing:
    # without the check this fails at once rather than generating)
    with pytest.raises(InfoGANError, match="at least 2 samples|at most 1,000,000"):
        evaluate_model(m, torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.long),
                       n_samples=n, metrics=["categorical"])


def test_metrics_are_measured_without_tf32_even_after_training_with_it(monkeypatch):
    from infogan import speed
    from infogan.metrics.registry import METRICS, Metric

    seen = []
    probe = Metric("tf32_probe", "what TF32 was while metrics ran", lambda ctx: seen.append(
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)) or {})
    monkeypatch.setitem(METRICS, "tf32_probe", probe)
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        speed.set_tf32(True)  # as a CUDA training run leaves the process
        m = InfoGAN("z8,cat10,cont2", width=0.125)
        evaluate_model(m, torch.zeros(4, 1, 28, 28, dtype=torch.uint8), None, n_samples=4, metrics=["tf32_probe"])
        assert seen == [(False, False)]
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32  # training's, back
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
