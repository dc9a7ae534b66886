"""Training a run: the loop around the step (logs, pictures, checkpoints) and train(), which
takes a preset and flags to a trained, evaluated run folder.

    from infogan import train
    run = train("mnist", seed=1, epochs=3)       # -> Run("runs/00001-mnist-seed1")
    run = train(resume="latest")                 # continue the newest run in runs/

What survives what (README, "Resume"): checkpoints every --ckpt-every steps and every
--ckpt-minutes; SIGINT/SIGTERM finish the step in flight, save one and exit (a second
signal exits at once; under torchrun every process stops at the same step, the next log
interval's end, and rank 0 saves); a resumed run truncates stats.jsonl (and TensorBoard) to its
checkpoint, so every step is logged once, and carries the log interval's partial sums, so
its rows are the uninterrupted run's; a non-finite loss skips its update and stops the run
or rolls it back (--on-nan).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import checkpoint, data, distributed, speed, viz
from .config import LENGTH, TrainConfig, first_difference, resolve
from .errors import CheckpointError, Diverged, InfoGANError, Stopped, out_of_memory
from .files import atomic_write
from .metrics.categorical import categorical_scores
from .model import InfoGAN
from .neighbours import NeighbourStage, neighbour_stage
from .refine import Refinement, refine
from .run import Run
from .step import Stepper, pick_device


class Trainer(Stepper):
    """Trains cfg on images into a run folder. heldout = (images, labels), when given, is only
    looked at: each categorical code's test accuracy is logged with every sample grid
    (acc/<code> in stats.jsonl and TensorBoard), never used for training."""

    def __init__(self, cfg: TrainConfig, folder: Run, images: torch.Tensor, resume_from: Path | None = None,
                 heldout: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(cfg, images)
        check_final_stages(cfg, len(images))  # before training: they run after the last step
        self.folder = folder
        self.heldout = heldout
        self.log_every = cfg.log_every
        self.sample_every = cfg.sample_every or self.sampler.steps_per_epoch
        self.step, self.rollbacks = 0, 0
        self.sums: dict[str, torch.Tensor] = {}  # this log interval's running sums of the step's outputs
        self.first_bad = torch.full((), -1, dtype=torch.long, device=self.device)  # first non-finite step
        self.stop_signal = None  # the signal caught (under torchrun: by any process, once agreed)
        self.caught = False  # whether this process caught one itself
        if resume_from is not None:  # before the first step, so before any graph is captured
            self.restore(resume_from)
            if self.step > self.total_steps:  # (it re-saved the later weights under the shorter length)
                raise InfoGANError(f"{resume_from.name} is at step {self.step}, past the {self.total_steps} steps of "
                                   "this --epochs/--max-steps: resume an earlier checkpoint, or give a length at least "
                                   "as long")
        if self.group.main:
            truncate_stats(folder.stats_file, self.step)  # a restarted run logs each step once
            # a branch: the later checkpoints go with the log rows just cut, at once (left until the first
            # save, they were pruned or replaced by it, and a stop before it went back to their history)
            if resume_from is not None and (later := checkpoint.set_aside_later(folder.checkpoints_dir, self.step)):
                print(f"infogan: {', '.join(p.name for p in later)} {'is' if len(later) == 1 else 'are'} past "
                      f"{resume_from.name}, another history: moved to "
                      f"{folder.checkpoints_dir / checkpoint.SUPERSEDED} (kept, not resumed from)")

    # ------------------------------------------------------------------ checkpoints
    @property
    def final(self) -> InfoGAN:
        """The model that is saved, drawn and evaluated: the weights' average (--ema) or the weights."""
        return self.ema.model if self.ema is not None else self.model

    def extras(self) -> tuple[dict, dict]:
        """The networks and optimisers a checkpoint holds beside G, D and their optimisers."""
        modules, optimizers = {}, {}
        if self.H is not None:
            modules["H"], optimizers["opt_h"] = self.H, self.opt_h
        if self.over is not None:
            modules["overcluster"], optimizers["opt_over"] = self.over, self.opt_over
        if self.ema is not None:
            modules["ema"] = self.ema.model
        return modules, optimizers

    def restore(self, ckpt: Path) -> None:
        modules, optimizers = self.extras()
        meta, state = checkpoint.load(ckpt, self.model, self.opt_d, self.opt_g, modules, optimizers)
        self.step, self.rollbacks = meta["step"], meta.get("rollbacks", 0)
        self.sums = {k[4:]: v.to(self.device) for k, v in state.items() if k.startswith("sum.")}
        if self.group.main:  # the checkpoint holds rank 0's stream; the others start fresh ones
            self.latent_gen.set_state(state["latent"])
        else:
            self.latent_gen.manual_seed(hash((self.cfg.seed, self.group.rank, self.step)) % 2**63)

    def save_checkpoint(self) -> None:
        if self.check_finite():  # only a finite state is saved: every checkpoint is one to roll back to
            return  # rolled back instead (and saved there)
        state = {"latent": self.latent_gen.get_state(), **{f"sum.{k}": v for k, v in self.sums.items()}}
        modules, optimizers = self.extras()
        try:
            checkpoint.save(self.folder.checkpoints_dir, self.step, self.model, self.opt_d, self.opt_g, state,
                            {"train_config": self.cfg.to_dict(), "rollbacks": self.rollbacks},
                            keep=self.cfg.keep_ckpts, modules=modules, optimizers=optimizers)
        except OSError as e:
            raise InfoGANError(f"cannot write a checkpoint in {self.folder.checkpoints_dir}: {e.strerror}; the run "
                               f"stops at step {self.step} (earlier checkpoints are kept)") from None
        self.last_ckpt_time = time.monotonic()

    def checkpoint_due(self) -> bool:
        minutes = self.cfg.ckpt_minutes
        return (self.step % self.cfg.ckpt_every == 0 or self.step == self.total_steps
                or (minutes > 0 and time.monotonic() - self.last_ckpt_time >= 60 * minutes))

    # ------------------------------------------------------------------ divergence
    def watch(self, out: dict[str, torch.Tensor]) -> None:
        """Remember the first step whose loss was not finite (on the device: no host sync)."""
        bad = (out["skipped/D"] + out["skipped/G"]) > 0
        self.first_bad = torch.where(bad & (self.first_bad < 0), self.step, self.first_bad)

    def check_finite(self) -> bool:
        """At log intervals and before a save: a non-finite loss since the last check, or a
        non-finite weight or batch-norm statistic, stops the run or rolls it back (--on-nan).
        True when it rolled back."""
        first = int(self.first_bad)
        problem = None
        if first >= 0:
            problem = f"a loss became NaN or infinite at step {first + 1} (its update was skipped)"
        else:
            bad = next((k for k, v in self.model.state_dict().items() if v.is_floating_point()
                        and not torch.isfinite(v).all()), None)
            if bad is not None:
                problem = f"{bad} became NaN or infinite by step {self.step}"
        if problem is None:
            return False
        if self.cfg.on_nan == "stop":
            raise Diverged(f"{problem}; stopped (--on-nan stop). The last checkpoint is kept: resume with "
                           f"--resume {self.folder.path}, or train with --on-nan rollback")
        self.rollback(problem)
        return True

    def rollback(self, problem: str) -> None:
        if self.rollbacks >= self.cfg.max_rollbacks:
            raise Diverged(f"{problem}; stopped after {self.rollbacks} rollbacks (--max-rollbacks)")
        ckpt = checkpoint.latest_valid(self.folder.checkpoints_dir, say=tqdm.write)
        if ckpt is None:
            raise Diverged(f"{problem}; no checkpoint to roll back to yet")
        from_step = self.step
        self.restore(ckpt)
        self.rollbacks += 1
        # a different random stream from here: the same one would walk into the same NaN
        self.latent_gen.manual_seed(self.cfg.seed + 1 + 7919 * self.rollbacks)
        self.first_bad.fill_(-1)
        if self.graph is not None:  # the optimisers' state tensors were replaced: capture again
            self.make_graph(self.graph_mode)
        self.stats.close()
        truncate_stats(self.folder.stats_file, self.step)  # (a new file: open it again)
        self.stats = open(self.folder.stats_file, "a")
        self.tb.close()
        self.tb = self._writer()
        self.log_row({"step": self.step, "rollback": self.rollbacks, "from_step": from_step})
        tqdm.write(f"infogan: {problem}; rolled back to step {self.step} ({self.rollbacks} of at most "
                   f"{self.cfg.max_rollbacks}), going on with another random stream")
        self.save_checkpoint()  # the new stream is where a resume must go on from

    # ------------------------------------------------------------------ stopping on request
    @contextlib.contextmanager
    def stop_on_signals(self):
        """SIGINT (Ctrl-C) and SIGTERM (a cluster's preemption) ask the loop to stop after the
        step in flight, saving a checkpoint first; a second one stops at once. (torchrun starts
        each process in a session of its own and passes a signal it gets on to each, once.)"""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.caught:  # asked twice: no more waiting
                signal.signal(signum, signal.SIG_DFL)
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt
                os.kill(os.getpid(), signum)
            self.caught = True
            self.stop_signal = self.stop_signal or signum

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def stop_agreed(self) -> bool:
        """Whether to stop after this step. One process stops at the first step after its signal;
        under torchrun the processes agree at the end of each log interval (and at the last step),
        the same steps on every rank, where one all-reduce says whether any of them caught one."""
        if not self.group.enabled:
            return self.stop_signal is not None
        if self.step % self.log_every and self.step != self.total_steps:
            return False
        self.stop_signal = distributed.largest(self.stop_signal or 0, self.group, self.device) or None
        return self.stop_signal is not None

    def stop_now(self, saved: bool) -> None:
        """Save (rank 0, unless this step's checkpoint is saved already) and raise Stopped; under
        torchrun every process waits for rank 0's checkpoint first, so that none of them leaves
        (which torchrun answers by killing the rest) while it is being written."""
        name = signal.Signals(self.stop_signal).name
        if self.group.main and not saved:
            self.save_checkpoint()
        distributed.barrier(self.group)
        if not self.group.main:
            raise Stopped(f"rank {self.group.rank} stopped with rank 0 at step {self.step}", 128 + self.stop_signal)
        raise Stopped(f"stopped by {name} at step {self.step} of {self.total_steps}; checkpoint saved",
                      128 + self.stop_signal, resume=f"infogan train --resume {self.folder.path}")

    # ------------------------------------------------------------------ logs and pictures
    def _writer(self):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: TensorBoard drops what an interrupted session logged after this step
        return SummaryWriter(str(self.folder.tb_dir), purge_step=self.step if self.folder.tb_dir.exists() else None)

    def log_row(self, row: dict) -> None:
        """One stats.jsonl line, the same scalars in TensorBoard."""
        self.stats.write(json.dumps(row) + "\n")
        self.stats.flush()
        for k, v in row.items():
            if k != "step":
                self.tb.add_scalar(k, v, self.step)

    def end_of_log_interval(self, t0: float, images_seen: int) -> dict | None:
        """The interval's stats.jsonl row; None when a non-finite value made the run roll back."""
        if self.check_finite():
            return None
        n = self.step % self.log_every or self.log_every
        row = {"step": self.step, "epoch": self.step / self.sampler.steps_per_epoch}
        row.update({k: round(float(v) / n, 5) for k, v in self.sums.items()})
        row["images_per_s"] = round(images_seen / (time.perf_counter() - t0), 1)
        self.sums = {}
        self.log_row(row)
        return row

    def write_samples(self, tag: str) -> Path:
        images, nrow = viz.category_grid(self.final, seed=self.cfg.seed + 12345)
        path = viz.save_grid(images, self.folder.sample_grid(tag), nrow)
        self.tb.add_image("samples", viz.grid_tensor(images, nrow), self.step)
        return path

    def end_of_sample_interval(self, row: dict) -> None:
        """The sample grid, the held-out accuracy, and a line for the terminal and log.txt."""
        epoch = self.step / self.sampler.steps_per_epoch
        at_epoch = self.step % self.sampler.steps_per_epoch == 0
        self.write_samples(f"epoch-{int(epoch):04d}" if at_epoch else f"step-{self.step:07d}")
        line = f"step {self.step}/{self.total_steps} (epoch {epoch:.2f})"
        line += "".join(f" {k} {row[k]:.3f}" for k in ("loss_D", "loss_G") if k in row)
        line += "".join(f" {k} {v:.3f}" for k, v in row.items() if k.startswith("mi/"))
        if self.heldout is not None and self.model.spec.categorical:
            scores = categorical_scores(self.final, *self.heldout)
            accs = {f"acc/{k}": round(v["accuracy"], 4) for k, v in scores.items()}
            if self.ema is not None:  # the live weights' too: what the average smooths
                accs.update({f"live_acc/{k}": round(v["accuracy"], 4)
                             for k, v in categorical_scores(self.model, *self.heldout).items()})
            self.log_row({"step": self.step, "epoch": epoch, **accs})
            line += "".join(f" {k} {v:.4f}" for k, v in accs.items())
        tqdm.write(line + (f", {row['images_per_s']:.0f} images/s" if "images_per_s" in row else ""))

    def refine_final(self) -> None:
        """--refine-groups: relabel the saved model's categories by the drawings (refine.py), with
        its report and a picture of each moved group (a row of its images) in the run folder."""
        tqdm.write("infogan: relabelling by the drawings (--refine-groups)")
        settings = Refinement(groups=self.cfg.refine_groups, margin=self.cfg.refine_margin)
        report = refine(self.final, self.sampler.images, settings, seed=self.cfg.seed)
        atomic_write(self.folder.refine_file, json.dumps(report, indent=1) + "\n")
        rows = [self.sampler.images[report["examples"][m["group"]]].cpu() for m in report["moved_groups"]]
        if rows:
            width = max(len(r) for r in rows)
            grid = torch.cat([torch.cat([r, r.new_zeros(width - len(r), *r.shape[1:])]) for r in rows])
            viz.save_grid(grid.float() / 255, self.folder.refine_png, nrow=width)
        moves = ", ".join(f"{m['images']} from {m['from']} to {m['to']}" for m in report["moved_groups"])
        tqdm.write(f"infogan: moved {report['moved_images']} training images" + (f" ({moves})" if moves else ""))

    def neighbours_final(self) -> None:
        """--neighbour-steps: teach the saved model's Q head its real images' neighbours
        (neighbours.py), with its report in the run folder."""
        tqdm.write(f"infogan: the neighbour stage ({self.cfg.neighbour_steps} steps)")
        settings = NeighbourStage(steps=self.cfg.neighbour_steps, entropy=self.cfg.neighbour_entropy)
        report = neighbour_stage(self.final, self.sampler.images, settings, seed=self.cfg.seed)
        atomic_write(self.folder.neighbours_file, json.dumps(report, indent=1) + "\n")
        tqdm.write(f"infogan: {report['moved_images']} training images changed category; neighbours agree "
                   f"{report['neighbour_agreement_before']:.3f} -> {report['neighbour_agreement_after']:.3f}")

    def set_aside_earlier_evaluation(self) -> None:
        """A run trained further (--resume with a larger length) had an evaluation of its earlier
        model: moved aside before the new model is saved, so that no folder pairs the new model
        with it (sweeps tabulate metrics.json and infer names classes by it; with --no-eval, or
        a metric not run again, the old figures stayed as the new model's). Its confusion
        pictures go with it: metrics.json -> metrics-superseded.json, confusion-c1.png ->
        confusion-c1-superseded.png."""
        earlier = [self.folder.metrics_file, *sorted(p for p in self.folder.path.glob("confusion-*.png")
                                                     if not p.stem.endswith("-superseded"))]
        moved = {path: path.with_stem(path.stem + "-superseded") for path in earlier if path.is_file()}
        for path, aside in moved.items():
            path.replace(aside)
        if moved:
            tqdm.write(f"infogan: {', '.join(p.name for p in moved)} measured the model before this resume: "
                       f"moved to {', '.join(p.name for p in moved.values())}")

    def write_final_pictures(self) -> None:
        frames = sorted(self.folder.samples_dir.glob("*.png"))
        viz.save_gif(frames, self.folder.gif)
        if frames:
            self.folder.samples_png.write_bytes(frames[-1].read_bytes())
        values = torch.linspace(-2, 2, 9)
        for code in self.model.spec.codes:
            if code.kind == "cont":
                imgs, nrow = viz.continuous_traversal(self.final, code.name, values, seed=self.cfg.seed + 12345)
                viz.save_grid(imgs, self.folder.traverse_png(code.name), nrow)
        viz.plot_stats(self.folder.stats(), self.folder.losses_png, self.model.spec)

    # ------------------------------------------------------------------ the loop
    def run(self, progress: bool = True) -> InfoGAN:
        if not self.group.main:
            return self._run_without_writing()
        self.tb = self._writer()
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not progress, unit="step",
                   dynamic_ncols=True, desc=self.folder.name)
        t0, images_seen, row = time.perf_counter(), 0, {}
        self.last_ckpt_time = time.monotonic()
        self.stats = open(self.folder.stats_file, "a")
        try:
            with self.stop_on_signals():
                while self.step < self.total_steps:
                    out = self.step_once(self.step)
                    self.watch(out)
                    for k, v in out.items():
                        self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
                    self.step += 1
                    images_seen += self.cfg.batch_size
                    bar.update(1)
                    stop = self.stop_agreed()  # (before a rollback's `continue`: under torchrun every rank polls here)
                    last = self.step == self.total_steps
                    if self.step % self.log_every == 0 or last:
                        row = self.end_of_log_interval(t0, images_seen)
                        if row is None:  # rolled back: go on from the checkpoint's step
                            bar.reset(self.total_steps)
                            bar.update(self.step)
                            continue
                        bar.set_postfix({k: row[k] for k in ("loss_D", "loss_G")} |
                                        {k[3:]: row[k] for k in row if k.startswith("mi/")})
                    if self.step % self.sample_every == 0 or last:
                        self.end_of_sample_interval(row)
                    saved = self.checkpoint_due()
                    if saved:
                        self.save_checkpoint()
                    if stop:
                        self.stop_now(saved)
        finally:
            bar.close()
            self.stats.close()
            self.tb.flush()
        if self.cfg.refine_groups:
            self.refine_final()
        if self.cfg.neighbour_steps:
            self.neighbours_final()
        self.set_aside_earlier_evaluation()
        self.final.save_pretrained(self.folder.model_dir)
        self.write_final_pictures()
        self.tb.close()
        return self.final

    def _run_without_writing(self) -> InfoGAN:
        """Ranks other than 0 of a torchrun job: the same steps; rank 0 writes the run folder
        (nothing it does between steps is collective but the stop poll, which every rank takes at
        the same steps, so the others wait in the next step's gradient all-reduce)."""
        with self.stop_on_signals():
            while self.step < self.total_steps:
                self.step_once(self.step)
                self.step += 1
                if self.stop_agreed():
                    self.stop_now(saved=True)
        return self.final


def truncate_stats(path: Path, step: int) -> None:
    """Keep the rows of stats.jsonl up to `step` (a resumed run logs the steps after it again);
    a row cut short by a crash is dropped."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("step", 0) <= step:
            kept.append(line + "\n")
    atomic_write(path, "".join(kept))


# ---------------------------------------------------------------------- train()


def prepare(preset: str | None = None, resume: str | Path | None = None, run_dir: str | Path | None = None,
            **overrides) -> tuple[TrainConfig, Run | None, Path | None]:
    """(the resolved options, the run folder to continue or None for a new one, its checkpoint).

    preset: a new run's (None: mnist); given with a resume, it must be the run's, like any
    model option (it was ignored, and the run went on as the preset it was made with).
    resume: "latest" (the newest run in outdir with a checkpoint), a run folder or a
    checkpoint folder, which keep the run's options and may change only the length, speed
    and bookkeeping ones; "auto": the newest unfinished run in outdir made with these
    options, from its checkpoint or from the start, else a new run (for restart loops).
    run_dir: a fixed folder (sweeps), continued when it has a checkpoint.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if preset is not None:
        overrides["preset"] = preset
    preset = overrides.get("preset", "mnist")
    unknown = sorted(set(overrides) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise InfoGANError(f"unknown training option {unknown[0]!r}")
    outdir = overrides.get("outdir", "runs")
    folder = ckpt = None
    if resume == "auto":
        wanted = resolve(preset, overrides)
        folder = next((r for r in reversed(Run.numbered(outdir)) if r.config_file.is_file()
                       and first_difference(r.read_config(), wanted) is None), None)
        if folder is None or folder.done():
            return wanted, None, None
        ckpt = checkpoint.latest_valid(folder.checkpoints_dir)
        if ckpt is None:
            return wanted, folder, None  # killed before its first checkpoint: start it again, in place
    elif resume is not None:
        folder, ckpt = Run.for_resume(resume, outdir)
    elif run_dir is not None:
        folder = Run(run_dir)
        ckpt = checkpoint.latest_valid(folder.checkpoints_dir)
    if ckpt is None:
        return resolve(preset, overrides), folder, None
    saved = checkpoint.read_meta(ckpt)["train_config"]
    cfg = TrainConfig.from_dict({**saved, **overrides})
    changed = first_difference(saved, cfg)
    if changed and resume not in (None, "auto"):
        name, was, _ = changed
        raise InfoGANError(f"--resume cannot change --{name.replace('_', '-')} (the run's is {was!r}; start a new "
                           f"run instead)")
    return cfg, folder, ckpt


def train(preset: str | None = None, *, resume: str | Path | None = None, run_dir: str | Path | None = None,
          progress: bool = True, **overrides) -> Run:
    """Train a preset (overrides: TrainConfig options by name), save the model, evaluate it on
    the test split; returns the run folder. Under torchrun every process trains; rank 0 alone
    fetches data first, writes and evaluates."""
    cfg, folder, ckpt = prepare(preset, resume, run_dir, **overrides)
    if resume not in (None, "auto") and finished(folder, ckpt, cfg):
        print(f"infogan: {folder.path} has finished (step {folder.done_at()}); nothing to do. A larger --epochs "
              f"or --max-steps trains it further; `infogan evaluate {folder.path}` measures it again")
        return folder
    group = distributed.join(cfg.device)  # several processes under torchrun; else a no-op
    made_here = folder is None
    try:
        if group.enabled and cfg.on_nan == "rollback":  # (a rank that went back alone would pair its collectives wrongly)
            raise InfoGANError("--on-nan rollback works in one process: under torchrun the others cannot follow rank "
                               "0 back to its checkpoint; use --on-nan stop, then --resume")
        if folder is None:  # rank 0 makes the folder; the others learn its name
            folder = Run(distributed.share(Run.create(cfg.outdir, cfg).path if group.main else None, group))
        if not group.main:
            return _train(cfg, folder, ckpt, progress, group)
        with folder.training():
            # an existing run refused before it saves a step (a length it is already past, missing data) stays as it was
            kept = {f: f.read_text() for f in (folder.config_file, folder.done_file) if f.is_file()}
            latest = folder.latest_checkpoint()
            # first: a restart finds this run by it; amp_used: what --amp auto chose on this machine
            folder.write_config(cfg, processes=group.world, amp_used=speed.amp_mode(cfg, pick_device(cfg.device)))
            folder.done_file.unlink(missing_ok=True)
            try:
                with folder.logging():
                    _train(cfg, folder, ckpt, progress, group)
                    folder.mark_done()
            except InfoGANError:
                if folder.latest_checkpoint() == latest:
                    for f, text in kept.items():
                        atomic_write(f, text)
                raise
        return folder
    except (InfoGANError, MemoryError, RuntimeError) as e:
        error = e if isinstance(e, InfoGANError) else out_of_memory(e)
        if error is None:
            raise
        # a new run whose start failed (no data, a batch larger than the data, networks too large for the
        # memory) leaves no empty folder behind to take a number; a named --run-dir or a resumed run is the
        # user's, and stays
        if made_here and group.main and folder is not None and folder.only_started():
            shutil.rmtree(folder.path, ignore_errors=True)
        if error is e:
            raise
        raise error from e
    finally:
        distributed.leave()


def finished(folder: Run, ckpt: Path, cfg: TrainConfig) -> bool:
    """Whether resuming folder from ckpt with cfg would only redo its end (the model, pictures and
    evaluation that done.json says were written, and still are): its last checkpoint and an
    unchanged length."""
    saved = folder.read_config()
    return (folder.done_at() == checkpoint.read_meta(ckpt)["step"] and folder.has_model()
            and (folder.metrics_file.is_file() or not cfg.evaluate)
            and all(saved.get(k) == getattr(cfg, k) for k in LENGTH))


def check_final_stages(cfg: TrainConfig, n_images: int) -> None:
    """The stages after the last step need enough training images: k-means into --refine-groups
    groups, and each image's neighbours other than itself (it was a traceback from scikit-learn
    or torch once training had ended)."""
    if cfg.refine_groups > n_images:
        raise InfoGANError(f"--refine-groups {cfg.refine_groups} sorts the training images into that many groups, "
                           f"and the dataset has {n_images}: pass --refine-groups 0 (or fewer groups)")
    needed = NeighbourStage().neighbours + 1
    if cfg.neighbour_steps and n_images < needed:
        raise InfoGANError(f"--neighbour-steps reads each training image's {needed - 1} nearest others, and the "
                           f"dataset has {n_images} images: pass --neighbour-steps 0")


def _train(cfg: TrainConfig, folder: Run, ckpt: Path | None, progress: bool, group) -> Run:
    if not group.main:
        distributed.barrier(group)  # rank 0 fetches the dataset into the cache first
    images, labels = data.load(cfg.dataset, "train", cfg.data_dir, image_size=cfg.image_size,
                               channels=cfg.channels, bad_images=cfg.bad_images)
    heldout = None
    if group.main and cfg.evaluate and "test" in data.get(cfg.dataset).splits:  # logged per epoch, never trained on
        heldout = data.load(cfg.dataset, "test", cfg.data_dir, image_size=cfg.image_size, channels=cfg.channels)
        heldout = heldout if heldout[1] is not None else None
    if group.main:
        distributed.barrier(group)
        print(f"infogan: run folder {folder.path}" + (f" (resuming from {ckpt.name})" if ckpt else "")
              + (f", {group.world} processes" if group.enabled else ""))
    try:
        trainer = Trainer(cfg, folder, images, resume_from=ckpt, heldout=heldout)
    except CheckpointError as e:
        raise InfoGANError(f"cannot resume from {ckpt}: {e}") from None
    if group.main and (hint := speed.bf16_hint(cfg, trainer.device)):
        print(hint)
    if group.main and cfg.amp == "auto":
        print(f"infogan: --amp auto: {speed.amp_mode(cfg, trainer.device)} on this {trainer.device.type}")
    model = trainer.run(progress=progress)
    # every rank is past its last collective before any leaves the group: a rank that tore its
    # gloo connections down while another still held them was seen to abort (SIGABRT) on exit
    # (a rank stopped early by a signal skips it: the others are not coming)
    if trainer.step == trainer.total_steps:
        distributed.barrier(group)
    del trainer
    if not group.main:
        return folder
    print(f"infogan: model saved to {folder.model_dir}")
    if cfg.evaluate:
        from .metrics import evaluate, format_report

        result = evaluate(model, data_dir=cfg.data_dir, write_to=folder.path,  # on the dataset's evaluation_split
                          loaded={"train": (images, labels), "test": heldout}, progress=progress)
        print(format_report(result))
    return folder
