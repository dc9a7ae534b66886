"""Measure a lever that starts late without training its shared start again.

A run with --erase-start F trains, draw for draw, the run without --erase and --fake-erase
until the first step s >= F x (its steps) (tests/test_objective.py checks the weights). So
a finished run's checkpoint at step S, continued with only those options added where they
start at or after S, is the lever's own run from scratch: a study of the late lever costs
only the part after S, and its seeds are compared with the very runs they branch from.

    python benchmarks/fork_run.py SRC_RUN STEP DEST_RUN [--threads N] --set fake_erase=8 --set erase_start=0.3557

DEST_RUN gets SRC_RUN's config, log and stats up to STEP and that one checkpoint, then trains
to the end and is evaluated like any run (metrics.json); named OUT/PRESET-seedS, a sweep with
the same flags and --out OUT tabulates it. Refuses any other option, or a start before STEP.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from infogan import data  # noqa: E402
from infogan.checkpoint import PREFIX, read_meta, verify  # noqa: E402
from infogan.config import TrainConfig  # noqa: E402
from infogan.errors import InfoGANError  # noqa: E402
from infogan.run import Run  # noqa: E402
from infogan.step import total_steps  # noqa: E402
from infogan.trainer import train, truncate_stats  # noqa: E402

LATE_OPTIONS = {"erase", "fake_erase", "erase_start"}  # what this fork may add: off until erase_start


def parse_setting(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or name not in TrainConfig.__dataclass_fields__:
        raise InfoGANError(f"--set wants NAME=VALUE with a training option's name, not {text!r}")
    return name, json.loads(value)


def fork(src: Path, step: int, dest: Path, settings: dict, threads: int | None) -> Run:
    ckpt = Run(src).checkpoints_dir / f"{PREFIX}{step:06d}"
    if not (ckpt / "meta.json").is_file():
        raise InfoGANError(f"{src} has no checkpoint at step {step}")
    verify(ckpt)
    saved = read_meta(ckpt)["train_config"]
    if set(settings) - LATE_OPTIONS:
        raise InfoGANError(f"only {', '.join(sorted(LATE_OPTIONS))} may be added, not {sorted(set(settings) - LATE_OPTIONS)}")
    if saved.get("erase") or saved.get("fake_erase"):
        raise InfoGANError(f"{src} already erases: fork a run without --erase and --fake-erase")
    cfg = TrainConfig.from_dict({**saved, **settings})
    images, _ = data.load(cfg.dataset, "train", cfg.data_dir, image_size=cfg.image_size, channels=cfg.channels)
    total = total_steps(cfg, len(images))
    first = math.ceil(cfg.erase_start * total)
    if first < step:
        raise InfoGANError(f"erasing starts at step {first} of {total}, before the checkpoint's {step}: "
                           f"the fork would not be that run (--erase-start >= {step / total:.6f})")
    if dest.exists():
        raise InfoGANError(f"{dest} exists")
    dest.mkdir(parents=True)
    run = Run(dest)
    shutil.copytree(ckpt, run.checkpoints_dir / ckpt.name)
    for name in ("config.json", "log.txt", "stats.jsonl"):
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
    truncate_stats(run.stats_file, step)
    print(f"fork: {src} at step {step} -> {dest}; erasing from step {first} of {total}", flush=True)
    return train(cfg.preset, run_dir=dest, progress=False, threads=threads, data_dir=cfg.data_dir, **settings)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", type=Path)
    p.add_argument("step", type=int)
    p.add_argument("dest", type=Path)
    p.add_argument("--threads", type=int)
    p.add_argument("--set", action="append", default=[], type=parse_setting, metavar="NAME=VALUE")
    args = p.parse_args(argv)
    try:
        fork(args.src, args.step, args.dest, dict(args.set), args.threads)
    except InfoGANError as e:
        print(f"fork_run: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
