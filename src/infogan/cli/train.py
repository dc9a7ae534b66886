"""`infogan train`: train a preset, writing a numbered run folder; `--resume` continues one."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

from .. import __version__, checkpoint, data, distributed
from ..config import AMP_MODES, COMPILE_MODES, PRESETS, TrainConfig, resolve
from ..errors import InfoGANError
from ..latent import LatentSpec

# Options a resumed run may change; anything else would make it a different run.
RESUMABLE = {"epochs", "max_steps", "log_every", "ckpt_every", "keep_ckpts", "sample_every",
             "device", "threads", "evaluate", "data_dir", "outdir", "adam", "channels_last", "compile", "amp",
             "keep_memory", "cuda_graph", "tf32"}
_HELP = {
    "latent": "latent spec, e.g. 'z62,cat10,cont2' (see README: latent spec)",
    "max_steps": "train this many steps (overrides --epochs)",
    "lambda_cat": "lambda of categorical codes without an @lambda in --latent",
    "lambda_cont": "lambda of continuous codes without an @lambda in --latent",
    "width": "network width multiplier (1 = the paper's)",
    "outdir": "where run folders are made (default: runs)",
    "data_dir": "look for the dataset's files here first",
    "channels_last": "NHWC tensors for the convolutions (default: off, measured no faster on CPU)",
    "compile": f"torch.compile G and D: {'|'.join(COMPILE_MODES)} (default: off)",
    "amp": f"autocast the forward passes: {'|'.join(AMP_MODES)} (default: off)",
    "keep_memory": "CPU: keep freed memory in the process instead of faulting it in again each step "
                   "(default: on; changes no number)",
    "tf32": "CUDA: float32 matrix products in TF32 on the tensor cores (default: on)",
    "cuda_graph": "CUDA: capture the whole training step once as a CUDA graph and replay it (default: on; "
                  "off under torchrun)",
    "invariance": "weight of the categorical codes' invariance to small affine/stroke changes (0 = the paper)",
}


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train an InfoGAN", description="Train an InfoGAN; flags override the preset.")
    p.add_argument("--preset", default="mnist", help=f"one of: {', '.join(PRESETS)} (default: mnist)")
    p.add_argument("--resume", metavar="latest|DIR", help="continue the newest run in --outdir, or a run/checkpoint folder")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-eval", dest="evaluate", action="store_const", const=False, default=None,
                   help="skip the test-set evaluation at the end")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("preset", "evaluate"):
            continue
        help_text = _HELP.get(f.name, f"default: preset or {f.default}")
        if str(f.type) == "bool":
            p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, action=argparse.BooleanOptionalAction,
                           default=None, help=help_text)
            continue
        typ = {"int | None": int, "str | None": str}.get(str(f.type), None) or type(f.default)
        typ = {"int": int, "float": float, "str": str}.get(str(f.type), typ)
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=typ, default=None, help=help_text)
    p.set_defaults(run=run)


def next_run_dir(outdir: Path, preset: str) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    nums = [int(m.group(1)) for p in outdir.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
    return outdir / f"{max(nums, default=-1) + 1:05d}-{preset}"


def find_resume(target: str, outdir: Path) -> tuple[Path, Path]:
    """(run folder, checkpoint folder) for --resume latest|RUN_DIR|CHECKPOINT_DIR."""
    if target == "latest":
        runs = sorted((p for p in outdir.glob("[0-9][0-9][0-9][0-9][0-9]-*") if checkpoint.list_checkpoints(p)),
                      key=lambda p: p.name)
        if not runs:
            raise InfoGANError(f"--resume latest: no run with a checkpoint in {outdir}")
        run_dir = runs[-1]
        return run_dir, checkpoint.list_checkpoints(run_dir)[-1]
    path = Path(target)
    if (path / "meta.json").exists():
        return path.parent.parent, path
    ckpts = checkpoint.list_checkpoints(path)
    if not ckpts:
        raise InfoGANError(f"--resume {target}: no checkpoint found there")
    return path, ckpts[-1]


def run(args) -> int:
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if f.name != "preset" and getattr(args, f.name, None) is not None}
    resume_ckpt = None
    if args.resume:
        run_dir, resume_ckpt = find_resume(args.resume, Path(overrides.get("outdir", "runs")))
        saved = checkpoint.read_meta(resume_ckpt)["train_config"]
        changed = sorted(k for k, v in overrides.items() if k not in RESUMABLE and saved.get(k) != v)
        if changed:
            raise InfoGANError(f"--resume cannot change --{changed[0].replace('_', '-')} (start a new run instead)")
        cfg = TrainConfig.from_dict({**saved, **overrides})
    else:
        cfg = resolve(args.preset, overrides)
    LatentSpec.parse(cfg.latent, cfg.lambda_cat, cfg.lambda_cont)  # a bad spec fails before any work
    if args.dry_run:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0

    group = distributed.join(cfg.device)  # several processes under torchrun; else a no-op
    try:
        if not args.resume:  # rank 0 picks the folder; every rank writes (rank 0) or names it
            run_dir = distributed.share(next_run_dir(Path(cfg.outdir), cfg.preset) if group.main else None, group)
        train_and_evaluate(cfg, run_dir, resume_ckpt, progress=not args.no_progress)
    finally:
        distributed.leave()
    return 0


def train_and_evaluate(cfg: TrainConfig, run_dir: Path, resume_ckpt: Path | None = None, progress: bool = True):
    """Train cfg into run_dir (continuing from resume_ckpt), save the model, evaluate it.
    Under torchrun every rank trains; rank 0 alone fetches data first, writes and evaluates."""
    group = distributed.current()
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
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps({"infogan_version": __version__, **cfg.to_dict(),
                                                         "processes": group.world}, indent=2) + "\n")
        print(f"infogan: run folder {run_dir}" + (f" (resuming from {resume_ckpt.name})" if resume_ckpt else "")
              + (f", {group.world} processes" if group.enabled else ""))

    from ..trainer import Trainer  # torch-heavy imports after argument checks

    try:
        trainer = Trainer(cfg, run_dir, images, resume_from=resume_ckpt, heldout=heldout)
    except ValueError as e:
        raise InfoGANError(str(e)) from None
    model = trainer.run(progress=progress)
    if not group.main:
        return model
    print(f"infogan: model saved to {run_dir / 'model'}")
    if cfg.evaluate:
        from .evaluate import evaluate_and_report

        split = "test" if "test" in data.get(cfg.dataset).splits else "train"
        evaluate_and_report(model, run_dir, cfg.dataset, cfg.data_dir, split, as_json=False,
                            loaded={"train": (images, labels), "test": heldout})
    return model


def main_train(preset: str, overrides: dict, run_dir: Path, progress: bool = True):
    """Train a preset into a fixed run folder, resuming it when it holds a checkpoint (sweeps)."""
    ckpts = checkpoint.list_checkpoints(run_dir)
    if ckpts:
        saved = checkpoint.read_meta(ckpts[-1])["train_config"]
        cfg = TrainConfig.from_dict({**saved, **{k: v for k, v in overrides.items() if v is not None}})
        return train_and_evaluate(cfg, run_dir, ckpts[-1], progress)
    return train_and_evaluate(resolve(preset, overrides), run_dir, None, progress)
