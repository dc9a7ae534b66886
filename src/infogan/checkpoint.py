"""Exact-resume checkpoints without pickle: tensors in safetensors, everything else in JSON.

    checkpoints/checkpoint-000400/state.safetensors   model, optimiser moments, RNG states
    checkpoints/checkpoint-000400/meta.json           step, config, optimiser hyperparameters

(in a run folder: Run.checkpoints_dir)

A checkpoint is written to a temporary folder and renamed into place, so an interrupted save
never leaves a half-written checkpoint where a finished one was. The last `keep` are kept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from . import __version__
from .errors import CheckpointError
from .model import load_state
from .optim import place_adam_step_counts

CKPT_FORMAT = "infogan-checkpoint"
PREFIX = "checkpoint-"


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict) -> dict:
    sd = opt.state_dict()
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"{prefix}.{pid}.{k}"] = torch.as_tensor(v).detach().clone().cpu().contiguous()
    return {"param_groups": sd["param_groups"], "state_keys": {str(p): sorted(s) for p, s in sd["state"].items()}}


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
    opt.load_state_dict(state)
    for group, keys in zip(opt.param_groups, own):
        group.update(keys)
    place_adam_step_counts(opt)


def save(ckdir: Path, step: int, model, opt_d, opt_g, rng: dict[str, torch.Tensor], extra: dict, keep: int = 3) -> Path:
    ckdir = Path(ckdir)
    ckdir.mkdir(parents=True, exist_ok=True)
    final = ckdir / f"{PREFIX}{step:06d}"
    tmp = ckdir / f".tmp-{PREFIX}{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": CKPT_FORMAT, "infogan_version": __version__, "step": step,
        "model_config": model.config, "opt_d": _flatten_optimizer("opt_d", opt_d, tensors),
        "opt_g": _flatten_optimizer("opt_g", opt_g, tensors), "rng": sorted(rng), **extra,
    }
    for name, state in rng.items():
        tensors[f"rng.{name}"] = state.cpu()
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in list_checkpoints(ckdir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(ckdir: Path) -> list[Path]:
    """The finished checkpoints in ckdir, oldest first."""
    ckdir = Path(ckdir)
    if not ckdir.is_dir():
        return []
    found = [p for p in ckdir.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / "meta.json").exists()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def read_meta(ckpt: Path) -> dict:
    try:
        meta = json.loads((Path(ckpt) / "meta.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read checkpoint {ckpt}: {e}") from None
    if meta.get("format") != CKPT_FORMAT:
        raise CheckpointError(f"{ckpt} is not an infogan checkpoint")
    return meta


def load(ckpt: Path, model, opt_d, opt_g) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore model and optimisers in place; return (meta, rng states)."""
    meta = read_meta(ckpt)
    if meta["model_config"] != model.config:
        diff = sorted(k for k in set(meta["model_config"]) | set(model.config)
                      if meta["model_config"].get(k) != model.config.get(k))
        raise CheckpointError(f"checkpoint {ckpt} was made for a different model ({diff[0]}: "
                              f"{meta['model_config'].get(diff[0])!r} vs {model.config.get(diff[0])!r})")
    try:
        tensors = load_file(str(Path(ckpt) / "state.safetensors"))
    except Exception as e:
        raise CheckpointError(f"cannot read {ckpt}/state.safetensors: {e}") from None
    load_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(ckpt))
    try:
        _load_optimizer(opt_d, _unflatten_optimizer("opt_d", meta["opt_d"], tensors))
        _load_optimizer(opt_g, _unflatten_optimizer("opt_g", meta["opt_g"], tensors))
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {ckpt} has incompatible optimiser state: {e}") from None
    return meta, {name: tensors[f"rng.{name}"] for name in meta["rng"]}
