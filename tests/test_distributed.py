"""Training in several processes: torchrun + DistributedDataParallel on CPU (gloo)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

from infogan import data, distributed
from infogan.step import BatchSampler


def test_the_group_comes_from_torchruns_environment(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.from_env() == distributed.SINGLE and distributed.SINGLE.main
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    group = distributed.from_env()
    assert (group.rank, group.world, group.local_rank, group.enabled, group.main) == (3, 4, 1, True, False)


def test_ranks_take_the_slices_of_one_global_batch():
    # what 2 processes draw at batch 8 is what one process draws at batch 16, split in two
    images = torch.randint(0, 256, (100, 1, 28, 28), dtype=torch.uint8)
    cpu = torch.device("cpu")
    single = BatchSampler(images, 16, seed=3, device=cpu)
    ranks = [BatchSampler(images, 8, seed=3, device=cpu, rank=r, world=2) for r in (0, 1)]
    assert ranks[0].steps_per_epoch == single.steps_per_epoch == 6
    for step in (0, 5, 6, 13):  # within the first epoch and into later ones
        assert torch.equal(torch.cat([s.batch(step) for s in ranks]), single.batch(step))


WORKER = """
import dataclasses, json, os, sys
from safetensors.torch import save_file
from infogan import data, trainer
from infogan.cli import main
data.DATASETS['mnist'] = dataclasses.replace(data.DATASETS['mnist'], files=json.loads(sys.argv[2]),
                                             mirrors=[], registry_sources=[])
run = trainer.Trainer.run
def run_and_keep(self, progress=True):  # every rank leaves its final weights for the test
    model = run(self, progress)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              f"{sys.argv[1]}/rank{os.environ['RANK']}.safetensors")
    return model
trainer.Trainer.run = run_and_keep
sys.exit(main(sys.argv[3:]))
"""


def test_torchrun_keeps_every_process_on_the_same_weights(fake_mnist, tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker),
           str(tmp_path), json.dumps(data.DATASETS["mnist"].files),
           "train", "--preset", "tiny", "--data-dir", str(fake_mnist), "--outdir", str(tmp_path / "runs"),
           "--max-steps", "6", "--log-every", "2", "--ckpt-every", "2", "--invariance", "1", "--device", "cpu",
           "--threads", "1", "--no-eval", "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "2 processes" in out.stdout
    # rank 0 alone wrote the run folder
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "config.json").read_text())["processes"] == 2
    assert (run_dir / "model" / "model.safetensors").is_file()
    # the processes trained on different images and noise, yet DDP's averaged gradients kept
    # their weights equal (batch norm's running statistics are each process's own between
    # DDP's broadcasts from rank 0)
    a, b = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    params = [k for k in a if "running_" not in k and "num_batches" not in k]
    assert params and all(torch.equal(a[k], b[k]) for k in params)
    assert any(not torch.equal(a[k], b[k]) for k in a if "running_mean" in k)  # they did see different data
    saved = load_file(run_dir / "model" / "model.safetensors")
    assert all(torch.equal(saved[k], a[k]) for k in params)

    # --resume: every rank finds rank 0's checkpoint and goes on from it
    resume = cmd[: cmd.index("train") + 1] + ["--resume", "latest", "--outdir", str(tmp_path / "runs"),
                                              "--max-steps", "8", "--no-progress"]
    out = subprocess.run(resume, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "resuming from checkpoint-000006" in out.stdout
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 8
    a, b = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in params)


def test_a_signal_stops_every_process_at_one_step_with_a_checkpoint(fake_mnist, tmp_path):
    # was: every process died with the signal, and the steps since the last periodic checkpoint were lost
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker),
           str(tmp_path), json.dumps(data.DATASETS["mnist"].files),
           "train", "--preset", "tiny", "--data-dir", str(fake_mnist), "--outdir", str(runs), "--log-every", "5",
           "--ckpt-every", "100000", "--ckpt-minutes", "0", "--device", "cpu", "--threads", "1", "--no-eval",
           "--no-progress"]

    def stopped_by(send, resume=()):
        proc = subprocess.Popen([*cmd, "--max-steps", "100000", *resume], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=tmp_path, start_new_session=True)
        stats = list(runs.glob("*/stats.jsonl"))
        rows = len(stats[0].read_text().splitlines()) if stats else 0
        deadline = time.monotonic() + 120
        while not (stats := list(runs.glob("*/stats.jsonl"))) or len(stats[0].read_text().splitlines()) < rows + 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        send(proc)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, out + err
        # (the ranks share torchrun's stderr, and a line of one can land inside the other's: read it by pattern)
        stops = re.findall(r"infogan: stopped by SIG\w+ at step (\d+) of 100000; checkpoint saved\. "
                           r"Resume with: infogan train --resume ", err)
        assert len(stops) == 1, out[-2000:] + err[-3000:]
        step = int(stops[0])
        assert step % 5 == 0 and re.findall(r"rank 1 stopped with rank 0 at step (\d+)", err) == [str(step)], err
        return stats[0].parent, step

    # Ctrl-C in a terminal: torchrun's process group gets SIGINT; torchrun (whose workers have sessions of their own)
    # passes it on to each, once
    run_dir, first = stopped_by(lambda p: os.killpg(p.pid, signal.SIGINT))
    assert (run_dir / "checkpoints" / f"checkpoint-{first:06d}").is_dir() and not (run_dir / "model").exists()
    # a cluster's preemption: SIGTERM to torchrun, which passes it on
    resume = ["--resume", "latest"]
    run_dir, second = stopped_by(lambda p: p.send_signal(signal.SIGTERM), resume)
    assert second > first and (run_dir / "checkpoints" / f"checkpoint-{second:06d}").is_dir()
    done = subprocess.run([*cmd, *resume, "--max-steps", str(second + 4)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert f"resuming from checkpoint-{second:06d}" in done.stdout
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss_D" in r][-1] == second + 4
    a, b = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a if "running_" not in k and "num_batches" not in k)


def test_rollback_is_refused_under_torchrun(fake_mnist, tmp_path, monkeypatch, capsys):
    from infogan.cli import main

    monkeypatch.setattr(distributed, "join", lambda device: distributed.Group(0, 2, 0))  # as torchrun's rank 0
    assert main(["train", "--preset", "tiny", "--on-nan", "rollback", "--data-dir", str(fake_mnist),
                 "--outdir", str(tmp_path / "runs"), "--max-steps", "2", "--no-progress"]) == 2
    assert "--on-nan rollback works in one process" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # refused before a run folder
