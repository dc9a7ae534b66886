"""Exact-resume checkpoints without pickle: tensors in safetensors, everything else in JSON.

    checkpoints/checkpoint-000400/state.safetensors   model, optimiser moments, the loop's tensors
                                                      (RNG states, partial log sums)
    checkpoints/checkpoint-000400/meta.json           step, config, optimiser hyperparameters,
                                                      the state file's SHA-256

(in a run folder: Run.checkpoints_dir). A checkpoint is written to a temporary folder,
fsynced, and renamed into place (files.publish), so an interrupted save never leaves a
half-written checkpoint where a finished one was, and a crash right after a save keeps it.
verify() checks a checkpoint against its SHA-256; latest_valid() skips newer ones that fail.
The last `keep` are kept. A run resumed from an earlier checkpoint moves all the later ones, another
history, into checkpoints/superseded/ as it starts (set_aside_later, called by the trainer), so
that its saves neither prune nor replace them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from . import __version__
from .errors import CheckpointError
from .files import fsync_dir, publish
from .model import MODEL_FORMAT, InfoGAN, load_state, with_defaults
from .optim import place_adam_step_counts

CKPT_FORMAT = "infogan-checkpoint"
PREFIX = "checkpoint-"
STATE, META = "state.safetensors", "meta.json"
SUPERSEDED = "superseded"  # later checkpoints that a resume from an earlier one left behind


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict) -> dict:
    sd = opt.state_dict()
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"{prefix}.{pid}.{k}"] = torch.as_tensor(v).detach().clone().cpu().contiguous()
    groups = [{k: float(v) if torch.is_tensor(v) else v for k, v in g.items()} for g in sd["param_groups"]]
    return {"param_groups": groups, "state_keys": {str(p): sorted(s) for p, s in sd["state"].items()}}


def _unflatten_optimizer(prefix: str, meta: dict, tensors: dict) -> dict:
    state = {}
    for pid, keys in meta["state_keys"].items():
        state[int(pid)] = {k: tensors[f"{prefix}.{pid}.{k}"] for k in keys}
    return {"state": state, "param_groups": meta["param_groups"]}


# how the update is computed, not what it is: the resuming run's own choice (--adam, the CUDA
# graph's capturable) wins over the saved one, so a GPU run's checkpoint resumes on a CPU
IMPLEMENTATION_KEYS = ("fused", "foreach", "capturable")


def _load_optimizer(opt: torch.optim.Optimizer, state: dict) -> None:
    own = [{k: g[k] for k in IMPLEMENTATION_KEYS if k in g} for g in opt.param_groups]
    rates = [g["lr"] if torch.is_tensor(g["lr"]) else None for g in opt.param_groups]  # a schedule's tensor rate
    opt.load_state_dict(state)
    for group, keys, rate in zip(opt.param_groups, own, rates):
        group.update(keys)
        if rate is not None:  # stays the same tensor (a CUDA graph may hold it), with the saved value
            group["lr"] = rate.fill_(float(group["lr"]))
    place_adam_step_counts(opt)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def save(ckdir: Path, step: int, model, opt_d, opt_g, state: dict[str, torch.Tensor], extra: dict,
         keep: int = 3, modules: dict | None = None, optimizers: dict | None = None) -> Path:
    """Write checkpoint-<step> into ckdir. state: the training loop's own tensors by name
    (RNG states, partial sums), given back by load(); extra: more JSON for meta.json;
    modules/optimizers: more networks and their optimisers by name (the regulariser's H)."""
    ckdir = Path(ckdir)
    ckdir.mkdir(parents=True, exist_ok=True)
    final = ckdir / f"{PREFIX}{step:06d}"
    for stale in ckdir.glob(f".*-{PREFIX}*"):  # what a killed save or replacement left behind
        shutil.rmtree(stale, ignore_errors=True)
    tmp = ckdir / f".tmp-{PREFIX}{step:06d}"
    tmp.mkdir()
    try:
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        meta = {
            "format": CKPT_FORMAT, "infogan_version": __version__, "step": step,
            "model_config": model.config, "opt_d": _flatten_optimizer("opt_d", opt_d, tensors),
            "opt_g": _flatten_optimizer("opt_g", opt_g, tensors), "state": sorted(state), **extra,
            "modules": sorted(modules or {}),
            "optimizers": {k: _flatten_optimizer(f"opt.{k}", o, tensors) for k, o in (optimizers or {}).items()},
        }
        for name, module in (modules or {}).items():
            tensors.update({f"module.{name}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
        for name, t in state.items():
            tensors[f"state.{name}"] = t.detach().cpu().contiguous()
        save_file(tensors, str(tmp / STATE))
        meta["sha256"] = _sha256(tmp / STATE)
        (tmp / META).write_text(json.dumps(meta, indent=1) + "\n")
        if final.exists():  # the same step again (after a rollback): move the old one aside first
            old = ckdir / f".old-{final.name}"
            os.replace(final, old)
            fsync_dir(ckdir)
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never a half-written checkpoint; the older ones stay
        raise
    shutil.rmtree(ckdir / f".old-{final.name}", ignore_errors=True)
    for old in list_checkpoints(ckdir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def later_than(ckdir: Path, step: int) -> list[Path]:
    """ckdir's checkpoints past step: after a resume from an earlier one, another history's."""
    return [p for p in list_checkpoints(ckdir) if step_of(p) > step]


def set_aside_later(ckdir: Path, step: int) -> list[Path]:
    """Move the checkpoints past step into ckdir/superseded/: a run resumed from an earlier
    checkpoint would otherwise be resumed, pruned and marked done by the history it left
    (they are kept, as the user's work, but no longer read). Returns where they were."""
    later = later_than(ckdir, step)
    for p in later:
        aside = ckdir / SUPERSEDED / p.name
        n = 1
        while aside.exists():  # set aside twice (a second resume from an earlier checkpoint)
            n += 1
            aside = ckdir / SUPERSEDED / f"{p.name}-{n}"
        aside.parent.mkdir(exist_ok=True)
        os.replace(p, aside)
    if later:
        fsync_dir(ckdir)
    return later


def is_checkpoint(path: str | Path) -> bool:
    """Whether path is a checkpoint folder (it has its meta.json), rather than a run or model folder."""
    return (Path(path) / META).is_file()


def list_checkpoints(ckdir: Path) -> list[Path]:
    """The published checkpoints in ckdir, oldest first."""
    ckdir = Path(ckdir)
    if not ckdir.is_dir():
        return []
    found = [p for p in ckdir.iterdir() if p.name.startswith(PREFIX) and is_checkpoint(p)]
    return sorted(found, key=step_of)


def step_of(ckpt: Path) -> int:
    """The step in a checkpoint folder's name (checkpoint-004685: 4685)."""
    return int(ckpt.name[len(PREFIX):])


def read_meta(ckpt: Path) -> dict:
    try:
        meta = json.loads((Path(ckpt) / META).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read checkpoint {ckpt}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != CKPT_FORMAT:
        raise CheckpointError(f"{ckpt} is not an infogan checkpoint")
    return meta


def verify(ckpt: Path) -> dict:
    """The checkpoint's meta, after checking its state file against the SHA-256 it records."""
    meta = read_meta(ckpt)
    state = Path(ckpt) / STATE
    if not state.is_file():
        raise CheckpointError(f"checkpoint {ckpt} has no {STATE}")
    if "sha256" in meta and _sha256(state) != meta["sha256"]:
        raise CheckpointError(f"checkpoint {ckpt}: {STATE} does not match its checksum (truncated or corrupt)")
    return meta


def latest_valid(ckdir: Path, say=print) -> Path | None:
    """The newest checkpoint in ckdir that verifies; newer ones that do not are named and skipped."""
    for ckpt in reversed(list_checkpoints(ckdir)):
        try:
            verify(ckpt)
            return ckpt
        except CheckpointError as e:
            say(f"infogan: skipping {ckpt.name}: {e}")
    return None


def _read_state(ckpt: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(Path(ckpt) / STATE))
    except Exception as e:  # safetensors raises its own error types on corrupt files
        raise CheckpointError(f"cannot read {ckpt}/{STATE}: {e}") from None


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors saved under prefix (save(): "model.", "module.<name>."), without it."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_model(ckpt: Path, module: str | None = None):
    """A checkpoint's model alone, to read rather than resume (no optimisers, no loop state):
    the live weights, or those of a saved module of the model's own shape (module="ema": the
    weights' average, trainer.Trainer.extras)."""
    meta = verify(ckpt)
    if module is not None and module not in meta.get("modules", []):
        raise CheckpointError(f"checkpoint {ckpt} has no {module} (made by a run without it)")
    model = InfoGAN.from_config({"format": MODEL_FORMAT, **meta["model_config"]})
    load_state(model, _prefixed(_read_state(ckpt), "model." if module is None else f"module.{module}."), str(ckpt))
    return model.eval()


def final_model(ckpt: Path):
    """The model a run would save if it ended at this checkpoint: the weights' average where the
    run keeps one (--ema), else the weights (trainer.Trainer.final), before any relabelling."""
    return load_model(ckpt, "ema" if "ema" in read_meta(ckpt).get("modules", []) else None)


def load(ckpt: Path, model, opt_d, opt_g, modules: dict | None = None,
         optimizers: dict | None = None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore model and optimisers (and the named modules and optimisers save() was given)
    in place; return (meta, the loop's state tensors)."""
    meta = verify(ckpt)
    saved = with_defaults(meta["model_config"])
    if saved != model.config:
        diff = sorted(k for k in set(saved) | set(model.config) if saved.get(k) != model.config.get(k))
        raise CheckpointError(f"checkpoint {ckpt} was made for a different model ({diff[0]}: "
                              f"{saved.get(diff[0])!r} vs {model.config.get(diff[0])!r})")
    tensors = _read_state(ckpt)
    load_state(model, _prefixed(tensors, "model."), str(ckpt))
    missing = sorted(set(modules or {}) - set(meta.get("modules", [])))
    if missing:
        raise CheckpointError(f"checkpoint {ckpt} has no {missing[0]} (made by a run without it)")
    for name, module in (modules or {}).items():
        load_state(module, _prefixed(tensors, f"module.{name}."), str(ckpt))
    try:
        _load_optimizer(opt_d, _unflatten_optimizer("opt_d", meta["opt_d"], tensors))
        _load_optimizer(opt_g, _unflatten_optimizer("opt_g", meta["opt_g"], tensors))
        for name, opt in (optimizers or {}).items():
            _load_optimizer(opt, _unflatten_optimizer(f"opt.{name}", meta["optimizers"][name], tensors))
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {ckpt} has incompatible optimiser state: {e}") from None
    if "state" in meta:
        return meta, {name: tensors[f"state.{name}"] for name in meta["state"]}
    return meta, {name: tensors[f"rng.{name}"] for name in meta.get("rng", [])}  # older checkpoints: RNG states only
