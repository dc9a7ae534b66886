"""As many seeds of several recipes as a time budget allows, the recipes interleaved.

    python benchmarks/seed_queue.py --out DIR --seconds 380 --slots 16 \
        --arm default= --arm lcat05='--lambda-cat 0.5' --seeds 0-99 -- --device cuda --epochs 3 ...

A failure rate needs many seeds (benchmarks/failure_rate.py: 10 without a failure before one
lever shows a lower rate than the default's 15 failures in 49), and a lent GPU gives them only for a few minutes.
So the runs are queued seed by seed, every arm's seed s before any arm's seed s+1, and `slots`
of them train at once, each as its own `infogan sweep --seeds s` in DIR/ARM/s<seed> (the words
after `--` go to every run). A run starts only while the budget still holds it (the longest
finished run so far, plus a tenth); at the end of the budget any run still going is stopped and
left out, so each arm ends with the seeds it finished, within one of the others. A run that
fails is counted as failed, never as a low accuracy; after `--max-errors` of them with none
finished the queue stops starting runs.

Writes DIR/queue.json (every run: arm, seed, status, seconds, test accuracy) and prints one
JSON line: per arm the finished seeds, their accuracies, and how many fall below --threshold.
Test labels only score the runs, as in a sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from infogan.latent import parse_seeds
from infogan.metrics.categorical import first


def arm(text: str) -> tuple[str, list[str]]:
    tag, sep, flags = text.partition("=")
    if not sep or not tag or not tag.replace("-", "").replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(f"--arm wants TAG=FLAGS (TAG in letters, digits, '-', '_'), not {text!r}")
    return tag, shlex.split(flags)


def accuracy_of(run_dir: Path) -> float | None:
    """The finished seed's test accuracy of its first categorical code, from its metrics.json."""
    found = list(run_dir.glob("*/metrics.json"))
    if not found:
        return None
    return first(json.loads(found[0].read_text()).get("categorical") or {}, "accuracy")


def sweep_command(preset: str, seed: int, folder: Path, flags: list[str]) -> list[str]:
    """One seed of one arm: `infogan sweep --seeds SEED` into its own folder."""
    return [sys.executable, "-m", "infogan", "sweep", "--preset", preset, "--seeds", str(seed), "--jobs", "1",
            "--out", str(folder), "--no-progress", *flags]


def run_queue(out: Path, arms: list[tuple[str, list[str]]], seeds: list[int], common: list[str], *,
              slots: int, seconds: float, preset: str, max_errors: int = 3, command=sweep_command,
              poll: float = 0.5) -> list[dict]:
    todo = [(tag, flags, s) for s in seeds for tag, flags in arms]
    start = time.monotonic()
    running: list[dict] = []
    done: list[dict] = []
    longest = 0.0

    def may_start() -> bool:
        if not todo:
            return False
        finished = [r for r in done if r["status"] == "done"]
        if not finished and sum(r["status"] == "failed" for r in done) >= max_errors:
            return False
        left = seconds - (time.monotonic() - start)
        return left > 1.1 * longest if finished else left > 0

    while todo or running:
        while len(running) < slots and may_start():
            tag, flags, seed = todo.pop(0)
            folder = out / tag / f"s{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            log = open(folder.parent / f"s{seed}.log", "w")
            proc = subprocess.Popen(command(preset, seed, folder, [*common, *flags]), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            running.append(dict(arm=tag, seed=seed, proc=proc, log=log, t0=time.monotonic(), folder=folder))
        if not running:
            break
        time.sleep(poll)
        over = time.monotonic() - start > seconds
        for r in list(running):
            rc = r["proc"].poll()
            if rc is None and over:
                os.killpg(r["proc"].pid, signal.SIGKILL)
                rc = r["proc"].wait()
                status = "stopped"
            elif rc is None:
                continue
            else:
                status = "done" if rc == 0 else "failed"
            r["log"].close()
            running.remove(r)
            took = round(time.monotonic() - r["t0"], 1)
            if status == "done":
                longest = max(longest, took)
            done.append(dict(arm=r["arm"], seed=r["seed"], status=status, rc=rc, seconds=took,
                             accuracy=accuracy_of(r["folder"]) if status == "done" else None))
            print(json.dumps(done[-1]), file=sys.stderr, flush=True)
        if over:
            todo.clear()
    return sorted(done, key=lambda r: (r["arm"], r["seed"]))


def summary(rows: list[dict], arms: list[str], threshold: float) -> dict:
    per_arm = {}
    for tag in arms:
        ok = [r for r in rows if r["arm"] == tag and r["status"] == "done" and r["accuracy"] is not None]
        accs = [r["accuracy"] for r in ok]
        per_arm[tag] = {"seeds": [r["seed"] for r in ok], "accuracy": accs,
                        "below_threshold": sum(a < threshold for a in accs), "runs": len(accs),
                        "failed_runs": sum(r["arm"] == tag and r["status"] == "failed" for r in rows),
                        "stopped_runs": sum(r["arm"] == tag and r["status"] == "stopped" for r in rows)}
    return {"threshold": threshold, "arms": per_arm}


def main(argv=None) -> int:
    argv = raw = list(sys.argv[1:] if argv is None else argv)
    common = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--arm", action="append", type=arm, required=True, help="TAG=FLAGS (repeatable)")
    p.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-99"))
    p.add_argument("--preset", default="mnist")
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--seconds", type=float, required=True, help="the budget: nothing runs past it")
    p.add_argument("--threshold", type=float, default=0.98)
    p.add_argument("--max-errors", type=int, default=3)
    args = p.parse_args(argv)
    if args.slots < 1 or args.seconds <= 0:
        p.error("--slots and --seconds must be positive")
    tags = [tag for tag, _ in args.arm]
    if len(set(tags)) != len(tags):
        p.error("each --arm needs its own TAG")
    rows = run_queue(args.out, args.arm, args.seeds, common, slots=args.slots, seconds=args.seconds,
                     preset=args.preset, max_errors=args.max_errors)
    result = {"command": "python benchmarks/seed_queue.py " + shlex.join(raw),
              "arms": {tag: shlex.join(flags) for tag, flags in args.arm}, "common": shlex.join(common),
              **summary(rows, tags, args.threshold), "runs": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "queue.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
