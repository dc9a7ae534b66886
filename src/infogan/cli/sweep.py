"""`infogan sweep --preset mnist --seeds 0-4 [--epochs N]`: train and evaluate several seeds.

Writes OUT/sweep.json (per-seed results and summary), OUT/sweep.md (the table for a README)
and OUT/grids.png (each seed's categorical grid, one panel per seed, labelled in order).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

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


def run(args) -> int:
    from .train import main_train

    seeds = parse_seeds(args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in seeds:
        run_dir = out / f"{args.preset}-seed{seed}"
        if not (run_dir / "metrics.json").exists():
            overrides = {"seed": seed, "epochs": args.epochs, "max_steps": args.max_steps, "data_dir": args.data_dir,
                         "latent": args.latent}
            main_train(args.preset, overrides, run_dir=run_dir, progress=not args.no_progress)
        rows.append(seed_row(seed, run_dir))
        print(f"seed {seed}: accuracy {rows[-1]['accuracy']:.4f}, NMI {rows[-1]['nmi']:.4f}")
    summary = summarise(rows)
    command = f"infogan sweep --preset {args.preset} --seeds {args.seeds}" + \
        (f" --epochs {args.epochs}" if args.epochs else "") + (f" --max-steps {args.max_steps}" if args.max_steps else "") + \
        (f" --latent {args.latent}" if args.latent else "")
    (out / "sweep.json").write_text(json.dumps({"preset": args.preset, "command": command, "seeds": rows,
                                                "summary": summary}, indent=2) + "\n")
    (out / "sweep.md").write_text(markdown(args.preset, rows, summary, command))
    grids_picture(rows, out / "grids.png")
    print((out / "sweep.md").read_text())
    return 0
