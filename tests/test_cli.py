"""End to end through the `infogan` command line, on fabricated MNIST-format data."""

import argparse
import json
import subprocess
import sys

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from infogan import study
from infogan.cli import COMMANDS, build_parser, main
from infogan.run import Run

TINY = ["--preset", "tiny", "--no-progress"]


def train(fake_mnist, outdir, *extra):
    return main(["train", *TINY, "--data-dir", str(fake_mnist), "--outdir", str(outdir), *extra])


def test_train_writes_the_whole_run_folder(fake_mnist, tmp_path, capsys):
    assert train(fake_mnist, tmp_path / "runs", "--max-steps", "8", "--sample-every", "4") == 0
    run = tmp_path / "runs" / "00000-tiny"
    for name in ["config.json", "stats.jsonl", "samples.png", "training.gif", "losses.png", "metrics.json",
                 "confusion-c1.png", "traverse-c2.png", "model/config.json", "model/model.safetensors"]:
        assert (run / name).is_file(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-0000004.png", "step-0000008.png"]
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss_D" in r] == [2, 4, 6, 8]
    assert {"loss_D", "loss_G", "loss_info", "mi/c1", "mi/c2", "mi/c3"} <= set(rows[0])
    # the held-out accuracy is logged with each sample grid
    assert [(r["step"], 0 <= r["acc/c1"] <= 1) for r in rows if "acc/c1" in r] == [(4, True), (8, True)]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["preset"] == "tiny" and cfg["max_steps"] == 8 and cfg["lr_g"] == 1e-3
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["categorical"]["c1"]["accuracy"] <= 1
    assert "accuracy" in capsys.readouterr().out
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["checkpoint-000008"] or \
        (run / "checkpoints" / "checkpoint-000008").is_dir()


def test_a_failed_start_leaves_no_empty_run_folder(fake_mnist, tmp_path, capsys):
    runs = tmp_path / "runs"
    few = tmp_path / "few"
    few.mkdir()
    for i in range(3):  # three images: fewer than a batch
        Image.new("L", (28, 28), 40 * i).save(few / f"{i}.png")
    assert main(["train", *TINY, "--dataset", "folder", "--image-size", "28", "--data-dir", str(few),
                 "--outdir", str(runs)]) == 2
    assert "larger than the dataset" in capsys.readouterr().err
    assert main(["train", *TINY, "--dataset", "folder", "--data-dir", str(tmp_path / "none"), "--outdir", str(runs)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(runs.iterdir()) == []  # both folders, holding only their config and log, are gone
    assert train(fake_mnist, runs, "--max-steps", "2", "--no-eval") == 0
    assert [p.name for p in runs.iterdir()] == ["00000-tiny"]  # the next run takes the first number


@pytest.mark.parametrize("has_units", [True, False])
def test_amp_auto_records_what_it_chose(fake_mnist, tmp_path, capsys, monkeypatch, has_units):
    from infogan import speed

    monkeypatch.setattr(speed, "cpu_has_bf16_units", lambda: has_units)
    assert train(fake_mnist, tmp_path, "--max-steps", "2", "--no-eval", "--amp", "auto", "--device", "cpu") == 0
    cfg = json.loads((tmp_path / "00000-tiny" / "config.json").read_text())
    chosen = "bf16" if has_units else "off"
    assert (cfg["amp"], cfg["amp_used"]) == ("auto", chosen)
    assert f"--amp auto: {chosen} on this cpu" in capsys.readouterr().out


def test_resume_latest_ends_with_the_same_weights(fake_mnist, tmp_path):
    # --invariance: the transformations' random draws must resume exactly too
    assert train(fake_mnist, tmp_path / "a", "--max-steps", "10", "--no-eval", "--invariance", "1") == 0
    assert train(fake_mnist, tmp_path / "b", "--max-steps", "6", "--no-eval", "--invariance", "1") == 0  # "interrupted" at 6
    assert main(["train", "--resume", "latest", "--outdir", str(tmp_path / "b"), "--max-steps", "10",
                 "--no-progress", "--no-eval", "--data-dir", str(fake_mnist)]) == 0
    a = load_file(str(tmp_path / "a" / "00000-tiny" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "00000-tiny" / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] == b[k]).all(), k
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "00000-tiny" / "stats.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8, 10]


def test_resume_refuses_to_change_the_model(fake_mnist, tmp_path, capsys):
    assert train(fake_mnist, tmp_path / "r", "--max-steps", "4", "--no-eval") == 0
    code = main(["train", "--resume", "latest", "--outdir", str(tmp_path / "r"), "--latent", "z8,cat5"])
    assert code == 2
    assert "cannot change --latent" in capsys.readouterr().err


def test_resume_refuses_another_preset_and_takes_its_own(fake_mnist, tmp_path, capsys):
    # --preset was ignored on --resume: the run went on as the preset it was made with, silently
    assert train(fake_mnist, tmp_path / "r", "--max-steps", "4", "--no-eval") == 0
    resume = ["train", "--resume", "latest", "--outdir", str(tmp_path / "r"), "--no-progress", "--no-eval",
              "--data-dir", str(fake_mnist), "--max-steps", "6"]
    assert main([*resume, "--preset", "fashion-mnist"]) == 2
    assert capsys.readouterr().err.strip() == ("infogan: error: --resume cannot change --preset (the run's is 'tiny'; "
                                               "start a new run instead)")
    assert main([*resume, "--preset", "tiny"]) == 0


def test_resume_of_a_run_older_than_an_option_takes_its_default(fake_mnist, tmp_path, capsys):
    # a run saved before --overcluster existed did what --overcluster 0 does: resuming with
    # that value continues it, any other value is a change
    assert train(fake_mnist, tmp_path / "r", "--max-steps", "4", "--no-eval") == 0
    run = tmp_path / "r" / "00000-tiny"
    for meta in (run / "checkpoints").glob("*/meta.json"):
        saved = json.loads(meta.read_text())
        del saved["train_config"]["overcluster"]
        meta.write_text(json.dumps(saved))
    resume = ["train", "--resume", "latest", "--outdir", str(tmp_path / "r"), "--no-progress", "--no-eval",
              "--data-dir", str(fake_mnist), "--max-steps", "6"]
    assert main([*resume, "--overcluster", "1"]) == 2
    assert "cannot change --overcluster" in capsys.readouterr().err
    assert main([*resume, "--overcluster", "0"]) == 0
    assert json.loads((run / "config.json").read_text())["overcluster"] == 0


QUICK_BENCH = ["--steps", "1", "--repeats", "1", "--peak-size", "64", "--no-reference"]  # cheap if a check regresses


@pytest.mark.parametrize("argv, message", [
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    (["train", "--latent", "z62,cat"], "malformed latent spec token 'cat'"),
    (["train", "--preset", "tiny", "--latent", "z0,cat1", "--dry-run"], "latent spec token 'z0': size must be >= 1"),
    (["train", "--batch-size", "1"], "--batch-size must be >= 2"),
    (["train", "--resume", "latest", "--outdir", "/nonexistent-dir"], "no run with a checkpoint"),
    (["train", "--resume", "/nonexistent-run"], "--resume /nonexistent-run: no such folder"),  # was "no usable checkpoint in .../checkpoints"
    (["train", "--latent", "z8,cont2", "--dry-run"],  # the mnist preset turns it on
     "--refine-groups works on a categorical code and --latent has none: pass --refine-groups 0"),
    (["evaluate", "/nonexistent-model"], "not a model folder"),
    (["data", "fetch", "imagenet"], "unknown dataset 'imagenet'"),
    (["data", "fetch", "mnist", "--data-dir", "/nonexistent-dir"], "--data-dir /nonexistent-dir does not exist"),  # was ignored
    (["train", "--preset", "tiny", "--threads", "0", "--dry-run"], "--threads must be >= 1"),
    (["train", "--preset", "tiny", "--seed", "-1", "--dry-run"], "--seed must be in 0..2147483647"),
    (["sweep", "--preset", "tiny", "--seeds", "0", "--threads", "0", "--max-steps", "1", "--out", "/nonexistent-dir"], "--jobs and --threads must be >= 1"),
    (["sweep", "--preset", "tiny", "--seeds", "0-2,1", "--max-steps", "1", "--out", "/nonexistent-dir"],
     "seed 1 is listed twice"),
    (["sweep", "--preset", "tiny", "--seeds", "0", "--no-eval", "--max-steps", "1", "--out", "/nonexistent-dir"],
     "--no-eval leaves it nothing to tabulate"),
    (["baseline", "--out", "result.txt", "--data-dir", "/nonexistent-dir"], "--out result.txt: the file must end in .json"),
    (["baseline", "--epochs", "0", "--data-dir", "/nonexistent-dir"], "--epochs must be >= 1"),
    (["baseline", "--preset", "dsprites"],  # it tried to download dSprites, then said the split was missing
     "the baseline learns class labels and is measured on a test split: dsprites has no class labels"),
    (["bench", "--steps", "0"], "--steps, --repeats, --peak-size and --threads must be >= 1"),
    (["bench", "--threads", "0", *QUICK_BENCH], "--steps, --repeats, --peak-size and --threads must be >= 1"),
    (["bench", "--scaling", "32,1", *QUICK_BENCH], "--scaling's batch sizes must be >= 2"),
    (["bench", "--scaling", "32,x", *QUICK_BENCH], "bad --scaling '32,x'"),
    # a flag the command does not take: argparse printed the top-level usage, which names none of its flags
    (["sweep", "--seeds", "0", "--jobz", "2"],
     "infogan sweep: error: unrecognized arguments: --jobz 2 (did you mean --jobs?); see infogan sweep --help"),
    # argparse's own errors (a bad choice or type, a missing argument) printed the usage first, in several lines
    (["evaluate", "run", "--split", "val"], "infogan evaluate: error: argument --split: invalid choice: 'val' "
     "(choose from 'test', 'train'); see infogan evaluate --help"),
    (["export", "run"], "infogan export: error: the following arguments are required: --out; see infogan export --help"),
    (["infer", "run", "x.png", "--threads", "0"], "argument --threads: '0': a number of threads, 1 or more"),
    (["train", "--bogus", "1", "--lamda-cat=2"], "infogan train: error: unrecognized arguments: --bogus 1 --lamda-cat=2 "
     "(did you mean --lambda-cat?); see infogan train --help"),
])
def test_bad_input_is_one_line_not_a_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_networks_too_large_for_the_memory_are_one_line_and_leave_no_folder(fake_mnist, tmp_path, capsys):
    # torch's allocator said so in a RuntimeError with C++ frames, and the empty run folder stayed
    assert train(fake_mnist, tmp_path / "runs", "--width", "100000", "--max-steps", "1", "--no-eval") == 1
    err = capsys.readouterr().err
    assert err.startswith("infogan: error: out of memory (an allocation of ") and err.count("\n") == 1
    assert "--batch-size, --width or --samples" in err and list((tmp_path / "runs").iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for CUDA on a machine without it")
def test_cuda_asked_for_on_a_machine_without_it_is_one_line_and_leaves_no_folder(fake_mnist, tmp_path, capsys):
    # was torch's "Found no NVIDIA driver" traceback, and an empty run folder
    assert train(fake_mnist, tmp_path / "runs", "--device", "cuda:1", "--max-steps", "1", "--no-eval") == 2
    assert capsys.readouterr().err == ("infogan: error: --device cuda:1: this machine has no CUDA device; "
                                       "--device auto or cpu trains on the CPU\n")
    assert list((tmp_path / "runs").iterdir()) == []


def test_out_of_memory_reads_each_allocators_words():
    from infogan.errors import out_of_memory

    with pytest.raises(RuntimeError) as cpu:
        torch.empty(2**50, dtype=torch.uint8)  # a pebibyte: the CPU allocator's own RuntimeError
    assert str(out_of_memory(cpu.value)).startswith("out of memory (an allocation of 1048576.0 GiB)")
    cuda = RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.1 GiB")
    assert str(out_of_memory(cuda)).startswith("out of memory (an allocation of 20.00 GiB)")
    assert str(out_of_memory(MemoryError())).startswith("out of memory: ")
    assert out_of_memory(RuntimeError("shape mismatch")) is None  # other errors stay what they are


def test_a_file_where_a_folder_goes_is_named(fake_mnist, tmp_path, capsys):
    # mkdir's own words were "[Errno 17] File exists: 'runs'"
    (tmp_path / "runs").write_text("not a folder")
    assert train(fake_mnist, tmp_path / "runs", "--max-steps", "1", "--no-eval") == 1
    assert capsys.readouterr().err == f"infogan: error: {tmp_path / 'runs'} is a file; a folder is needed there\n"
    assert main(["sweep", *TINY, "--seeds", "0", "--max-steps", "1", "--data-dir", str(fake_mnist),
                 "--out", str(tmp_path / "runs" / "study")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'runs'} is a file, so no folder can be made below it" in err and err.count("\n") == 1
    assert (tmp_path / "runs").read_text() == "not a folder"


def test_an_os_error_names_its_path_in_the_os_words(fake_mnist, tmp_path, capsys):
    # Python's own words were "[Errno 2] No such file or directory: '/proc/infogan-runs'"
    assert train(fake_mnist, "/proc/infogan-runs", "--max-steps", "1", "--no-eval") == 1
    assert capsys.readouterr().err == "infogan: error: /proc/infogan-runs: No such file or directory\n"


def test_resuming_a_finished_run_does_nothing_unless_it_is_made_longer(fake_mnist, tmp_path, capsys):
    assert train(fake_mnist, tmp_path, "--max-steps", "4", "--ckpt-every", "2") == 0
    run = tmp_path / "00000-tiny"
    written = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    resume = ["train", "--resume", "latest", "--outdir", str(tmp_path), "--no-progress", "--data-dir", str(fake_mnist)]
    assert main(resume) == 0
    assert f"{run} has finished (step 4); nothing to do" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == written  # not re-saved, re-evaluated
    # an earlier checkpoint of it is a place to train again from, as before
    assert main(["train", "--resume", str(run / "checkpoints" / "checkpoint-000002"), "--no-progress", "--no-eval",
                 "--data-dir", str(fake_mnist)]) == 0
    assert "resuming from checkpoint-000002" in capsys.readouterr().out
    assert main([*resume, "--max-steps", "6", "--no-eval"]) == 0
    assert "resuming from checkpoint-000004" in capsys.readouterr().out
    assert json.loads((run / "done.json").read_text()) == {"step": 6}


def test_a_metric_named_that_cannot_be_measured_says_why(fake_mnist, tmp_path, capsys, monkeypatch):
    # it printed the header and nothing else: mnist has no known factors, this model no capsule G
    assert train(fake_mnist, tmp_path, "--max-steps", "1", "--no-eval") == 0
    capsys.readouterr()
    model = str(tmp_path / "00000-tiny")
    # refused before the images are read: `evaluate --metrics mig` of an MNIST model downloaded MNIST first
    with monkeypatch.context() as m:
        m.setattr("infogan.data.load", lambda *a, **k: pytest.fail("the images were read"))
        for args, why in [(["--metrics", "categorical,mig"], "mig cannot be measured here: it needs images with known factors"),
                          (["--metrics", "mimic"], "mimic cannot be measured here: it applies to models with a capsule G"),
                          (["--metrics", ","], "--metrics names no metric to measure"),
                          (["--samples", "1"], "--samples 1: the metrics that generate need at least 2 samples")]:
            assert main(["evaluate", model, *args, "--data-dir", str(fake_mnist)]) == 2
            assert why in capsys.readouterr().err
    assert main(["evaluate", model, "--no-quality", "--samples", "50", "--json", "--data-dir", str(fake_mnist)]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"dataset", "split", "n_images", "categorical", "information"}


def test_the_largest_seed_trains_relabels_and_evaluates(fake_mnist, tmp_path):
    # the run's pictures, relabelling and evaluation draw from seeds derived from it (seed + 12345, ...)
    assert train(fake_mnist, tmp_path, "--seed", "2147483647", "--max-steps", "2", "--refine-groups", "2") == 0
    assert (tmp_path / "00000-tiny-refine2-seed2147483647" / "done.json").is_file()


def test_dry_run_prints_resolved_config(capsys):
    assert main(["train", "--preset", "mnist", "--epochs", "3", "--lr-d", "0.001", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["epochs"] == 3 and cfg["lr_d"] == 0.001 and cfg["latent"] == "z62,cat10,cont2"
    assert cfg["invariance"] == 1.0 and cfg["channels_last"] is False and cfg["compile"] == "off"


def test_speed_and_objective_flags_reach_the_config(capsys):
    assert main(["train", "--preset", "mnist", "--channels-last", "--compile", "default", "--amp", "bf16",
                 "--invariance", "0", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["channels_last"] is True and cfg["compile"] == "default" and cfg["amp"] == "bf16"
    assert cfg["invariance"] == 0.0
    assert main(["train", "--preset", "mnist-paper", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["invariance"] == 0.0  # the paper's objective


def test_evaluate_json_on_a_run_folder(fake_mnist, tmp_path, capsys, monkeypatch):
    assert train(fake_mnist, tmp_path / "runs", "--max-steps", "4", "--no-eval") == 0
    capsys.readouterr()
    threads = []  # --threads (evaluate and infer: beside a sweep that holds the cores) reaches torch
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    assert main(["evaluate", str(tmp_path / "runs" / "00000-tiny"), "--json", "--data-dir", str(fake_mnist),
                 "--samples", "200", "--threads", "1", "--no-quality"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and result["n_images"] == 80
    assert set(result["information"]) == {"c1", "c2", "c3"}
    assert threads == [1]


def test_evaluating_another_split_leaves_the_runs_held_out_evaluation(fake_mnist, tmp_path, capsys):
    # was: `evaluate --split train` replaced metrics.json, and a sweep over the folder then
    # tabulated training-set accuracy as the seed's
    assert train(fake_mnist, tmp_path / "runs", "--max-steps", "4") == 0
    run = tmp_path / "runs" / "00000-tiny"
    held_out, picture = (run / "metrics.json").read_text(), (run / "confusion-c1.png").read_bytes()
    assert json.loads(held_out)["split"] == "test"
    assert main(["evaluate", str(run), "--split", "train", "--data-dir", str(fake_mnist), "--samples", "200"]) == 0
    assert (run / "metrics.json").read_text() == held_out and (run / "confusion-c1.png").read_bytes() == picture
    train_split = json.loads((run / "metrics-train.json").read_text())
    assert train_split["split"] == "train" and train_split["n_images"] == 320
    assert study.seed_row(0, Run(run))["accuracy"] == json.loads(held_out)["categorical"]["c1"]["accuracy"]


def test_presets_and_data_list(capsys, data_cache):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "z62,cat10,cont2" in out
    assert main(["data", "list"]) == 0
    assert "fashion-mnist" in capsys.readouterr().out


def _parsers(parser: argparse.ArgumentParser):
    """The parser and every subcommand's parser below it, nested ones (`data fetch`) included."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_commands_help_renders_and_explains_every_option():
    # argparse %-formats help text: one stray "%" in an option's prose made `train --help` a traceback
    parsers = list(_parsers(build_parser()))
    assert len(parsers) > len(COMMANDS)
    for parser in parsers:
        assert parser.format_help().startswith("usage: ")
        unexplained = [a.option_strings or a.dest for a in parser._actions
                       if a.help is None and not isinstance(a, argparse._SubParsersAction)]
        assert not unexplained, (parser.prog, unexplained)  # every option says what it does
        twice = [a.dest for a in parser._actions if "else None" in (a.help or "") or (a.help or "").count("default:") > 1]
        assert not twice, (parser.prog, twice)  # "(default: torch's choice) (default: the preset's, else None)"
    train = next(p for p in parsers if p.prog == "infogan train")
    assert "+-10%," in train.format_help()


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "infogan", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("infogan ")


def test_train_suggests_bf16_on_a_cpu_with_bf16_units(fake_mnist, tmp_path, capsys, monkeypatch):
    from infogan import speed
    monkeypatch.setattr(speed, "cpu_has_bf16_units", lambda: True)
    assert train(fake_mnist, tmp_path / "a", "--max-steps", "2", "--device", "cpu", "--no-eval") == 0
    assert "--amp auto (or bf16) trains about" in capsys.readouterr().out
    for amp in ("bf16", "auto"):
        assert train(fake_mnist, tmp_path / amp, "--max-steps", "2", "--device", "cpu", "--no-eval", "--amp", amp) == 0
        assert "trains about" not in capsys.readouterr().out
