"""Run: the run folder's owner (names, numbering, latest, resume targets, log.txt)."""

import json
import sys

import pytest

from infogan.cli import main
from infogan.config import resolve
from infogan.errors import InfoGANError
from infogan.run import Run, name_for


def test_names_carry_the_options_that_make_a_different_run():
    assert name_for(resolve("mnist")) == "mnist"
    # length, speed and bookkeeping options do not make another run; the seed and objective do
    assert name_for(resolve("mnist", {"epochs": 2, "threads": 1, "outdir": "x", "data_dir": "y"})) == "mnist"
    assert name_for(resolve("mnist", {"seed": 3, "invariance": 0.0})) == "mnist-inv0-seed3"
    assert name_for(resolve("mnist", {"latent": "z62,cat10,cont2:fixed"})) == "mnist-latentz62_cat10_cont2_fixed"
    assert name_for(resolve("mnist-paper", {"invariance": 0.0})) == "mnist-paper"  # the preset's own value


def test_options_from_python_are_of_their_type(tmp_path):
    import numpy as np

    from infogan import train

    # train(epochs="3") was a TypeError from a comparison in validate(), a traceback
    for bad, message in (({"epochs": "3"}, "--epochs takes a whole number, not '3'"),
                         ({"epochs": 2.0}, "--epochs takes a whole number, not 2.0"),
                         ({"lr_d": True}, "--lr-d takes a number, not True"),
                         ({"latent": 5}, "--latent takes a string, not 5")):
        with pytest.raises(InfoGANError, match=message):
            train("tiny", outdir=tmp_path, **bad)
    assert not any(tmp_path.iterdir())  # refused before a run folder was made
    cfg = resolve("tiny", {"epochs": np.int64(2), "lr_d": np.float32(0.5), "width": 1})  # numpy's numbers and
    assert (type(cfg.epochs), type(cfg.lr_d), type(cfg.width)) == (int, float, float)  # an int for a float are fine
    json.dumps(cfg.to_dict())  # (config.json cannot hold numpy's)


def test_create_numbers_runs_and_latest_needs_a_checkpoint(tmp_path):
    a = Run.create(tmp_path, resolve("tiny"))
    b = Run.create(tmp_path, resolve("tiny", {"seed": 2}))
    assert (a.name, b.name) == ("00000-tiny", "00001-tiny-seed2")
    with pytest.raises(InfoGANError, match="no run with a checkpoint"):
        Run.latest(tmp_path)
    save_a_checkpoint(a.checkpoints_dir, 4)
    assert Run.latest(tmp_path).path == a.path  # b is newer but has nothing to resume
    run, ckpt = Run.for_resume(str(a.checkpoints_dir / "checkpoint-000004"), tmp_path)
    assert run.path == a.path and ckpt.name == "checkpoint-000004"


def save_a_checkpoint(ckdir, step):
    import torch

    from infogan import InfoGAN, checkpoint
    from infogan.optim import make_optimizers

    model = InfoGAN.for_training(resolve("tiny"))
    return checkpoint.save(ckdir, step, model, *make_optimizers(model, resolve("tiny")),
                           {"latent": torch.Generator().get_state()}, {"train_config": resolve("tiny").to_dict()})


def test_log_txt_holds_what_the_run_printed_without_progress_bars(tmp_path, capsys):
    run = Run(tmp_path / "r")
    with run.logging():
        print("hello")
        sys.stderr.write("\rprogress 50%")
        sys.stderr.write("a warning\n")
    with run.logging():  # a resumed run appends
        print("again")
    assert run.log_file.read_text() == "hello\na warning\nagain\n"
    assert "progress 50%" in capsys.readouterr().err  # still on the terminal


def test_a_trained_run_folder_has_its_log(fake_mnist, tmp_path):
    assert main(["train", "--preset", "tiny", "--max-steps", "4", "--no-progress", "--data-dir", str(fake_mnist),
                 "--outdir", str(tmp_path), "--seed", "1", "--sample-every", "2"]) == 0
    (run,) = Run.numbered(tmp_path)
    assert run.name == "00000-tiny-seed1"
    log = run.log_file.read_text()
    assert "infogan: run folder" in log and "step 2/4" in log and "step 4/4" in log and "accuracy" in log
    assert json.loads(run.config_file.read_text())["seed"] == 1


def test_a_run_being_trained_is_not_trained_by_a_second_process(fake_mnist, tmp_path, capsys):
    train = ["train", "--preset", "tiny", "--no-progress", "--no-eval", "--data-dir", str(fake_mnist),
             "--outdir", str(tmp_path)]
    assert main([*train, "--max-steps", "2"]) == 0
    (run,) = Run.numbered(tmp_path)
    checkpoint = run.latest_checkpoint()
    capsys.readouterr()
    with run.training():  # as another process training it would: a second open of the lock file
        assert main([*train, "--resume", "latest", "--max-steps", "4"]) == 2
        err = capsys.readouterr().err
        assert f"{run.path} is being trained by another process (pid " in err and err.count("\n") == 1
        assert run.checkpoints() == [checkpoint] and "step 4" not in run.log_file.read_text()
    assert main([*train, "--resume", "latest", "--max-steps", "4"]) == 0  # the lock goes with its holder
    assert run.latest_checkpoint().name == "checkpoint-000004"


def test_a_file_system_without_locks_trains_unguarded(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with Run(tmp_path / "r").training() as run:
        assert run.lock_file.is_file()
    assert "cannot be locked against a second process (No locks available)" in capsys.readouterr().err
