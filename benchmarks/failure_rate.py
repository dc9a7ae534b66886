"""How often a 3-epoch MNIST run fails the worst-seed goal, over every run the studies kept.

    python benchmarks/failure_rate.py [--threshold 0.98] [--plot docs/levers/failure-rate.png]

Every MNIST study since the current objective (consistency, average, decay; 3 epochs) is in
docs/ as a sweep JSON; STUDIES below names each one's recipe, machine kind and the seeds that
are independent draws (a seed that a fork continues, or one that two files hold, is counted
once). A run fails when its test accuracy is below the threshold (the goal's 0.98). Prints
JSON: per recipe the runs, failures and a 95% Clopper-Pearson interval on the failure rate;
the default pooled over machine kinds and per kind; each lever against it, pooled and on the
lever's own kinds (Fisher's exact test, one-sided each way: is the lever's rate lower? higher?); the chance that a 5-seed study passes at the default's rate; and
how many seeds without a failure a lever needs before that alone shows a lower rate.
Test labels only score the runs here, as in the studies themselves.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from scipy.stats import binomtest, fisher_exact

ROOT = Path(__file__).resolve().parents[1]

GPU = "NVIDIA H200 (TF32)"
# (recipe, machine kind, sweep JSON under docs/, seeds that are independent draws, whether they are forks)
STUDIES = [
    ("default", "Xeon AVX-512", "sweep-mnist.json", [0, 1, 2, 3, 4], False),
    ("default", "Xeon AVX-512", "levers/sweep-mnist-self-label0.json", [5], False),  # its 0-4: sweep-mnist.json's runs
    ("default", "Xeon AVX-512", "sweep-mnist-seeds6-8.json", [6, 7, 8], False),
    ("default", "Xeon AVX-512 + AMX", "sweep-mnist-avx512amx.json", [0, 1, 2, 3, 4], False),
    ("default", "Xeon AVX-512 + AMX", "sweep-mnist-avx512amx-seed7.json", [7], False),
    ("default", "EPYC Zen 3", "levers/sweep-mnist-zen3-default.json", [0, 1, 2, 4], False),
    ("--amp bf16", "EPYC Zen 4", "levers/sweep-mnist-amp-bf16.json", [0, 1, 2, 3, 4, 7], False),
    ("--self-label 1 (the previous default)", "Xeon AVX-512", "sweep-mnist-self-label1.json", [0, 1, 2, 3, 4], False),
    # these two on top of the previous default (--self-label 1)
    ("--batch-size 128", "Xeon AVX-512", "levers/sweep-mnist-batch128.json", [0, 1, 2, 3, 4, 5], False),
    ("--consistency 2", "Xeon AVX-512", "levers/sweep-mnist-consistency2-seeds0-4.json", [0, 4], False),
    ("--latent z62,cat10,cont4", "Xeon AVX-512", "levers/sweep-mnist-cont4-seed4.json", [4], False),
    ("--latent z62,cat10,cat2,cont2", "Xeon AVX-512", "levers/sweep-mnist-cat2-seed4.json", [4], False),
    ("--invariance 2", "Xeon AVX-512", "levers/sweep-mnist-invariance2-seeds4-7.json", [4, 7], False),
    ("--balance 2", "Xeon AVX-512 + AMX", "levers/sweep-mnist-balance2-seeds0-4-7.json", [0, 4, 7], False),
    ("--balance 5", "Xeon AVX-512", "levers/sweep-mnist-balance5-seed4.json", [4], False),
    ("--erase 8", "Xeon AVX-512 + AMX", "levers/sweep-mnist-erase8.json", [0, 1, 2, 4, 7], False),
    ("--fake-erase 8", "Xeon AVX-512 + AMX", "levers/sweep-mnist-fake-erase8.json", [0, 1, 2, 3, 4, 7], False),
    ("--overcluster 1", "Xeon AVX-512", "levers/sweep-mnist-over1.json", [0, 1, 2, 7], False),
    ("--overcluster 0.3", "EPYC Zen 3", "levers/sweep-mnist-over03-zen3.json", [0, 1, 2, 4], False),
    ("--brightness 1", "EPYC Zen 3", "levers/sweep-mnist-brightness1-zen3.json", [0, 2], False),
    ("--q-fakes 0.3", "EPYC Zen 3", "levers/sweep-mnist-qfakes03-zen3.json", [0, 2], False),
    ("--lambda-cat 2", "EPYC Zen 3", "levers/sweep-mnist-lcat2-zen3.json", [0, 2], False),
    ("--lambda-cat 0.5", "EPYC Zen 3", "levers/sweep-mnist-lcat05-zen3.json", [0, 1, 2, 4], False),
    ("--lr-g 5e-4", "EPYC Zen 3", "levers/sweep-mnist-lrg5e-4-zen3.json", [0, 2], False),
    ("--erase 8", "EPYC Zen 3", "levers/sweep-mnist-erase8-zen3.json", [10, 11], False),
    ("--morph 0", "EPYC Zen 3", "levers/sweep-mnist-morph0-zen3.json", [10, 11], False),
    # Narrower networks (a third of the step's time), and G pulled to draw every real image (--cover)
    ("--width 0.5", "Xeon AVX-512 + AMX", "levers/sweep-mnist-width05.json", list(range(10)), False),
    ("--width 0.5 --cover 1", "Xeon AVX-512 + AMX", "levers/sweep-mnist-width05-cover1.json", [0, 1, 2, 3], False),
    ("--width 0.5 --cover 2 --cover-space pixels", "Xeon AVX-512 + AMX", "levers/sweep-mnist-width05-cover2-pixels.json",
     [0, 2], False),
    ("--width 0.5 --cover 20 --cover-space pixels", "Xeon AVX-512 + AMX", "levers/sweep-mnist-width05-cover20-pixels.json",
     [0, 2], False),
    ("--cover 1", "Xeon AVX-512 + AMX", "levers/sweep-mnist-cover1.json", [0, 1, 2, 7], False),
    # the relabelling stage after training (on in the mnist preset since session 46): the
    # default's training, then --refine-groups 50; its seeds' training is the "default" rows'
    ("--refine-groups 50 (the mnist preset now)", "Xeon AVX-512 + AMX", "sweep-mnist-refine-seeds0-11.json",
     list(range(12)), False),
    # the training alone of that study's seeds 5-11 (before the stage; its seeds 0-4, 7 are above)
    ("default", "Xeon AVX-512 + AMX", "levers/sweep-mnist-training-seeds5-11.json", [5, 6, 8, 9, 10, 11], False),
    # One sitting on a lent GPU (benchmarks/gpu_lever_suite.sh, seed_queue.py): the three arms
    # interleaved seed by seed, 16 runs at once; then two levers, of whose runs three finished.
    ("default", GPU, "levers/sweep-mnist-gpu-h200-default.json", list(range(30)), False),
    ("--lambda-cat 0.5", GPU, "levers/sweep-mnist-gpu-h200-lcat05.json", list(range(30)), False),
    ("--fake-erase 8", GPU, "levers/sweep-mnist-gpu-h200-fake-erase8.json", list(range(29)), False),
    ("--erase 8", GPU, "levers/sweep-mnist-gpu-h200-erase8.json", [1, 3], False),
    ("--lr-g 5e-4", GPU, "levers/sweep-mnist-gpu-h200-lrg5e-4.json", [1], False),
    # Forks of the Zen 3 default's runs: its own trajectory until the lever starts, so not new draws.
    ("--fake-erase 8 --erase-start 0.3557 (fork at step 1000)", "EPYC Zen 3", "levers/sweep-mnist-fake-erase8-late.json", [0, 2], True),
    ("--fake-erase 8 --erase-start 0.2814 (fork at step 791)", "EPYC Zen 3", "levers/sweep-mnist-fake-erase8-late791-seed2.json", [2], True),
    ("--epochs 5 (the default's own run to step 1,967)", "EPYC Zen 3", "levers/sweep-mnist-epochs5-zen3.json", [0, 2], True),
]
DEFAULT = "default"
LEFT_EDGE = 0.970  # the plot's; a run below it is drawn there as "<"


def runs(docs: Path) -> list[dict]:
    """One row per (study, seed) of STUDIES, with its test accuracy."""
    rows = []
    for recipe, kind, name, seeds, fork in STUDIES:
        accuracy = {s["seed"]: s["accuracy"] for s in json.loads((docs / name).read_text())["seeds"]}
        missing = sorted(set(seeds) - set(accuracy))
        if missing:
            raise SystemExit(f"{name} has no seed {missing[0]}")
        rows += [dict(recipe=recipe, kind=kind, source=f"docs/{name}", seed=s, accuracy=accuracy[s],
                      fork=fork) for s in seeds]
    return rows


def rate(failures: int, n: int) -> dict:
    low, high = binomtest(failures, n).proportion_ci(method="exact")
    return {"runs": n, "failures": failures, "rate": round(failures / n, 4), "ci95": [round(low, 4), round(high, 4)]}


def seeds_to_show_lower(p: float, alpha: float = 0.05) -> int:
    """Seeds, none failing, before a binomial test rejects 'the rate is still p' at alpha."""
    return math.ceil(math.log(alpha) / math.log(1 - p))


def seeds_to_beat(failures: int, n: int, alpha: float = 0.05) -> int:
    """Seeds, none failing, before Fisher's exact test puts a lever's rate below a study's
    (`failures` of `n`) at alpha: the comparison the levers' rows make."""
    m = 1
    while fisher_exact([[0, m], [failures, n - failures]], alternative="less").pvalue >= alpha:
        m += 1
    return m


def summarise(rows: list[dict], threshold: float) -> dict:
    fails = lambda rs: sum(r["accuracy"] < threshold for r in rs)  # noqa: E731
    default = [r for r in rows if r["recipe"] == DEFAULT]
    draws = [r for r in rows if not r["fork"]]
    k, n = fails(default), len(default)
    pooled = rate(k, n)
    recipes = {}
    for r in rows:
        recipes.setdefault(r["recipe"], []).append(r)
    table = []
    for recipe, rs in recipes.items():
        row = {"recipe": recipe, "kinds": sorted({r["kind"] for r in rs}), **rate(fails(rs), len(rs)),
               "failing": [f"seed {r['seed']} ({r['kind']}): {r['accuracy']}" for r in rs if r["accuracy"] < threshold],
               "fork": rs[0]["fork"]}
        if recipe != DEFAULT and not rs[0]["fork"]:
            # One-sided each way: is this recipe's failure rate lower (higher) than the default's,
            # pooled over every kind, and than the default's on the recipe's own kinds (a machine
            # kind may have its own rate: the fairer test where that default has enough runs)?
            same = [r for r in default if r["kind"] in row["kinds"]]
            for name, ref in (("default", default), ("default_same_kinds", same)):
                if not ref:
                    continue
                table_2x2 = [[fails(rs), len(rs) - fails(rs)], [fails(ref), len(ref) - fails(ref)]]
                row[f"p_lower_than_{name}"] = round(fisher_exact(table_2x2, alternative="less").pvalue, 4)
                row[f"p_higher_than_{name}"] = round(fisher_exact(table_2x2, alternative="greater").pvalue, 4)
            row["default_same_kinds"] = rate(fails(same), len(same)) if same else None
        table.append(row)
    p = k / n
    low, high = pooled["ci95"]
    below = sorted(r["accuracy"] for r in draws if r["accuracy"] < threshold)
    above = sorted(r["accuracy"] for r in draws if r["accuracy"] >= threshold)
    return {
        "threshold": threshold,
        "recipes": table,
        "default_pooled": {**pooled, "kinds": sorted({r["kind"] for r in default})},
        "default_by_kind": {kind: rate(fails(rs), len(rs)) for kind in sorted({r["kind"] for r in default})
                            for rs in [[r for r in default if r["kind"] == kind]]},
        "every_independent_draw": rate(fails(draws), len(draws)),
        "five_seed_study_passes": {"at_rate": round((1 - p) ** 5, 4),
                                   "over_ci95": [round((1 - high) ** 5, 4), round((1 - low) ** 5, 4)]},
        "seeds_without_failure_to_show_a_lower_rate": {"against_the_default_runs_fisher": seeds_to_beat(k, n),
                                                       "if_its_rate_were_known": seeds_to_show_lower(p),
                                                       "if_it_were_its_ci95_low": seeds_to_show_lower(low)},
        # The outcomes are two, not a spread: no independent run lands between these two.
        "two_outcomes": {"highest_failing": below[-1], "lowest_passing": above[0]},
    }


def plot(rows: list[dict], threshold: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(recipes) + 1.2))
    for i, recipe in enumerate(recipes):
        rs = [r for r in rows if r["recipe"] == recipe]
        for r in rs:
            off_scale = r["accuracy"] < LEFT_EDGE  # drawn at the left edge, pointing left
            ax.scatter(max(r["accuracy"], LEFT_EDGE + 0.0005), i, s=18, c="tab:red" if r["accuracy"] < threshold else "tab:blue",
                       marker="<" if off_scale else "x" if r["fork"] else "o")
    ax.axvline(threshold, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(recipes)), recipes, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(LEFT_EDGE, 0.991)
    ax.set_xlabel(f"test accuracy of c1 (red: below {threshold}; x: a fork; <: below {LEFT_EDGE})", fontsize=8)
    ax.set_title("Every 3-epoch MNIST run kept in docs/, one point per seed", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=0.98)
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    ap.add_argument("--plot", type=Path, help="also draw every run's accuracy, one row per recipe")
    args = ap.parse_args(argv)
    rows = runs(args.docs)
    out = {"command": "python benchmarks/failure_rate.py" + (f" --plot {args.plot}" if args.plot else ""),
           **summarise(rows, args.threshold), "runs": rows}
    if args.plot:
        plot(rows, args.threshold, args.plot)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
