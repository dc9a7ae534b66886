"""Real training processes killed at random moments, resumed each time: the run must end with
the weights of a run that was never interrupted, bit for bit, and log every step once."""

import json
import random
import signal
import subprocess
import time
from pathlib import Path

from safetensors.torch import load_file

STEPS = 120
# --no-eval: the end of a run is then its final pictures (a kill there is tested), and each
# process takes seconds, not tens of them
ARGS = ["train", "--preset", "tiny", "--max-steps", str(STEPS), "--log-every", "5", "--ckpt-every", "10",
        "--sample-every", "40", "--threads", "1", "--seed", "3", "--no-progress", "--no-eval"]


def run_dir(outdir: Path) -> Path:
    (run,) = [p for p in outdir.iterdir() if p.is_dir()]
    return run


def outcome(outdir: Path):
    run = run_dir(outdir)
    weights = load_file(str(run / "model" / "model.safetensors"))
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("images_per_s", None)  # wall-clock, not a training quantity
    return weights, rows


def same_outcome(a, b) -> None:
    (wa, ra), (wb, rb) = a, b
    assert wa.keys() == wb.keys()
    for k in wa:
        assert (wa[k] == wb[k]).all(), k  # bit for bit
    assert ra == rb  # every row once, with the uninterrupted run's values


def wait_for(predicate, proc, timeout=60.0, poll=0.0005) -> bool:
    """Poll until predicate() or the process ends; True if the predicate came first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if predicate():
            return True
        time.sleep(poll)
    return False


def checkpoint_in_flight(outdir: Path) -> bool:
    return any(outdir.glob("*/checkpoints/.tmp-checkpoint-*"))


def test_sigkill_at_random_moments_then_resume_latest(cli_process, fake_mnist, tmp_path):
    common = [*cli_process, *ARGS, "--data-dir", str(fake_mnist)]
    subprocess.run([*common, "--outdir", str(tmp_path / "a")], check=True, capture_output=True, timeout=300)
    reference = outcome(tmp_path / "a")

    out, rng = tmp_path / "b", random.Random(0)
    moments = ["checkpoint"] * 3 + ["step"] * 3 + ["final"]
    seen = []
    resume = []
    for moment in moments:
        proc = subprocess.Popen([*common, "--outdir", str(out), *resume], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if moment == "checkpoint":  # while a checkpoint is being written
            wait_for(lambda: checkpoint_in_flight(out), proc)
        elif moment == "step":  # anywhere in the loop
            wait_for(lambda: any(out.glob("*/stats.jsonl")), proc)
            time.sleep(rng.uniform(0, 0.8))
        else:  # the model is saved: the final pictures and the evaluation are under way
            wait_for(lambda: any(out.glob("*/model/model.safetensors")), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if checkpoint_in_flight(out):
            seen.append("mid-checkpoint")
        # killed before its first checkpoint was published, a run has nothing for `latest`: auto starts it again
        resume = ["--resume", "latest" if any(out.glob("*/checkpoints/checkpoint-*/meta.json")) else "auto"]
    done = subprocess.run([*common, "--outdir", str(out), *resume], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    same_outcome(outcome(out), reference)
    assert "mid-checkpoint" in seen  # at least one kill left a checkpoint half-written


def test_sigterm_saves_and_resumes_exactly(cli_process, fake_mnist, tmp_path):
    # no periodic checkpoints: what a stop saves is all there is to resume from
    common = [*cli_process, *ARGS, "--data-dir", str(fake_mnist), "--ckpt-every", "1000", "--ckpt-minutes", "0"]
    subprocess.run([*common, "--outdir", str(tmp_path / "a")], check=True, capture_output=True, timeout=300)
    reference = outcome(tmp_path / "a")

    out, rng, stops = tmp_path / "b", random.Random(1), []
    for _ in range(4):
        proc = subprocess.Popen([*common, "--outdir", str(out), "--resume", "auto"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        wait_for(lambda: any(out.glob("*/stats.jsonl")), proc)
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
        if proc.returncode == 128 + signal.SIGTERM:  # (not when it came before or after the loop)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "stopped by SIGTERM at step" in lines[0] and "--resume" in lines[0], err
            step = int(lines[0].split("at step ")[1].split()[0])
            assert (run_dir(out) / "checkpoints" / f"checkpoint-{step:06d}").is_dir()  # saved where it stopped
            stops.append(step)
    done = subprocess.run([*common, "--outdir", str(out), "--resume", "latest"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    same_outcome(outcome(out), reference)
    assert stops and any(s % 5 for s in stops)  # some stops fell inside a log interval, and still matched


def test_a_restart_loop_goes_on_whether_or_not_a_checkpoint_was_made(cli_process, fake_mnist, tmp_path):
    common = [*cli_process, *ARGS, "--data-dir", str(fake_mnist), "--outdir", str(tmp_path), "--resume", "auto"]
    # killed during start-up, before any checkpoint: auto starts that run again, in its folder
    proc = subprocess.Popen(common, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: any(tmp_path.glob("0*/config.json")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not any(tmp_path.glob("0*/checkpoints/checkpoint-*"))
    assert subprocess.run(common, capture_output=True, timeout=300).returncode == 0
    (run,) = [p for p in tmp_path.iterdir() if p.name.startswith("0")]
    assert (run / "done.json").is_file() and (run / "model" / "model.safetensors").is_file()
    # the run is finished: the same command now starts a new one
    assert subprocess.run([*common, "--max-steps", "2"], capture_output=True, timeout=300).returncode == 0
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("0")]) == 2
