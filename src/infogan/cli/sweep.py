"""`infogan sweep --preset mnist --seeds 0-4 [--epochs N]`: train and evaluate several seeds.

Writes OUT/sweep.json (per-seed results and summary), OUT/sweep.md (the table for a README),
OUT/grids.png (each seed's categorical grid, one panel per seed, in order) and
OUT/accuracy.png (each seed's held-out accuracy per epoch).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from ..errors import InfoGANError
from ._common import parse_seeds

METRICS = [("accuracy", "accuracy"), ("nmi", "NMI"), ("ari", "ARI"), ("mi_fraction", "MI / H(c)"),
           ("frechet_distance", "Frechet distance")]


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="train + evaluate several seeds and tabulate mean/std/min/max")
    p.add_argument("--preset", default="mnist")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--latent", help="override the preset's latent spec (for ablations)")
    p.add_argument("--invariance", type=float, help="override the preset's invariance weight (0 = the paper)")
    p.add_argument("--jobs", type=int, default=1, help="seeds trained at once, each in its own process (default 1)")
    p.add_argument("--threads", type=int, help="CPU threads per seed (default: cores / jobs)")
    p.add_argument("--data-dir")
    p.add_argument("--out", default="sweeps", help="folder for the runs and the table")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def seed_row(seed: int, run_dir: Path) -> dict:
    m = json.loads((run_dir / "metrics.json").read_text())
    cat_name, cat = next(iter(m["categorical"].items()))
    return {"seed": seed, "run": str(run_dir), "code": cat_name, "accuracy": cat["accuracy"], "nmi": cat["nmi"],
            "ari": cat["ari"], "mi_fraction": m["information"][cat_name]["fraction"],
            "frechet_distance": m.get("quality", {}).get("frechet_distance")}


def summarise(rows: list[dict]) -> dict:
    out = {}
    for key, _ in METRICS:
        vals = [r[key] for r in rows if r[key] is not None]
        if vals:
            out[key] = {"mean": statistics.mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                        "min": min(vals), "max": max(vals), "median": statistics.median(vals)}
    return out


def markdown(preset: str, rows: list[dict], summary: dict, command: str) -> str:
    lines = [f"`{command}`", "", "| seed | " + " | ".join(label for _, label in METRICS) + " |",
             "|---" * (len(METRICS) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['seed']} | " + " | ".join("-" if r[k] is None else f"{r[k]:.4f}" for k, _ in METRICS) + " |")
    for stat in ("mean", "std", "median", "min", "max"):
        lines.append(f"| **{stat}** | " + " | ".join(f"{summary[k][stat]:.4f}" if k in summary else "-"
                                                     for k, _ in METRICS) + " |")
    return "\n".join(lines) + "\n"


def grids_picture(rows: list[dict], out: Path) -> None:
    from PIL import Image

    panels = [Image.open(Path(r["run"]) / "samples.png").convert("L") for r in rows]
    w, h = panels[0].size
    sheet = Image.new("L", (w * len(panels) + 8 * (len(panels) - 1), h), 255)
    for i, p in enumerate(panels):
        sheet.paste(p, (i * (w + 8), 0))
    sheet.save(out)


# how a parallel sweep starts one seed's process (tests point this at a wrapper)
WORKER = [sys.executable, "-m", "infogan"]


def accuracy_curves(rows: list[dict], out: Path) -> Path | None:
    """accuracy.png: each seed's held-out accuracy per epoch (from its stats.jsonl)."""
    curves = {}
    for r in rows:
        stats = Path(r["run"]) / "stats.jsonl"
        points = [json.loads(line) for line in stats.read_text().splitlines() if line.strip()] if stats.exists() else []
        points = [(p["epoch"], p[f"acc/{r['code']}"]) for p in points if f"acc/{r['code']}" in p]
        if points:
            curves[r["seed"]] = points
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for seed, points in curves.items():
        ax.plot(*zip(*points), "o-", label=f"seed {seed}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (Hungarian)")
    ax.set_ylim(min(0.5, min(a for p in curves.values() for _, a in p)), 1.0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def study_flags(args) -> list[str]:
    """The options that change what a sweep trains, as command-line words (for the recorded
    command and for each seed's process)."""
    words = []
    for flag in ("epochs", "max_steps", "latent", "invariance"):
        value = getattr(args, flag)
        if value is not None:
            words += ["--" + flag.replace("_", "-"), f"{value:g}" if isinstance(value, float) else str(value)]
    return words


def _train_in_parallel(args, seeds: list[int], out: Path) -> None:
    """Train pending seeds jobs at a time, each as `infogan sweep --seeds N` in a subprocess."""
    import os
    import subprocess
    import time

    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    pending, running, failed = list(seeds), {}, []
    try:
        while pending or running:
            while pending and len(running) < args.jobs:
                seed = pending.pop(0)
                cmd = [*WORKER, "sweep", "--preset", args.preset, "--seeds", str(seed),
                       "--out", str(out), "--threads", str(threads), "--no-progress", "--jobs", "1"]
                cmd += study_flags(args) + (["--data-dir", args.data_dir] if args.data_dir else [])
                log = open(out / f"{args.preset}-seed{seed}.log", "w")
                running[seed] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
                print(f"seed {seed}: training in the background (log: {log.name})")
            time.sleep(1)
            for seed, (proc, log) in list(running.items()):
                if proc.poll() is not None:
                    log.close()
                    del running[seed]
                    if proc.returncode != 0:
                        failed.append(seed)
    finally:  # interrupted: stop the seeds still training (their finished checkpoints stay) and close their logs
        for proc, log in running.values():
            proc.terminate()
            proc.wait()
            log.close()
    if failed:
        raise InfoGANError(f"seeds {failed} failed; see their logs in {out}")


def run(args) -> int:
    from .train import main_train

    seeds = parse_seeds(args.seeds)
    if args.jobs < 1:
        raise InfoGANError("--jobs must be >= 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pending = [s for s in seeds if not (out / f"{args.preset}-seed{s}" / "metrics.json").exists()]
    if args.jobs > 1 and len(pending) > 1:
        _train_in_parallel(args, pending, out)
    rows = []
    for seed in seeds:
        run_dir = out / f"{args.preset}-seed{seed}"
        if not (run_dir / "metrics.json").exists():
            overrides = {"seed": seed, "epochs": args.epochs, "max_steps": args.max_steps, "data_dir": args.data_dir,
                         "latent": args.latent, "invariance": args.invariance, "threads": args.threads}
            main_train(args.preset, overrides, run_dir=run_dir, progress=not args.no_progress)
        rows.append(seed_row(seed, run_dir))
        print(f"seed {seed}: accuracy {rows[-1]['accuracy']:.4f}, NMI {rows[-1]['nmi']:.4f}")
    summary = summarise(rows)
    command = " ".join(["infogan sweep --preset", args.preset, "--seeds", args.seeds, *study_flags(args)])
    (out / "sweep.json").write_text(json.dumps({"preset": args.preset, "command": command, "seeds": rows,
                                                "summary": summary}, indent=2) + "\n")
    (out / "sweep.md").write_text(markdown(args.preset, rows, summary, command))
    grids_picture(rows, out / "grids.png")
    accuracy_curves(rows, out / "accuracy.png")
    print((out / "sweep.md").read_text())
    return 0
