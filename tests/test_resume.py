"""What survives what: stop signals, corrupt checkpoints, durable writes, divergence, full disks."""

import errno
import json
import os
import shutil
import signal

import pytest
import torch
from safetensors.torch import load_file

from infogan import InfoGAN, checkpoint
from infogan.cli import main
from infogan.config import resolve
from infogan.optim import make_optimizers
from infogan.run import Run
from infogan.step import BatchSampler, Stepper, train_step
from infogan.trainer import Trainer

TINY = ["train", "--preset", "tiny", "--no-progress", "--no-eval", "--log-every", "1", "--sample-every", "10"]


def train(fake_mnist, outdir, *extra):
    return main([*TINY, "--data-dir", str(fake_mnist), "--outdir", str(outdir), *extra])


def weights(outdir):
    return load_file(str(Run.numbered(outdir)[-1].model_dir / "model.safetensors"))


def stats_steps(outdir):
    rows = [json.loads(x) for x in Run.numbered(outdir)[-1].stats_file.read_text().splitlines()]
    return [r["step"] for r in rows if "loss_D" in r]


def test_a_stop_signal_asks_once_and_a_second_one_stops_at_once(fake_mnist, tmp_path):
    cfg = resolve("tiny")
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    trainer = Trainer(cfg, Run(tmp_path / "r"), images)
    before = signal.getsignal(signal.SIGINT)
    with trainer.stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
        assert trainer.stop_signal == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before  # handlers are given back


def test_time_based_checkpoints(fake_mnist, tmp_path):
    assert train(fake_mnist, tmp_path, "--max-steps", "12", "--ckpt-every", "1000", "--ckpt-minutes", "1e-9") == 0
    steps = [int(p.name[-6:]) for p in Run.numbered(tmp_path)[0].checkpoints()]
    assert steps == [10, 11, 12]  # one every step (the last 3 kept), not only at the end


def test_resume_skips_a_corrupt_newest_checkpoint(fake_mnist, tmp_path, capsys):
    assert train(fake_mnist, tmp_path / "a", "--max-steps", "20", "--ckpt-every", "5") == 0
    assert train(fake_mnist, tmp_path / "b", "--max-steps", "15", "--ckpt-every", "5") == 0
    newest = Run.numbered(tmp_path / "b")[0].latest_checkpoint()
    state = newest / "state.safetensors"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # a torn write
    capsys.readouterr()
    assert main([*TINY, "--resume", "latest", "--outdir", str(tmp_path / "b"), "--max-steps", "20",
                 "--data-dir", str(fake_mnist)]) == 0
    out = capsys.readouterr().out
    assert "skipping checkpoint-000015" in out and "resuming from checkpoint-000010" in out
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert stats_steps(tmp_path / "b") == list(range(1, 21))  # steps 11-15 logged once, not twice


def test_a_checkpoint_is_fsynced_before_it_is_published(tmp_path, monkeypatch):
    from infogan import files

    events, real_replace = [], os.replace
    monkeypatch.setattr(files, "fsync_file", lambda p: events.append(("fsync", os.path.basename(p))))
    monkeypatch.setattr(files, "fsync_dir", lambda p: events.append(("fsync", os.path.basename(p))))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("rename", os.path.basename(b))),
                                                     real_replace(a, b)))
    cfg = resolve("tiny")
    model = Stepper(cfg, torch.zeros(32, 1, 28, 28, dtype=torch.uint8)).model
    checkpoint.save(tmp_path, 3, model, *make_optimizers(model, cfg), {"latent": torch.Generator().get_state()}, {})
    renamed = events.index(("rename", "checkpoint-000003"))
    assert {("fsync", "state.safetensors"), ("fsync", "meta.json"), ("fsync", ".tmp-checkpoint-000003")} <= \
        set(events[:renamed])
    assert ("fsync", tmp_path.name) in events[renamed:]  # the rename itself made durable


@pytest.mark.parametrize("adam", ["fused", "loop"])
def test_a_non_finite_loss_skips_its_update_entirely(adam):
    cfg = resolve("tiny", {"adam": adam})
    stepper = Stepper(cfg, torch.zeros(32, 1, 28, 28, dtype=torch.uint8))
    model, opt_d, opt_g = stepper.model, stepper.opt_d, stepper.opt_g
    z, codes = model.spec.sample(16)
    train_step(stepper.parts, torch.zeros(16, 1, 28, 28), z, codes)  # Adam's state exists
    d_before = {k: v.clone() for k, v in model.D.named_parameters()}
    adam_before = {k: v.clone() for k, v in opt_d.state[next(model.D.parameters())].items()}
    x = torch.zeros(16, 1, 28, 28)
    x[0, 0, 0, 0] = float("nan")
    out = train_step(stepper.parts, x, z, codes)
    assert out["skipped/D"] == 1 and out["skipped/G"] == 0
    assert all(torch.equal(v, d_before[k]) for k, v in model.D.named_parameters())
    after = opt_d.state[next(model.D.parameters())]
    assert all(torch.equal(after[k], adam_before[k]) for k in adam_before)  # moments and step count too


def poison(monkeypatch, at_step: int, times: int = 1):
    """The batch of step `at_step` (0-based) holds a NaN, the first `times` times it is drawn."""
    real, left = BatchSampler.batch, [times]

    def batch(self, step):
        x = real(self, step)
        if step == at_step and left[0] > 0:
            left[0] -= 1
            x = x.clone()
            x[0, 0, 0, 0] = float("nan")
        return x

    monkeypatch.setattr(BatchSampler, "batch", batch)


def test_on_nan_stop_names_the_step_and_keeps_the_last_checkpoint(fake_mnist, tmp_path, monkeypatch, capsys):
    poison(monkeypatch, at_step=6)
    assert train(fake_mnist, tmp_path, "--max-steps", "20", "--ckpt-every", "5") == 2
    err = capsys.readouterr().err
    assert "at step 7" in err and "--on-nan" in err and err.count("\n") == 1
    run = Run.numbered(tmp_path)[0]
    assert [p.name for p in run.checkpoints()] == ["checkpoint-000005"] and not run.has_model()
    checkpoint.verify(run.latest_checkpoint())


def test_on_nan_rollback_goes_on_with_another_stream(fake_mnist, tmp_path, monkeypatch, capsys):
    poison(monkeypatch, at_step=6)
    assert train(fake_mnist, tmp_path, "--max-steps", "20", "--ckpt-every", "5", "--on-nan", "rollback") == 0
    assert "rolled back to step 5 (1 of at most 3)" in capsys.readouterr().out
    run = Run.numbered(tmp_path)[0]
    rows = [json.loads(x) for x in run.stats_file.read_text().splitlines()]
    assert [r for r in rows if "rollback" in r] == [{"step": 5, "rollback": 1, "from_step": 7}]
    assert stats_steps(tmp_path) == list(range(1, 21))  # the abandoned steps 6-7 are not in the log
    assert all(torch.isfinite(v).all() for v in weights(tmp_path).values())
    # every rollback is counted, and the count is bounded
    poison(monkeypatch, at_step=3, times=1)
    assert train(fake_mnist, tmp_path / "none", "--max-steps", "20", "--ckpt-every", "2", "--on-nan", "rollback",
                 "--max-rollbacks", "0") == 2
    assert "stopped after 0 rollbacks" in capsys.readouterr().err


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "No space left on device"),
                                         (errno.EROFS, "Read-only file system")])
def test_a_full_or_read_only_disk_stops_the_run_and_keeps_the_checkpoints(fake_mnist, tmp_path, monkeypatch,
                                                                          capsys, code, words):
    real, calls = checkpoint.save_file, []

    def save_file(tensors, path):
        calls.append(path)
        if len(calls) > 1:  # the first checkpoint fits, the second does not
            raise OSError(code, os.strerror(code), path)
        real(tensors, path)

    monkeypatch.setattr(checkpoint, "save_file", save_file)
    assert train(fake_mnist, tmp_path, "--max-steps", "20", "--ckpt-every", "5") == 2
    err = capsys.readouterr().err
    run = Run.numbered(tmp_path)[0]
    assert err.count("\n") == 1 and words in err and str(run.checkpoints_dir) in err and "step 10" in err
    assert [p.name for p in run.checkpoints_dir.iterdir()] == ["checkpoint-000005"]  # nothing half-written
    checkpoint.verify(run.latest_checkpoint())
    assert stats_steps(tmp_path)[-1] == 10  # it did not train on without a way to save


@pytest.mark.parametrize("argv, message", [
    (["train", "--preset", "tiny", "--data-dir", "/no/such/folder"], "--data-dir /no/such/folder does not exist"),
    (["serve", "MODEL", "--port", "99999"], "--port 99999"),
])
def test_bad_input_found_by_the_restart_trial(argv, message, tmp_path, capsys):
    from infogan import InfoGAN

    InfoGAN("z4,cat3", width=0.125).save_pretrained(tmp_path / "m")
    assert main([str(tmp_path / "m") if a == "MODEL" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_resume_latest_of_a_run_that_finished_does_not_train_again(fake_mnist, tmp_path):
    assert train(fake_mnist, tmp_path, "--max-steps", "6") == 0
    run = Run.numbered(tmp_path)[0]
    run.model_dir.joinpath("model.safetensors").unlink()  # as if it died writing its model
    assert main([*TINY, "--resume", "latest", "--outdir", str(tmp_path), "--data-dir", str(fake_mnist)]) == 0
    assert run.has_model() and stats_steps(tmp_path) == [1, 2, 3, 4, 5, 6]


def test_a_run_trained_further_sets_its_earlier_evaluation_aside(fake_mnist, tmp_path, capsys):
    # was: with --no-eval the step-4 model's metrics.json stayed beside the step-8 model, and a
    # sweep or `infer` read its figures and class names as the new model's
    assert main([*(a for a in TINY if a != "--no-eval"), "--data-dir", str(fake_mnist), "--outdir", str(tmp_path), "--max-steps", "4"]) == 0
    run = Run.numbered(tmp_path)[0]
    earlier = run.metrics_file.read_text()
    picture = (run.path / "confusion-c1.png").read_bytes()  # the step-4 model's confusion matrix went with it
    capsys.readouterr()
    assert main([*TINY, "--resume", "latest", "--outdir", str(tmp_path), "--max-steps", "8"]) == 0
    assert ("metrics.json, confusion-c1.png measured the model before this resume: moved to "
            "metrics-superseded.json, confusion-c1-superseded.png") in capsys.readouterr().out
    assert not run.metrics_file.exists() and (run.path / "metrics-superseded.json").read_text() == earlier
    assert not (run.path / "confusion-c1.png").exists()
    assert (run.path / "confusion-c1-superseded.png").read_bytes() == picture
    assert run.done_at() == 8


def test_a_resume_shorter_than_the_run_is_refused_and_leaves_the_run_as_it_was(fake_mnist, tmp_path, capsys):
    # it re-saved the step-4 weights as a 2-step run's model, rewrote config.json and dropped done.json
    assert train(fake_mnist, tmp_path, "--max-steps", "4", "--ckpt-every", "2") == 0
    run = Run.numbered(tmp_path)[0]
    before = {f: f.read_bytes() for f in (run.config_file, run.done_file, run.model_dir / "model.safetensors",
                                          run.stats_file)}
    capsys.readouterr()
    assert main([*TINY, "--resume", "latest", "--outdir", str(tmp_path), "--max-steps", "2"]) == 2
    assert capsys.readouterr().err == ("infogan: error: checkpoint-000004 is at step 4, past the 2 steps of this "
                                       "--epochs/--max-steps: resume an earlier checkpoint, or give a length at least "
                                       "as long\n")
    assert {f: f.read_bytes() for f in before} == before


def test_a_resume_from_an_earlier_checkpoint_sets_the_later_history_aside(fake_mnist, tmp_path, capsys):
    # the later checkpoints stayed: they pruned this run's own, done.json named step 20 for a 12-step
    # model, and --resume latest went on from the history the user had left
    assert train(fake_mnist, tmp_path, "--max-steps", "20", "--ckpt-every", "5") == 0
    run = Run.numbered(tmp_path)[0]
    earlier = run.checkpoints_dir / "checkpoint-000010"
    capsys.readouterr()
    assert main([*TINY, "--resume", str(earlier), "--max-steps", "12", "--data-dir", str(fake_mnist)]) == 0
    assert "checkpoint-000015, checkpoint-000020 are past checkpoint-000010, another history: moved to" in \
        capsys.readouterr().out
    assert [p.name for p in run.checkpoints()] == ["checkpoint-000010", "checkpoint-000012"]
    aside = run.checkpoints_dir / "superseded"
    assert sorted(p.name for p in aside.iterdir()) == ["checkpoint-000015", "checkpoint-000020"]
    assert sorted(checkpoint.verify(p)["step"] for p in aside.iterdir()) == [15, 20]  # kept whole
    assert run.done_at() == 12 and stats_steps(tmp_path) == list(range(1, 13))
    model = weights(tmp_path)
    assert main([*TINY, "--resume", "latest", "--outdir", str(tmp_path), "--data-dir", str(fake_mnist)]) == 0
    assert "has finished (step 12)" in capsys.readouterr().out
    assert all(torch.equal(model[k], v) for k, v in weights(tmp_path).items())
    # a second branch from the same point keeps both set-aside histories
    assert main([*TINY, "--resume", str(earlier), "--max-steps", "11", "--data-dir", str(fake_mnist)]) == 0
    assert sorted(p.name for p in aside.iterdir()) == ["checkpoint-000012", "checkpoint-000015", "checkpoint-000020"]
    assert run.done_at() == 11
    assert main([*TINY, "--resume", str(aside / "checkpoint-000020"), "--data-dir", str(fake_mnist)]) == 2
    assert "a history this run left when it was resumed from an earlier checkpoint" in capsys.readouterr().err
    assert main(["evaluate", str(aside / "checkpoint-000020"), "--data-dir", str(fake_mnist)]) == 0
    # a branch sets aside the other history's checkpoints between its start and its first save (they stayed
    # among its own and the pruning deleted the branch's start, checkpoint-000010) and at its first save's
    # step (replaced, as a rollback's re-save replaces its own, while the message said it was kept)
    capsys.readouterr()
    assert main([*TINY, "--resume", str(run.checkpoints_dir / "checkpoint-000010"), "--max-steps", "20",
                 "--data-dir", str(fake_mnist), "--no-eval"]) == 0
    assert "checkpoint-000011 is past checkpoint-000010" in capsys.readouterr().out
    assert main([*TINY, "--resume", str(run.checkpoints_dir / "checkpoint-000010"), "--max-steps", "15",
                 "--data-dir", str(fake_mnist), "--no-eval"]) == 0
    assert [p.name for p in run.checkpoints()] == ["checkpoint-000010", "checkpoint-000015"]
    steps = sorted(checkpoint.verify(p)["step"] for p in aside.iterdir())
    assert steps == [11, 12, 15, 15, 20, 20]  # both histories' step 15, and the 20-step branch's own 20


def test_a_branch_stopped_before_its_first_save_goes_on_from_its_start(fake_mnist, tmp_path, monkeypatch):
    # the later checkpoints were set aside only at the branch's first save, while its log was cut back at
    # once: a branch stopped before that save left --resume latest to go on from the other history's
    # step 20 with that history's rows 11-20 gone from stats.jsonl
    from infogan import trainer

    assert train(fake_mnist, tmp_path, "--max-steps", "20", "--ckpt-every", "5") == 0
    run = Run.numbered(tmp_path)[0]
    with monkeypatch.context() as m:
        m.setattr(trainer.Trainer, "run", lambda self, progress=True: (_ for _ in ()).throw(KeyboardInterrupt))
        assert main([*TINY, "--resume", str(run.checkpoints_dir / "checkpoint-000010"),
                     "--data-dir", str(fake_mnist)]) == 130
    assert [p.name for p in run.checkpoints()] == ["checkpoint-000010"]
    assert sorted(p.name for p in (run.checkpoints_dir / "superseded").iterdir()) == [
        "checkpoint-000015", "checkpoint-000020"]
    assert main([*TINY, "--resume", "latest", "--outdir", str(tmp_path), "--data-dir", str(fake_mnist)]) == 0
    assert run.done_at() == 20 and stats_steps(tmp_path) == list(range(1, 21))


def test_interrupted_runs_say_how_to_resume(monkeypatch, capsys):
    from infogan import trainer

    monkeypatch.setattr(trainer, "train", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["train", "--preset", "tiny"]) == 130
    assert "resume with --resume latest" in capsys.readouterr().err


def test_a_checkpoints_model_reads_back_its_live_or_averaged_weights(fake_mnist, tmp_path):
    assert train(fake_mnist, tmp_path, "--max-steps", "4", "--ckpt-every", "4", "--ema", "0.5") == 0
    ckpt = Run.numbered(tmp_path)[0].latest_checkpoint()
    saved = weights(tmp_path)  # the run's model: the weights' average at the last step
    average = checkpoint.load_model(ckpt, "ema").state_dict()
    assert saved.keys() == average.keys() and all(torch.equal(saved[k], average[k]) for k in saved)
    live = checkpoint.load_model(ckpt).state_dict()
    assert not all(torch.equal(live[k], average[k]) for k in live)  # the average lags the live weights
    # a checkpoint folder reads as the model the run would save there (sample, evaluate, serve ...)
    read = InfoGAN.from_pretrained(ckpt).state_dict()
    assert all(torch.equal(read[k], saved[k]) for k in saved)
    assert not checkpoint.load_model(ckpt).training
    with pytest.raises(checkpoint.CheckpointError, match="has no cr"):
        checkpoint.load_model(ckpt, "cr")


def test_a_run_still_training_is_read_from_its_checkpoints(fake_mnist, tmp_path, capsys):
    assert train(fake_mnist, tmp_path, "--max-steps", "4", "--ckpt-every", "2") == 0
    run = Run.numbered(tmp_path)[0]
    shutil.rmtree(run.model_dir)  # as before the end of training
    capsys.readouterr()
    assert main(["evaluate", str(run.path)]) == 2  # was "not an infogan model config (missing 'format' ...)"
    assert f"has no model yet (it is training, or stopped before the end); read its latest checkpoint instead: " \
           f"{run.checkpoints_dir / 'checkpoint-000004'}" in capsys.readouterr().err
    ckpt = str(run.checkpoints_dir / "checkpoint-000002")
    assert main(["evaluate", ckpt, "--json", "--no-quality", "--samples", "50", "--data-dir", str(fake_mnist)]) == 0
    assert json.loads(capsys.readouterr().out)["categorical"]["c1"]["accuracy"] > 0
    assert not run.metrics_file.exists()  # the run's evaluation is not this checkpoint's: nothing written
    assert main(["sample", ckpt, "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
