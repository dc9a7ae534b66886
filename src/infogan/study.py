"""sweep: train and evaluate several seeds of one configuration, and tabulate them.

    from infogan import sweep
    study = sweep("mnist", seeds=range(5), jobs=2, threads=1, epochs=3)   # -> the sweep.json dict

Writes OUT/sweep.json (per-seed results and summary), OUT/sweep.md (the table for a README),
OUT/grids.png (each seed's categorical grid, one panel per seed, in order) and
OUT/accuracy.png (each seed's held-out accuracy per epoch). The table's columns are the
registered metrics' (metrics.METRICS). Finished seeds are reused and interrupted ones
continue from their last checkpoint.
"""

from __future__ import annotations

import json
import numbers
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from .config import LENGTH, TrainConfig, first_difference, options, resolve
from .errors import InfoGANError, Stopped
from .latent import MAX_SEED, LatentSpec, parse_seeds
from .metrics import METRICS
from .run import Run

# how a parallel sweep starts one seed's process (tests point this at a wrapper)
WORKER = [sys.executable, "-m", "infogan"]


def columns() -> list:
    return [(metric.name, column) for metric in METRICS.values() for column in metric.columns]


def check_same_study(run: Run, wanted: TrainConfig) -> None:
    """A seed folder left in --out by an earlier sweep is reused (finished) or continued
    (unfinished) only when it was trained with the options asked for now, its length included;
    otherwise the study would report, or finish with new options, runs of another recipe."""
    if not run.config_file.is_file():
        return
    saved = run.read_config()
    old = TrainConfig.from_dict(saved)
    difference = first_difference(saved, wanted) or next(
        ((k, getattr(old, k), getattr(wanted, k)) for k in LENGTH if getattr(old, k) != getattr(wanted, k)), None)
    if difference is not None:
        name, was, value = difference
        flag = "--" + name.replace("_", "-")
        if was is None or value is None:  # (--max-steps: given once, not the other time)
            how = f"with {flag} {was}, this sweep without it" if value is None else f"without {flag}, this sweep with {value}"
        else:
            how = f"with {flag} {was}, not {value}"
        raise InfoGANError(f"{run.path} was trained {how}: give the sweep another --out")


def seed_row(seed: int, run: Run) -> dict:
    m = run.metrics()
    code = next(iter(m.get("categorical") or {}), None)
    row = {"seed": seed, "run": str(run.path), "code": code}
    for name, column in columns():
        row[column.key] = column.value(m[name]) if m.get(name) else None
    return row


def summarise(rows: list[dict]) -> dict:
    out = {}
    for _, column in columns():
        vals = [r[column.key] for r in rows if r.get(column.key) is not None]
        if vals:
            out[column.key] = {"mean": statistics.mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                               "min": min(vals), "max": max(vals), "median": statistics.median(vals)}
    return out


def markdown(rows: list[dict], summary: dict, command: str) -> str:
    cols = [c for _, c in columns() if any(r.get(c.key) is not None for r in rows)]
    lines = [f"`{command}`", "", "| seed | " + " | ".join(c.label for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['seed']} | " + " | ".join("-" if r[c.key] is None else f"{r[c.key]:.4f}" for c in cols) + " |")
    for stat in ("mean", "std", "median", "min", "max"):
        lines.append(f"| **{stat}** | " + " | ".join(f"{summary[c.key][stat]:.4f}" if c.key in summary else "-"
                                                     for c in cols) + " |")
    return "\n".join(lines) + "\n"


def grids_picture(rows: list[dict], out: Path) -> None:
    from PIL import Image

    panels = [Image.open(Run(r["run"]).samples_png).convert("L") for r in rows]
    w, h = panels[0].size
    sheet = Image.new("L", (w * len(panels) + 8 * (len(panels) - 1), h), 255)
    for i, p in enumerate(panels):
        sheet.paste(p, (i * (w + 8), 0))
    sheet.save(out)


def accuracy_curves(rows: list[dict], out: Path) -> Path | None:
    """accuracy.png: each seed's held-out accuracy per epoch (from its stats.jsonl)."""
    curves = {}
    for r in rows:
        points = [(p["epoch"], p[f"acc/{r['code']}"]) for p in Run(r["run"]).stats() if f"acc/{r['code']}" in p]
        if points:
            curves[r["seed"]] = points
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    many = len(curves) > 10  # then a legend would cover the plot: thin lines, the count in the title
    for seed, points in curves.items():
        ax.plot(*zip(*points), "-" if many else "o-", lw=0.8 if many else 1.5, alpha=0.6 if many else 1.0,
                label=f"seed {seed}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (Hungarian)")
    ax.set_ylim(min(0.5, min(a for p in curves.values() for _, a in p)), 1.0)
    ax.grid(alpha=0.3)
    if many:
        ax.set_title(f"{len(curves)} seeds", fontsize=9)
    else:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def option_words(overrides: dict) -> list[str]:
    """Training options as `infogan train` flags (for the recorded command and each seed's process)."""
    words = []
    for key, value in overrides.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return words


def seed_run(out: Path, preset: str, seed: int) -> Run:
    """A sweep's run folder for one seed (its --jobs log is the same name with .log)."""
    return Run(out / f"{preset}-seed{seed}")


def trained_fraction(run: Run) -> float:
    """How much of its length a seed's run has trained, 0..1: its log's last row, or 1 once evaluated."""
    if run.metrics_file.exists():
        return 1.0
    try:
        cfg, lines = run.read_config(), run.stats_file.read_text().splitlines()
    except (OSError, InfoGANError):  # not started yet
        return 0.0
    key, length = ("step", cfg["max_steps"]) if cfg.get("max_steps") else ("epoch", cfg["epochs"])
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:  # the last row may be half written
            continue
        if isinstance(row, dict) and key in row:  # (a rollback's row has no epoch)
            return min(max(row[key] / length, 0.0), 1.0)
    return 0.0


class SweepProgress:
    """The parallel seeds' progress, read from their logs every few seconds: a bar on a terminal, else a line
    for every tenth of the study (the sweep's own process was silent for the hour its seeds trained)."""

    def __init__(self, folders: list[Run], progress: bool, every_s: float = 5.0):
        from tqdm import tqdm

        self.folders, self.progress, self.every_s, self.shown, self.last = folders, progress, every_s, 0, 0.0
        self.bar = tqdm(total=len(folders), unit="seed", disable=not progress,
                        bar_format="{desc}{percentage:3.0f}%|{bar}| {n:.2f}/{total} seeds [{elapsed}<{remaining}]")

    def update(self) -> None:
        if time.monotonic() - self.last < self.every_s:
            return
        self.last = time.monotonic()
        try:
            done = sum(map(trained_fraction, self.folders))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):  # an odd log: a display must not stop the study
            return
        if self.progress:
            self.bar.n = done
            self.bar.refresh()
        elif int(10 * done / len(self.folders)) > self.shown:
            self.shown = int(10 * done / len(self.folders))
            print(f"sweep: {done:.2f} of {len(self.folders)} seed runs trained", flush=True)

    def close(self) -> None:
        self.bar.close()


def _train_in_parallel(preset: str, seeds: list[int], out: Path, jobs: int, threads: int | None,
                       overrides: dict, progress: bool = True) -> None:
    """Train pending seeds jobs at a time, each as `infogan sweep --seeds N` in a subprocess.

    The seeds run in sessions of their own, so a Ctrl-C or SIGTERM reaches them once, from
    here: each finishes its step, saves a checkpoint and exits, no new seed starts, and the
    sweep says how to go on (a second signal stops them at once, as it stops `train`). Were the
    terminal's Ctrl-C to reach them too, the one passed on would be their second. If this
    process dies without a word (SIGKILL), each sends itself a SIGTERM (end_with_parent)."""
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    pending, running, failed, received = list(seeds), {}, [], []
    shown = SweepProgress([seed_run(out, preset, s) for s in seeds], progress)

    def pass_on(signum, frame):
        received.append(signum)
        for proc, _ in running.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    here = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGINT, signal.SIGTERM)} if here else {}
    try:
        while pending or running:
            while pending and len(running) < jobs and not received:
                seed = pending.pop(0)
                cmd = [*WORKER, "sweep", "--preset", preset, "--seeds", str(seed), "--out", str(out),
                       "--threads", str(threads), "--no-progress", "--jobs", "1", *option_words(overrides)]
                log = open(seed_run(out, preset, seed).path.with_suffix(".log"), "w")
                running[seed] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                                  env={**os.environ, PARENT_ENV: str(os.getpid())}), log)
                shown.bar.write(f"seed {seed}: training in the background (log: {log.name})")
                if received:  # (a signal came while it was being started)
                    running[seed][0].send_signal(received[0])
            time.sleep(1)
            shown.update()
            for seed, (proc, log) in list(running.items()):
                if proc.poll() is not None:
                    log.close()
                    del running[seed]
                    if proc.returncode != 0 and not received:
                        failed.append(seed)
    finally:  # an error here: stop the seeds still training (their finished checkpoints stay) and close their logs
        shown.close()
        for s, h in previous.items():
            signal.signal(s, h)
        for proc, log in running.values():
            if proc.poll() is None:
                proc.terminate()
            proc.wait()
            log.close()
    if received:
        raise Stopped(f"stopped by {signal.Signals(received[0]).name}: the seeds in training saved a checkpoint "
                      "each; the same command goes on from them", 128 + received[0])
    if failed:
        raise InfoGANError(f"seeds {failed} failed; see their logs in {out}")


PARENT_ENV = "INFOGAN_SWEEP_PARENT"  # set in a --jobs seed's process: the sweep's pid


def end_with_parent() -> None:
    """In a --jobs seed's process: a SIGTERM to itself, once, when the sweep that started it has
    died (its parent changes), so that a sweep killed outright does not leave its seeds training
    on their own. (Linux's PR_SET_PDEATHSIG was tried: in the test a seed often died at once,
    without its checkpoint, as a run does at a second signal; the kernel sends it as threads of
    the parent exit, and the sweep has several.)"""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None:
        return

    def watch():
        while os.getppid() == int(parent):
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="infogan-sweep-parent", daemon=True).start()


SELECTIONS = {"centrality": "ModelCentrality", "consistency": "Q's consistency on real images",
              "agreement": "the models' agreement on real training images"}


def check_selection(method: str, seeds: list[int], cfg: TrainConfig) -> None:
    """What select() will need, checked before any seed trains (it used to fail after all had)."""
    if method not in SELECTIONS:
        raise InfoGANError(f"unknown selection {method!r} (known: {', '.join(SELECTIONS)})")
    if len(seeds) < 2:
        raise InfoGANError(f"--select {method} picks one of several seeds' models: give two seeds or more")
    if method == "consistency" and not cfg.consistency > 0:
        raise InfoGANError("--select consistency reads Q's consistency term from the runs' logs: "
                           "train with --consistency > 0")
    if method == "agreement" and not LatentSpec.parse(cfg.latent).categorical:
        raise InfoGANError(f"--select agreement compares categorical codes, and {cfg.latent} has none")


def select(rows: list[dict], method: str) -> dict:
    """Unsupervised model selection over the seeds' models (selection.py), and where the
    selected seed's accuracy, if measured, stands among the others'."""
    from .model import InfoGAN
    from .selection import model_centrality, most_consistent, partition_agreement

    if method == "centrality":
        picked = model_centrality([InfoGAN.from_pretrained(r["run"]) for r in rows])
    elif method == "consistency":
        picked = most_consistent({r["run"]: Run(r["run"]).stats() for r in rows})
    else:  # "agreement": check_selection refused any other name before the seeds trained
        picked = partition_agreement([InfoGAN.from_pretrained(r["run"]) for r in rows], training_images(rows[0]))
    row = rows[picked["selected"]]
    result = {"method": method, "seed": row["seed"], **picked}
    accs = [r["accuracy"] for r in rows if r.get("accuracy") is not None]
    if row.get("accuracy") is not None:
        result.update(accuracy=row["accuracy"], median_accuracy=statistics.median(accs),
                      better_than_median=row["accuracy"] > statistics.median(accs),
                      rank=sorted(accs, reverse=True).index(row["accuracy"]) + 1)
    return result


def training_images(row: dict):
    """The first selection.AGREEMENT_IMAGES training images of a seed's dataset (its run's config)."""
    from . import data
    from .selection import AGREEMENT_IMAGES

    cfg = Run(row["run"]).read_config()
    images, _ = data.load(cfg["dataset"], "train", cfg.get("data_dir"), image_size=cfg.get("image_size"),
                          channels=cfg.get("channels"), bad_images=cfg.get("bad_images", "skip"))
    return images[:AGREEMENT_IMAGES]


def sweep(preset: str = "mnist", seeds=range(5), *, out: str | Path = "sweeps", jobs: int = 1,
          threads: int | None = None, progress: bool = True, selection: str | None = None, **overrides) -> dict:
    """Train and evaluate each seed (overrides: TrainConfig options by name), then tabulate.
    seeds: ints, or a seed list as the command line writes it ("0-4", "1,5,7").
    jobs > 1 trains that many seeds at once, each in its own process with `threads` threads.
    selection ("centrality", "consistency", "agreement") also picks one seed's model without
    labels (selection.py)."""
    from .trainer import train

    end_with_parent()  # (a seed of a --jobs sweep)
    seeds_text = seeds if isinstance(seeds, str) else None  # the recorded command says it as it was given
    seeds = list(parse_seeds(seeds) if isinstance(seeds, str) else seeds)
    if not all(isinstance(s, numbers.Integral) and 0 <= s <= MAX_SEED for s in seeds):  # (numpy's ints too)
        raise InfoGANError(f"seeds must be whole numbers in 0..{MAX_SEED}, not {seeds!r}")
    seeds = [int(s) for s in seeds]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    for key in ("seed", "outdir", "threads"):
        if key in overrides:
            raise InfoGANError(f"a sweep sets {key} itself")
    if overrides.get("evaluate") is False:  # (it trained every seed, then failed reading the first one's metrics)
        raise InfoGANError("a sweep tabulates each seed's evaluation: --no-eval leaves it nothing to tabulate")
    unknown = sorted(set(overrides) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise InfoGANError(f"unknown training option {unknown[0]!r}")
    if jobs < 1 or (threads is not None and threads < 1):  # threads 0 would read as "not given"
        raise InfoGANError("--jobs and --threads must be >= 1")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if not seeds or twice:  # a seed twice would count one run twice, or train it twice at once
        raise InfoGANError(f"seed {twice[0]} is listed twice" if twice else "a sweep needs at least one seed")
    if selection is not None:
        check_selection(selection, seeds, resolve(preset, overrides))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folder = {s: seed_run(out, preset, s) for s in seeds}
    for seed in seeds:
        check_same_study(folder[seed], resolve(preset, {**overrides, "seed": seed}))
    pending = [s for s in seeds if not folder[s].metrics_file.exists()]
    if jobs > 1 and len(pending) > 1:
        _train_in_parallel(preset, pending, out, jobs, threads, overrides, progress)
    rows = []
    for seed in seeds:
        if not folder[seed].metrics_file.exists():
            try:
                train(preset, run_dir=folder[seed].path, progress=progress, seed=seed, threads=threads, **overrides)
            except Stopped as e:  # `train --resume` would finish this seed alone; the sweep goes on to the rest
                raise Stopped(f"seed {seed} {e.what}", e.exit_code, resume="the same sweep command") from None
        rows.append(seed_row(seed, folder[seed]))
        print(f"seed {seed}: accuracy {rows[-1].get('accuracy') or float('nan'):.4f}")
    summary = summarise(rows)
    seeds_text = seeds_text or ",".join(map(str, seeds))
    bookkeeping = {f.name for f in options("speed", "run")}  # not what the study is, and machine-specific
    study = {k: v for k, v in overrides.items() if k not in bookkeeping}
    command = " ".join(["infogan sweep --preset", preset, "--seeds", seeds_text, *option_words(study)])
    result = {"preset": preset, "command": command, "seeds": rows, "summary": summary}
    md = markdown(rows, summary, command)
    if selection:
        result["selection"] = chosen = select(rows, selection)
        result["command"] = command = command + f" --select {selection}"
        md = markdown(rows, summary, command) + f"\n{SELECTIONS[selection]} (no labels) selects seed {chosen['seed']}" + (
            f": accuracy {chosen['accuracy']:.4f}, rank {chosen['rank']} of {len(rows)} (median "
            f"{chosen['median_accuracy']:.4f})" if "accuracy" in chosen else "") + "\n"
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "sweep.md").write_text(md)
    grids_picture(rows, out / "grids.png")
    accuracy_curves(rows, out / "accuracy.png")
    return result
