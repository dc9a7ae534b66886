"""Sample-quality metrics, the supervised baseline and multi-seed sweeps, on fabricated data."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from infogan import InfoGAN, data
from infogan import study
from infogan.cli import main
from infogan.errors import InfoGANError
from infogan.metrics.quality import classifier_score, frechet_distance, get_classifier, sample_quality


def test_frechet_distance_known_cases():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5000, 4))
    assert frechet_distance(a, a) < 1e-6
    b = a + np.array([3.0, 0, 0, 0])  # mean shift of 3: distance 9
    assert abs(frechet_distance(a, b) - 9.0) < 1e-6


def test_classifier_score_bounds():
    assert abs(classifier_score(np.eye(10)[np.arange(1000) % 10]) - 10) < 1e-6  # confident and diverse
    assert abs(classifier_score(np.full((100, 10), 0.1)) - 1) < 1e-6  # uninformative
    assert abs(classifier_score(np.eye(10)[np.zeros(100, dtype=int)]) - 1) < 1e-6  # one class only


def test_classifier_is_trained_once_and_cached(fake_mnist, data_cache):
    x, y = data.load("mnist", "train", fake_mnist)
    a = get_classifier("mnist", x, y)
    files = list((data_cache / "classifiers").iterdir())
    assert len(files) == 1
    b = get_classifier("mnist", x, y)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    xt, yt = data.load("mnist", "test", fake_mnist)
    q = sample_quality(InfoGAN("z8,cat10,cont2", width=0.125), a, xt, n=200)
    assert q["frechet_distance"] > 0 and 1 <= q["classifier_score"] <= 10


def test_the_classifier_is_the_same_whatever_the_thread_count(fake_mnist, data_cache):
    from infogan.metrics.quality import train_classifier, weights_sha256

    x, y = data.load("mnist", "train", fake_mnist)
    shas, before = set(), torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            shas.add(weights_sha256(train_classifier(x, y, epochs=1)))
    finally:
        torch.set_num_threads(before)
    assert len(shas) == 1


def test_the_shipped_classifiers_are_the_reference_ones():
    from infogan.metrics import quality
    from infogan.metrics.quality import FeatureNet, weights_sha256

    files = sorted(p.stem for p in quality.SHIPPED.glob("*.safetensors"))
    assert files == sorted(quality.REFERENCE) and {f.split("-v")[0] for f in files} == {"mnist", "fashion-mnist"}
    for key in files:
        net = FeatureNet()
        net.load_state_dict(load_file(str(quality.SHIPPED / f"{key}.safetensors")))
        assert weights_sha256(net) == quality.REFERENCE[key], key


def test_a_shipped_classifier_is_used_without_training(fake_mnist, data_cache, monkeypatch, tmp_path):
    from infogan.metrics import quality

    x, y = data.load("mnist", "train", fake_mnist)
    key = quality._key("mnist", x)
    shipped = quality.FeatureNet()
    save_file(shipped.state_dict(), str(tmp_path / f"{key}.safetensors"))
    monkeypatch.setattr(quality, "SHIPPED", tmp_path)
    monkeypatch.setattr(quality, "train_classifier", lambda *a, **k: pytest.fail("trained a shipped classifier"))
    net = get_classifier("mnist", x, y)
    assert net.key == key and not net.training
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), shipped.state_dict().values()))
    assert not (data_cache / "classifiers").exists()  # nothing trained, nothing cached
    (tmp_path / f"{key}.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InfoGANError, match="reinstall infogan"):
        get_classifier("mnist", x, y)


def test_the_quality_report_says_whether_its_classifier_is_the_reference(fake_mnist, data_cache, monkeypatch):
    from infogan.metrics import quality

    x, y = data.load("mnist", "train", fake_mnist)
    net = get_classifier("mnist", x, y)
    xt, _ = data.load("mnist", "test", fake_mnist)
    ctx = type("Ctx", (), {"dataset": "mnist", "train_split": lambda self: (x, y), "model": InfoGAN("z8,cat10", width=0.125),
                           "images": xt, "labels": data.load("mnist", "test", fake_mnist)[1], "n_samples": 200, "seed": 0})()
    assert quality.quality_metric(ctx)["classifier"]["reference"] is None  # no reference for fabricated data
    monkeypatch.setitem(quality.REFERENCE, net.key, "0" * 64)
    result = quality.quality_metric(ctx)
    assert result["classifier"]["reference"] is False and "not the reference" in quality.lines(result)[-1]
    monkeypatch.setitem(quality.REFERENCE, net.key, quality.weights_sha256(net))
    assert quality.quality_metric(ctx)["classifier"]["reference"] is True


def test_baseline_learns_the_fabricated_classes(fake_mnist, tmp_path, capsys):
    out = tmp_path / "new" / "baseline.json"  # its folder is made
    assert main(["baseline", "--preset", "tiny", "--epochs", "20", "--batch-size", "32", "--data-dir", str(fake_mnist),
                 "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test_accuracy"] > 0.5  # the bar position is the class: easy with labels
    assert json.loads(out.read_text()) == result


def test_baseline_trains_on_the_dataset_asked_for(fake_mnist, monkeypatch, capsys):
    # the fabricated files stand in for Fashion-MNIST too: the same IDX names and format
    monkeypatch.setitem(data.DATASETS, "fashion-mnist",
                        dataclasses.replace(data.DATASETS["fashion-mnist"], files=data.DATASETS["mnist"].files))
    args = ["baseline", "--preset", "tiny", "--epochs", "1", "--data-dir", str(fake_mnist), "--json"]
    assert main(args + ["--dataset", "fashion-mnist"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "fashion-mnist"
    assert main(args + ["--dataset", "no-such-set"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infogan: error:") and "no-such-set" in err and len(err.splitlines()) == 1


def test_sweep_tabulates_every_seed(fake_mnist, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--preset", "tiny", "--seeds", "0-1", "--max-steps", "4", "--data-dir", str(fake_mnist),
                 "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "sweep.json").read_text())
    assert [r["seed"] for r in result["seeds"]] == [0, 1]
    s = result["summary"]["accuracy"]
    accs = [r["accuracy"] for r in result["seeds"]]
    assert s["min"] == min(accs) and s["max"] == max(accs) and abs(s["mean"] - sum(accs) / 2) < 1e-12
    md = (out / "sweep.md").read_text()
    assert "| **median** |" in md and "infogan sweep --preset tiny --seeds 0-1" in md
    assert (out / "grids.png").is_file() and (out / "accuracy.png").is_file()
    # a second call reuses the finished runs instead of training again, also those trained before
    # an option existed (config.json without it: its default, which repeats them)
    before = (out / "tiny-seed0" / "metrics.json").stat().st_mtime
    config = json.loads((out / "tiny-seed0" / "config.json").read_text())
    del config["erase_start"]
    (out / "tiny-seed0" / "config.json").write_text(json.dumps(config))
    # (--outdir, train's name for it, is the same folder)
    assert main(["sweep", "--preset", "tiny", "--seeds", "0-1", "--max-steps", "4", "--data-dir", str(fake_mnist),
                 "--outdir", str(out), "--no-progress"]) == 0
    assert (out / "tiny-seed0" / "metrics.json").stat().st_mtime == before
    # ... and refuses them, in one line, when they were trained with other options
    capsys.readouterr()
    assert main(["sweep", "--preset", "tiny", "--seeds", "0-1", "--max-steps", "4", "--lambda-cat", "2",
                 "--data-dir", str(fake_mnist), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tiny-seed0 was trained with --lambda-cat 1.0, not 2.0" in err and len(err.splitlines()) == 1
    # ... or for another length (it reported the 4-step runs as the 6-step study)
    for length, why in [(["--max-steps", "6"], "with --max-steps 4, not 6"),
                        ([], "with --max-steps 4, this sweep without it")]:
        assert main(["sweep", "--preset", "tiny", "--seeds", "0-1", *length, "--data-dir", str(fake_mnist),
                     "--out", str(out), "--no-progress"]) == 2
        assert f"tiny-seed0 was trained {why}: give the sweep another --out" in capsys.readouterr().err
    assert (out / "tiny-seed0" / "metrics.json").stat().st_mtime == before


def test_parallel_sweep_gives_the_sequential_results(fake_mnist, cli_process, tmp_path, monkeypatch):
    # the seeds' processes must see the fabricated dataset's checksums, as this one does
    monkeypatch.setattr(study, "WORKER", cli_process)
    common = ["--preset", "tiny", "--seeds", "0-1", "--max-steps", "4", "--data-dir", str(fake_mnist),
              "--no-progress", "--threads", "1", "--invariance", "1"]
    assert main(["sweep", *common, "--out", str(tmp_path / "seq")]) == 0
    assert main(["sweep", *common, "--out", str(tmp_path / "par"), "--jobs", "2"]) == 0
    seq = json.loads((tmp_path / "seq" / "sweep.json").read_text())
    par = json.loads((tmp_path / "par" / "sweep.json").read_text())
    assert [r["accuracy"] for r in seq["seeds"]] == [r["accuracy"] for r in par["seeds"]]
    assert (tmp_path / "par" / "tiny-seed1.log").is_file()
    assert "--invariance 1" in par["command"]


def test_a_parallel_sweep_shows_how_far_its_seeds_have_trained(tmp_path, capsys):
    # the sweep's own process printed nothing for the hour its seeds trained
    runs = [study.seed_run(tmp_path, "tiny", s) for s in (0, 1)]
    runs[0].path.mkdir()
    runs[0].config_file.write_text(json.dumps({"epochs": 4, "max_steps": None}))
    runs[0].stats_file.write_text('{"step": 10, "epoch": 1.0}\n{"step": 20, "epoch": 2.0}\n'
                                  '{"step": 20, "rollback": 1, "from_step": 25}\n{"step": 3')  # a rollback, a row half written
    runs[1].path.mkdir()
    runs[1].config_file.write_text(json.dumps({"epochs": 4, "max_steps": 40}))  # --max-steps decides the length
    runs[1].stats_file.write_text('{"step": 10, "epoch": 1.0}\n')
    assert [study.trained_fraction(r) for r in runs] == [0.5, 0.25]
    shown = study.SweepProgress(runs, progress=False, every_s=0)
    shown.update()
    assert capsys.readouterr().out == "sweep: 0.75 of 2 seed runs trained\n"
    shown.update()
    assert capsys.readouterr().out == ""  # a line for every tenth of the study, not every look
    runs[1].metrics_file.write_text("{}")
    shown.update()
    assert capsys.readouterr().out == "sweep: 1.50 of 2 seed runs trained\n"
    assert study.trained_fraction(study.seed_run(tmp_path, "tiny", 2)) == 0.0  # not started


def test_an_interrupted_parallel_sweep_stops_its_seeds(tmp_path, monkeypatch):
    import subprocess
    import time

    started = []

    class Recorded(subprocess.Popen):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            started.append(self)

    def interrupt(_seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(study, "WORKER", [sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(subprocess, "Popen", Recorded)
    monkeypatch.setattr(time, "sleep", interrupt)
    try:
        study._train_in_parallel("tiny", [0, 1, 2], tmp_path, jobs=2, threads=1, overrides={})
    except KeyboardInterrupt:
        pass
    assert len(started) == 2  # two at a time; the third never started
    assert all(p.returncode is not None for p in started)  # none is left training


def test_sweep_from_python_takes_a_seed_list_as_the_command_line_writes_it(fake_mnist, tmp_path):
    common = dict(out=tmp_path, max_steps=2, data_dir=str(fake_mnist), progress=False)
    first = study.sweep("tiny", "0-1", **common)  # list("0-1") was ['0', '-', '1']: a TypeError
    assert [r["seed"] for r in first["seeds"]] == [0, 1] and "--seeds 0-1" in first["command"]
    again = study.sweep("tiny", np.arange(2), **common)  # numpy's ints are seeds too (the runs are reused)
    assert again["seeds"] == first["seeds"]
    for bad in (["0"], [0.5], [-1]):
        with pytest.raises(InfoGANError, match="seeds must be whole numbers"):
            study.sweep("tiny", bad, **common)


def test_a_signal_to_a_sequential_sweep_says_the_same_command_goes_on(cli_process, fake_mnist, tmp_path):
    # was: the seed's own line, "Resume with: infogan train --resume <seed>", which finishes that seed
    # alone and leaves the sweep's later seeds untrained and untabulated
    out = tmp_path / "sweep"
    cmd = [*cli_process, "sweep", "--preset", "tiny", "--seeds", "0-1", "--threads", "1", "--max-steps", "100000",
           "--ckpt-every", "100000", "--ckpt-minutes", "0", "--data-dir", str(fake_mnist), "--out", str(out),
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stats, deadline = out / "tiny-seed0" / "stats.jsonl", time.monotonic() + 120
    while not (stats.is_file() and stats.read_text().count("\n") >= 2):  # in its loop
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    said = re.fullmatch(r"infogan: seed 0 stopped by SIGTERM at step (\d+) of 100000; checkpoint saved\. "
                        r"Resume with: the same sweep command\n", err)
    assert proc.returncode == 128 + signal.SIGTERM and said, err
    assert (out / "tiny-seed0" / "checkpoints" / f"checkpoint-{int(said.group(1)):06d}").is_dir()
    assert not (out / "tiny-seed1").exists()


def test_a_signal_to_a_parallel_sweep_stops_each_seed_with_a_checkpoint(cli_process, fake_mnist, tmp_path):
    # was: SIGTERM killed the sweep alone and its seeds trained on, orphaned; Ctrl-C reached the seeds
    # from the terminal and again from the sweep, a second signal that killed them before they saved
    worker = Path(cli_process[1])  # its seeds' processes must see the fabricated dataset too
    worker.write_text(worker.read_text().replace(
        "sys.exit(main(", "from infogan import study\nstudy.WORKER = [sys.executable, __file__]\nsys.exit(main("))
    out = tmp_path / "sweep"
    cmd = [*cli_process, "sweep", "--preset", "tiny", "--seeds", "0-1", "--jobs", "2", "--threads", "1",
           "--max-steps", "100000", "--ckpt-every", "100000", "--ckpt-minutes", "0", "--data-dir", str(fake_mnist),
           "--out", str(out), "--no-progress"]
    logs = [out / f"tiny-seed{s}.log" for s in (0, 1)]

    def last_step(seed_dir):
        rows = (seed_dir / "stats.jsonl").read_text().splitlines() if (seed_dir / "stats.jsonl").is_file() else []
        return json.loads(rows[-1])["step"] if rows and rows[-1].endswith("}") else 0

    def stop(send, signum, past=(0, 0)):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 120
        while not all(last_step(out / log.stem) > step for log, step in zip(logs, past)):  # both in their loops
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        send(proc)
        _, err = proc.communicate(timeout=120)
        name = signal.Signals(signum).name
        if signum == signal.SIGKILL:  # the sweep said nothing; its seeds, left without it, sent themselves a SIGTERM
            name = "SIGTERM"
            deadline = time.monotonic() + 120
            while not all("checkpoint saved" in log.read_text() for log in logs):
                assert time.monotonic() < deadline, [log.read_text() for log in logs]
                time.sleep(0.1)
        else:
            assert proc.returncode == 128 + signum and f"stopped by {name}: the seeds in training saved" in err, err
        steps = []
        for log in logs:
            said = re.search(rf"stopped by {name} at step (\d+) of 100000; checkpoint saved", log.read_text())
            assert said, log.read_text()
            steps.append(int(said.group(1)))
            assert (out / log.stem / "checkpoints" / f"checkpoint-{steps[-1]:06d}").is_dir()
        return steps

    first = stop(lambda p: p.send_signal(signal.SIGTERM), signal.SIGTERM)  # SIGTERM to the sweep alone
    # the same command goes on from those checkpoints; Ctrl-C, to the terminal's process group, stops it again
    second = stop(lambda p: os.killpg(p.pid, signal.SIGINT), signal.SIGINT, past=first)
    assert all(f"resuming from checkpoint-{a:06d}" in log.read_text() for a, log in zip(first, logs))
    assert all(b > a for a, b in zip(first, second))
    # the sweep killed outright: its seeds do not train on, orphaned
    third = stop(lambda p: p.send_signal(signal.SIGKILL), signal.SIGKILL, past=second)
    assert all(c > b for b, c in zip(second, third))
