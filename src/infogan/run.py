"""Run: one training run's folder, the one place that knows its layout.

    runs/00003-mnist-seed1/
      config.json            the resolved training options (preset + flags)
      log.txt                what the run printed
      stats.jsonl            losses and MI bounds every log interval; held-out accuracy per epoch
      tb/                    TensorBoard events
      samples/epoch-0001.png the fixed-noise grid per epoch; samples.png: the last one
      training.gif, losses.png, traverse-<code>.png
      refine.json, refine.png               --refine-groups: the groups it moved
      neighbours.json                       --neighbour-steps: what the neighbour stage changed
      metrics.json, confusion-<code>.png    the evaluation (*-superseded: the model's before a resume
                                            that trained it further)
      checkpoints/checkpoint-004685/         exact-resume state
      model/                 config.json + model.safetensors: the trained model
      train.lock             held by the process training it (the pid of the last one)

A new run's folder is numbered and named after its preset and the options it sets away from
the preset's values that define a different run (the seed, the codes, the objective's
weights, the optimiser's settings: `in_name` in config.py), so a listing tells runs apart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
from pathlib import Path

from . import __version__, checkpoint
from .config import TrainConfig, resolve
from .errors import CheckpointError, InfoGANError
from .files import atomic_write

RUN_NAME = re.compile(r"(\d{5})-")
MAX_NAME = 80


def _inside(name: str) -> property:
    """A path inside the run folder, as a read-only attribute."""
    return property(lambda self: self.path / name, doc=f"RUN/{name}")


class Run:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ paths
    config_file = _inside("config.json")
    log_file = _inside("log.txt")
    stats_file = _inside("stats.jsonl")
    tb_dir = _inside("tb")
    samples_dir = _inside("samples")
    samples_png = _inside("samples.png")
    gif = _inside("training.gif")
    losses_png = _inside("losses.png")
    metrics_file = _inside("metrics.json")
    refine_file = _inside("refine.json")
    refine_png = _inside("refine.png")
    neighbours_file = _inside("neighbours.json")
    model_dir = _inside("model")
    checkpoints_dir = _inside("checkpoints")
    done_file = _inside("done.json")  # written when training, pictures and evaluation have all finished
    lock_file = _inside("train.lock")

    def sample_grid(self, tag: str) -> Path:
        return self.samples_dir / f"{tag}.png"

    def traverse_png(self, code: str) -> Path:
        return self.path / f"traverse-{code}.png"

    # ------------------------------------------------------------------ state
    def only_started(self) -> bool:
        """Whether the folder holds nothing but what a start writes before training (its config
        and log): nothing a failed start would lose by its removal."""
        return set(self.path.iterdir()) <= {self.config_file, self.log_file, self.lock_file}

    @contextlib.contextmanager
    def training(self):
        """Hold the run's lock while this process trains it. A second process (a resume started
        twice, a restart loop overlapping a job still running, two sweeps into one --out) is
        refused instead of writing the same checkpoints and logs. The OS drops the lock when the
        process ends, killed or not (flock), so a stale lock file blocks nothing."""
        try:
            import fcntl
        except ImportError:  # not a POSIX system: nothing to lock with
            fcntl = None
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip()
                raise InfoGANError(f"{self.path} is being trained by another process" + (f" (pid {holder})" if holder else "")
                                   + "; wait for it to end or stop it") from None
            except OSError as e:  # a file system without locks (some network mounts): train unguarded
                print(f"infogan: {self.path} cannot be locked against a second process ({e.strerror})", file=sys.stderr)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield self
        finally:
            os.close(fd)

    def checkpoints(self) -> list[Path]:
        return checkpoint.list_checkpoints(self.checkpoints_dir)

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def has_model(self) -> bool:
        return (self.model_dir / "model.safetensors").is_file()

    def done(self) -> bool:
        return self.done_file.is_file()

    def done_at(self) -> int | None:
        """The step done.json records (None: not done, or a run that never checkpointed)."""
        try:
            return json.loads(self.done_file.read_text())["step"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def mark_done(self) -> None:
        ckpt = self.latest_checkpoint()
        atomic_write(self.done_file, json.dumps({"step": checkpoint.read_meta(ckpt)["step"] if ckpt else None}) + "\n")

    def metrics(self) -> dict:
        return json.loads(self.metrics_file.read_text())

    def stats(self) -> list[dict]:
        """stats.jsonl's rows in order ([] before the first is written)."""
        f = self.stats_file
        return [json.loads(line) for line in f.read_text().splitlines() if line.strip()] if f.is_file() else []

    def read_config(self) -> dict:
        try:
            return json.loads(self.config_file.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"cannot read {self.config_file}: {e}") from None

    def write_config(self, cfg: TrainConfig, **extra) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self.config_file, json.dumps({"infogan_version": __version__, **cfg.to_dict(), **extra}, indent=2)
                     + "\n")

    # ------------------------------------------------------------------ finding and making runs
    @staticmethod
    def numbered(outdir: str | Path) -> list["Run"]:
        """The numbered run folders in outdir, oldest first."""
        outdir = Path(outdir)
        found = [p for p in outdir.iterdir() if p.is_dir() and RUN_NAME.match(p.name)] if outdir.is_dir() else []
        return [Run(p) for p in sorted(found, key=lambda p: int(RUN_NAME.match(p.name)[1]))]

    @classmethod
    def create(cls, outdir: str | Path, cfg: TrainConfig) -> "Run":
        """A new numbered folder in outdir, named after cfg (see name_for)."""
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        number = max((int(RUN_NAME.match(r.name)[1]) for r in cls.numbered(outdir)), default=-1) + 1
        run = cls(outdir / f"{number:05d}-{name_for(cfg)}")
        run.path.mkdir()
        return run

    @classmethod
    def latest(cls, outdir: str | Path) -> "Run":
        """The newest run in outdir that has a checkpoint."""
        runs = [r for r in cls.numbered(outdir) if r.checkpoints()]
        if not runs:
            raise InfoGANError(f"--resume latest: no run with a checkpoint in {outdir}")
        return runs[-1]

    @classmethod
    def for_resume(cls, target: str | Path, outdir: str | Path) -> tuple["Run", Path]:
        """(run, checkpoint folder) for --resume latest|RUN_DIR|CHECKPOINT_DIR. For a run, its
        newest checkpoint that verifies: newer ones cut short or corrupted are named and skipped."""
        path = Path(target)
        if str(target) != "latest" and checkpoint.is_checkpoint(path):
            if path.resolve().parent.name == checkpoint.SUPERSEDED:
                raise InfoGANError(f"--resume {target}: a history this run left when it was resumed from an earlier "
                                   "checkpoint; it is kept to be read (infogan evaluate), not resumed")
            checkpoint.verify(path)
            return cls(path.parent.parent), path
        if str(target) != "latest" and not path.is_dir():
            raise InfoGANError(f"--resume {target}: no such folder (give a run folder, one of its checkpoints, "
                               "or latest)")
        run = cls.latest(outdir) if str(target) == "latest" else cls(path)
        ckpt = checkpoint.latest_valid(run.checkpoints_dir)
        if ckpt is None:
            raise InfoGANError(f"--resume {target}: no usable checkpoint in {run.checkpoints_dir}")
        return run, ckpt

    # ------------------------------------------------------------------ log.txt
    @contextlib.contextmanager
    def logging(self):
        """Copy what the process prints to log.txt as well (appending: a resumed run adds to
        it). Progress bars (lines redrawn with a carriage return) stay on the terminal."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "a", buffering=1) as f:
            out, err = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = _Tee(out, f), _Tee(err, f)
            try:
                yield self
            finally:
                sys.stdout, sys.stderr = out, err


class _Tee:
    def __init__(self, stream, file):
        self.stream, self.file = stream, file

    def write(self, text: str) -> int:
        if "\r" not in text:
            self.file.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()
        self.file.flush()

    def __getattr__(self, name):  # isatty, fileno, encoding: the terminal's
        return getattr(self.stream, name)


def name_for(cfg: TrainConfig) -> str:
    """preset[-key value...]: the options with an `in_name` that cfg sets away from its preset."""
    preset = resolve(cfg.preset).to_dict()
    parts = [cfg.preset]
    for f in dataclasses.fields(TrainConfig):
        short, value = f.metadata["in_name"], getattr(cfg, f.name)
        if short and value != preset[f.name]:
            text = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(short + re.sub(r"[^A-Za-z0-9.@=]+", "_", text))
    return "-".join(parts)[:MAX_NAME]


def model_and_run(path: str | Path):
    """(model, its Run or None) for a run folder, a model folder, or a checkpoint folder (None:
    its run's evaluation is not of these weights, and nothing is written beside it)."""
    from .model import InfoGAN, resolve_model_dir

    if checkpoint.is_checkpoint(path):
        return InfoGAN.from_pretrained(path), None
    model_dir = resolve_model_dir(path)
    run = Run(model_dir.parent) if model_dir.name == "model" else Run(model_dir)
    return InfoGAN.from_pretrained(model_dir), run
