"""Training a run: the loop around the step (logs, pictures, checkpoints) and train(), which
takes a preset and flags to a trained, evaluated run folder.

    from infogan import train
    run = train("mnist", seed=1, epochs=3)       # -> Run("runs/00001-mnist-seed1")
    run = train(resume="latest")                 # continue the newest run in runs/
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import checkpoint, data, distributed, viz
from .config import TrainConfig, resolve, resumable
from .errors import InfoGANError
from .metrics.categorical import categorical_scores
from .model import InfoGAN
from .run import Run
from .step import Stepper


class Trainer(Stepper):
    """Trains cfg on images into a run folder. heldout = (images, labels), when given, is only
    looked at: each categorical code's test accuracy is logged with every sample grid
    (acc/<code> in stats.jsonl and TensorBoard), never used for training."""

    def __init__(self, cfg: TrainConfig, folder: Run, images: torch.Tensor, resume_from: Path | None = None,
                 heldout: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(cfg, images)
        self.folder = folder
        self.heldout = heldout
        self.total_steps = cfg.max_steps or cfg.epochs * self.sampler.steps_per_epoch
        self.log_every = cfg.log_every
        self.ckpt_every = max(self.log_every, cfg.ckpt_every // self.log_every * self.log_every)
        self.sample_every = cfg.sample_every or self.sampler.steps_per_epoch
        self.step = 0
        if resume_from is not None:  # before the first step, so before any graph is captured
            meta, rng = checkpoint.load(resume_from, self.model, self.opt_d, self.opt_g)
            self.step = meta["step"]
            if self.group.main:  # the checkpoint holds rank 0's stream; the others start fresh ones
                self.latent_gen.set_state(rng["latent"])
            else:
                self.latent_gen.manual_seed(hash((cfg.seed, self.group.rank, self.step)) % 2**63)

    # ------------------------------------------------------------------ pictures
    def write_samples(self, tag: str) -> Path:
        images, nrow = viz.category_grid(self.model, seed=self.cfg.seed + 12345)
        path = viz.save_grid(images, self.folder.sample_grid(tag), nrow)
        self.tb.add_image("samples", viz.grid_tensor(images, nrow), self.step)
        return path

    def write_final_pictures(self) -> None:
        frames = sorted(self.folder.samples_dir.glob("*.png"))
        viz.save_gif(frames, self.folder.gif)
        if frames:
            self.folder.samples_png.write_bytes(frames[-1].read_bytes())
        values = torch.linspace(-2, 2, 9)
        for code in self.model.spec.codes:
            if code.kind == "cont":
                imgs, nrow = viz.continuous_traversal(self.model, code.name, values, seed=self.cfg.seed + 12345)
                viz.save_grid(imgs, self.folder.traverse_png(code.name), nrow)
        viz.plot_stats(self.folder.stats_file, self.folder.losses_png, self.model.spec)

    # ------------------------------------------------------------------ loop
    def save_checkpoint(self) -> None:
        checkpoint.save(self.folder.checkpoints_dir, self.step, self.model, self.opt_d, self.opt_g,
                        {"latent": self.latent_gen.get_state()}, {"train_config": self.cfg.to_dict()},
                        keep=self.cfg.keep_ckpts)

    def log_row(self, row: dict) -> None:
        """One stats.jsonl line, the same scalars in TensorBoard."""
        self.stats.write(json.dumps(row) + "\n")
        self.stats.flush()
        for k, v in row.items():
            if k != "step":
                self.tb.add_scalar(k, v, self.step)

    def end_of_interval(self, row: dict) -> None:
        """At each sample grid: the grid, the held-out accuracy, and a line for the terminal and log.txt."""
        epoch = self.step / self.sampler.steps_per_epoch
        at_epoch = self.step % self.sampler.steps_per_epoch == 0
        self.write_samples(f"epoch-{int(epoch):04d}" if at_epoch else f"step-{self.step:07d}")
        line = f"step {self.step}/{self.total_steps} (epoch {epoch:.2f})"
        line += "".join(f" {k} {row[k]:.3f}" for k in ("loss_D", "loss_G") if k in row)
        line += "".join(f" {k} {v:.3f}" for k, v in row.items() if k.startswith("mi/"))
        if self.heldout is not None and self.model.spec.categorical:
            scores = categorical_scores(self.model, *self.heldout)
            accs = {f"acc/{k}": round(v["accuracy"], 4) for k, v in scores.items()}
            self.log_row({"step": self.step, "epoch": epoch, **accs})
            line += "".join(f" {k} {v:.4f}" for k, v in accs.items())
        tqdm.write(line + (f", {row['images_per_s']:.0f} images/s" if "images_per_s" in row else ""))

    def run(self, progress: bool = True) -> InfoGAN:
        if not self.group.main:
            return self._run_without_writing()
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(self.folder.tb_dir), purge_step=self.step or None)
        sums: dict[str, torch.Tensor] = {}
        row: dict = {}
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not progress, unit="step",
                   dynamic_ncols=True, desc=self.folder.name)
        t0, images_seen = time.perf_counter(), 0
        self.stats = open(self.folder.stats_file, "a")
        try:
            while self.step < self.total_steps:
                out = self.step_once(self.step)
                for k, v in out.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                self.step += 1
                images_seen += self.cfg.batch_size
                bar.update(1)
                last = self.step == self.total_steps
                if self.step % self.log_every == 0 or last:
                    n = self.step % self.log_every or self.log_every
                    row = {"step": self.step, "epoch": self.step / self.sampler.steps_per_epoch}
                    row.update({k: round(float(v) / n, 5) for k, v in sums.items()})
                    row["images_per_s"] = round(images_seen / (time.perf_counter() - t0), 1)
                    sums = {}
                    self.log_row(row)
                    bar.set_postfix({k: row[k] for k in ("loss_D", "loss_G")} |
                                    {k[3:]: row[k] for k in row if k.startswith("mi/")})
                if self.step % self.sample_every == 0 or last:
                    self.end_of_interval(row)
                if self.step % self.ckpt_every == 0 or last:
                    self.save_checkpoint()
        finally:
            bar.close()
            self.stats.close()
            self.tb.flush()
        self.model.save_pretrained(self.folder.model_dir)
        self.write_final_pictures()
        self.tb.close()
        return self.model

    def _run_without_writing(self) -> InfoGAN:
        """Ranks other than 0 of a torchrun job: the same steps; rank 0 writes the run folder
        (nothing it does between steps is collective, so the others wait in the next step's
        gradient all-reduce)."""
        while self.step < self.total_steps:
            self.step_once(self.step)
            self.step += 1
        return self.model


def prepare(preset: str = "mnist", resume: str | Path | None = None, run_dir: str | Path | None = None,
            **overrides) -> tuple[TrainConfig, Run | None, Path | None]:
    """(the resolved options, the run folder to continue or None for a new one, its checkpoint).

    resume: "latest" (the newest run in outdir with a checkpoint), a run folder or a
    checkpoint folder; it keeps the run's options and may change only the length, speed and
    bookkeeping ones. run_dir: a fixed folder (sweeps), continued when it has a checkpoint.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(overrides) - set(TrainConfig.__dataclass_fields__) - {"preset"})
    if unknown:
        raise InfoGANError(f"unknown training option {unknown[0]!r}")
    folder, ckpt = None, None
    if resume is not None:
        folder, ckpt = Run.for_resume(resume, overrides.get("outdir", "runs"))
    elif run_dir is not None:
        folder = Run(run_dir)
        ckpt = folder.latest_checkpoint()
    if ckpt is None:
        return resolve(preset, overrides), folder, None
    saved = checkpoint.read_meta(ckpt)["train_config"]
    changed = sorted(k for k, v in overrides.items() if not resumable(k) and saved.get(k) != v)
    if changed and resume is not None:
        raise InfoGANError(f"--resume cannot change --{changed[0].replace('_', '-')} (start a new run instead)")
    return TrainConfig.from_dict({**saved, **overrides}), folder, ckpt


def train(preset: str = "mnist", *, resume: str | Path | None = None, run_dir: str | Path | None = None,
          progress: bool = True, **overrides) -> Run:
    """Train a preset (overrides: TrainConfig options by name), save the model, evaluate it on
    the test split; returns the run folder. Under torchrun every process trains; rank 0 alone
    fetches data first, writes and evaluates."""
    cfg, folder, ckpt = prepare(preset, resume, run_dir, **overrides)
    group = distributed.join(cfg.device)  # several processes under torchrun; else a no-op
    try:
        if folder is None:  # rank 0 makes the folder; the others learn its name
            folder = Run(distributed.share(Run.create(cfg.outdir, cfg).path if group.main else None, group))
        if not group.main:
            return _train(cfg, folder, ckpt, progress, group)
        with folder.logging():
            return _train(cfg, folder, ckpt, progress, group)
    finally:
        distributed.leave()


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
        folder.write_config(cfg, processes=group.world)
        print(f"infogan: run folder {folder.path}" + (f" (resuming from {ckpt.name})" if ckpt else "")
              + (f", {group.world} processes" if group.enabled else ""))
    model = Trainer(cfg, folder, images, resume_from=ckpt, heldout=heldout).run(progress=progress)
    if not group.main:
        return folder
    print(f"infogan: model saved to {folder.model_dir}")
    if cfg.evaluate:
        from .metrics import evaluate, format_report

        split = "test" if "test" in data.get(cfg.dataset).splits else "train"
        result = evaluate(model, split=split, data_dir=cfg.data_dir, write_to=folder.path,
                          loaded={"train": (images, labels), "test": heldout})
        print(format_report(result))
    return folder
