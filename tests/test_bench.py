"""The benchmarks run and report what they promise (keys and sanity, not speed)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from infogan.cli import main

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_json_has_the_promised_keys(capsys):
    assert main(["bench", "--preset", "tiny", "--batch-size", "8", "--steps", "2", "--repeats", "1",
                 "--scaling", "8,16", "--peak-size", "256", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("images_per_second", "reference_images_per_second", "speedup", "flops_per_image", "peak_memory_mb",
                "reference_peak_memory_mb"):
        assert r[key] is not None and r[key] > 0, key
    assert 0 < r["mfu"] < 1.5  # a tiny net is far from the matmul peak, but it does some work
    assert [row["batch_size"] for row in r["scaling"]] == [8, 16]
    # the floor (the step's products and optimiser alone) is a part of the step, so faster
    assert r["floor_images_per_second"] > r["images_per_second"] and r["max_speedup"] > r["speedup"]
    assert r["kernel_floor_ms"]["total"] == pytest.approx(
        r["kernel_floor_ms"]["products"] + r["kernel_floor_ms"]["optimiser"], abs=0.02)
    assert abs(r["speedup"] - r["images_per_second"] / r["reference_images_per_second"]) < 0.01 * r["speedup"] + 1e-3


def test_with_the_textbook_loop_both_loops_compute_the_same_objective():
    """The textbook loop has no Q on real images and no weights' average: with it, they are off in ours too."""
    from infogan_benchmarks.bench import bench

    r = bench("tiny", batch_size=8, steps=1, repeats=1, scaling=(), peak_size=64, consistency=1.0, self_label=1.0,
              ema=0.999)
    assert (r["options"]["consistency"], r["options"]["self_label"], r["options"]["ema"]) == (0.0, 0.0, 0.0)
    alone = bench("tiny", batch_size=8, steps=1, repeats=1, scaling=(), peak_size=64, reference=False,
                  consistency=1.0, self_label=1.0, ema=0.999)
    assert (alone["options"]["consistency"], alone["options"]["self_label"], alone["options"]["ema"]) == (1.0, 1.0, 0.999)


def test_reference_loop_trains_the_paper_networks():
    import torch

    ref = _load("reference_loop")
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    for invariance in (0.0, 1.0):
        torch.manual_seed(0)
        loop = ref.ReferenceInfoGAN(images, batch_size=16, invariance=invariance)
        for _ in range(5):  # more steps than one epoch: the loader restarts
            loss_d, loss_g = loop.step()
        assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
        assert sum(p.numel() for p in loop.G.parameters()) > 6.5e6
        if invariance == 0:
            plain_g = loss_g
    assert loss_g > plain_g  # the invariance term adds a cross-entropy to G's loss


def test_time_to_accuracy_reports_the_first_crossing(fake_mnist, capsys):
    tta = _load("time_to_accuracy")
    assert tta.main(["--preset", "tiny", "--target", "0.0", "--eval-every", "2", "--data-dir", str(fake_mnist)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["steps_to_target"] == 2 and r["seconds_to_target"] >= 0 and len(r["curve"]) == 1
    # the machine's speed that day, so that seconds from two sittings can be compared
    assert r["matmul_peak_gflops"] > 0 and r["images_per_second"] > 0


def test_weak_seed_probes_repairs_have_their_known_answers(tmp_path, fake_mnist, capsys):
    import torch

    from infogan import InfoGAN

    probes = _load("weak_seed_probes")
    # prior matching: a reading skewed towards class 0 averages to the uniform prior after the bias
    log_probs = torch.randn(500, 4, dtype=torch.float64) + torch.tensor([2.0, 0, 0, -1], dtype=torch.float64)
    mean = (log_probs + probes.prior_bias(log_probs.log_softmax(1))).softmax(1).mean(0)
    assert torch.allclose(mean, torch.full((4,), 0.25, dtype=torch.float64), atol=1e-6)
    # neighbour votes: the majority of the neighbours' classes wins; own probabilities break a tie
    own = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    assert probes.neighbour_vote(own, torch.tensor([[1, 1, 0], [0, 1, 0]]), 2).tolist() == [1, 0]
    assert probes.neighbour_vote(own, torch.tensor([[1, 0], [0, 1]]), 2).tolist() == [0, 1]
    pool = torch.tensor([[0.0, 0], [10, 10], [1, 0]])
    assert probes.nearest(torch.tensor([[0.2, 0]]), pool, 2).tolist() == [[0, 2]]
    # end to end on a tiny model: one JSON line per run, accuracies in [0, 1]
    InfoGAN("z8,cat10,cont1", width=0.125).save_pretrained(tmp_path / "model")
    assert probes.main([str(tmp_path / "model"), "--data-dir", str(fake_mnist), "--neighbours", "3"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 0 <= r["accuracy_prior_matched"] <= 1 and 0 <= r["accuracy_3_neighbour_vote"] <= 1


def test_feature_clusters_count_the_misplaced_sevens_and_read_runs_and_checkpoints(tmp_path, fake_mnist, capsys):
    import numpy as np

    from infogan.metrics.clustering import cluster_scores
    from infogan.run import Run

    clusters = _load("feature_clusters")
    # three 7s (label 7), two of them in the cluster matched to the 2s
    labels = np.array([7, 7, 7, 2, 2, 2, 2, 1])
    pred = np.array([3, 5, 5, 5, 5, 5, 5, 0])
    assert clusters.sevens_outside(cluster_scores(pred, labels, 10), pred, labels) == 2
    assert np.allclose(np.linalg.norm(clusters.normalised(np.array([[3.0, 4], [0, 0]])), axis=1), [1, 0])
    # end to end on a tiny run: its model folder and one of its checkpoints (the weights' average)
    assert main(["train", "--preset", "tiny", "--max-steps", "2", "--ckpt-every", "1", "--no-progress", "--no-eval",
                 "--data-dir", str(fake_mnist), "--outdir", str(tmp_path / "runs")]) == 0
    run = Run.numbered(tmp_path / "runs")[0]
    ckpt = run.latest_checkpoint()
    spaces = clusters.feature_spaces(clusters.load(str(ckpt)), torch.zeros(3, 1, 28, 28, dtype=torch.uint8))
    assert spaces["trunk"].shape[0] == spaces["q_hidden"].shape[0] == 3
    assert clusters.main([str(run.path), str(ckpt), "--data-dir", str(fake_mnist), "--restarts", "1",
                          "--graph", "5"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(0 <= r[f"{kind}_{space}_l2_accuracy"] <= 1 for r in rows
                                  for kind in ("kmeans", "graph") for space in ("trunk", "q_hidden"))
    assert rows[0]["q_accuracy"] == rows[1]["q_accuracy"]  # the run's model is its last checkpoint's average


def test_graph_clusters_follow_connected_shapes_that_kmeans_cuts():
    import numpy as np
    from sklearn.cluster import KMeans

    from infogan.metrics.clustering import cluster_scores

    clusters = _load("feature_clusters")
    # two concentric rings in 60 dimensions (the rest noise): each ring is a class, one connected curve
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 400)
    labels = np.repeat([0, 1], 200)
    radius = np.where(labels == 0, 1.0, 3.0)
    x = np.zeros((400, 60))
    x[:, 0], x[:, 1] = radius * np.cos(angle), radius * np.sin(angle)
    x[:, 2:] = 0.01 * rng.standard_normal((400, 58))
    graph = cluster_scores(clusters.graph_clusters(x, 2, 8), labels, 2)["accuracy"]
    kmeans = cluster_scores(KMeans(2, n_init=5, random_state=0).fit_predict(x), labels, 2)["accuracy"]
    assert graph == 1.0 and kmeans < 0.75


def test_bench_reports_a_loop_that_cannot_start(capsys):
    import pytest

    from infogan_benchmarks.bench import LoopProcess
    from infogan.errors import InfoGANError

    # bad options are refused before any process starts...
    assert main(["bench", "--preset", "tiny", "--batch-size", "1"]) != 0
    assert "--batch-size must be >= 2" in capsys.readouterr().err
    assert main(["bench", "--preset", "svhn"]) != 0
    assert "28x28 images; preset 'svhn' trains on 32x32" in capsys.readouterr().err
    assert main(["bench", "--preset", "mnist-caps"]) != 0  # the textbook loop has other networks
    assert "--no-reference" in capsys.readouterr().err
    # ...and a loop whose process fails to build says why, in one line
    with pytest.raises(InfoGANError, match="reference loop could not start: InfoGANError: unknown preset"):
        LoopProcess({"loop": "reference", "preset": "nope", "options": {}, "threads": 1})


def test_agreement_picks_subsets_and_early_checkpoints(tmp_path, fake_mnist, capsys):
    import numpy as np

    picks = _load("agreement_picks")
    # four runs, the last an outsider: the three that hold it pick the one that agrees most with
    # the other two, never the outsider: (0,1,2) -> 0, (0,1,3) -> 1, (0,2,3) -> 2, (1,2,3) -> 2
    agreement = np.array([[1, .98, .97, .90], [.98, 1, .96, .91], [.97, .96, 1, .92], [.90, .91, .92, 1]])
    accuracy = [0.99, 0.98, 0.97, 0.50]
    assert picks.subset_picks(agreement, accuracy, 3) == [0.99, 0.98, 0.97, 0.97]
    study = tmp_path / "select.json"
    study.write_text(json.dumps({"studies": {"s": {"agreement": agreement.tolist(), "accuracy": accuracy}}}))
    r = picks.subsets(str(study), [3, 4, 5])["s"]["by_subset_size"]
    assert r[3] == {"subsets": 4, "worst_pick": 0.97, "median_pick": 0.975, "picks_at_or_above_0.98": 2}
    assert r[4]["subsets"] == 1 and r[4]["worst_pick"] > 0.5 and 5 not in r  # no set larger than the study
    assert picks.main(["subsets", str(study), "--sizes", "3", "--target", "0.97"]) == 0  # --target names and sets the count
    assert json.loads(capsys.readouterr().out)["s"]["by_subset_size"]["3"]["picks_at_or_above_0.97"] == 4
    # early: the selection at every checkpoint step two tiny runs share, one JSON line each
    runs = []
    for seed in (1, 2):
        out = tmp_path / f"seed{seed}"
        assert main(["train", "--preset", "tiny", "--max-steps", "4", "--ckpt-every", "2", "--keep-ckpts", "5",
                     "--seed", str(seed), "--threads", "1", "--no-progress", "--no-eval", "--data-dir",
                     str(fake_mnist), "--outdir", str(out)]) == 0
        runs.append(str(next(out.iterdir())))
    capsys.readouterr()
    assert picks.main(["early", *runs, "--data-dir", str(fake_mnist)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["step"] for row in rows] == [2, 4]
    for row in rows:
        assert row["selected"] in runs and len(row["centrality"]) == 2
        assert all(0 <= a <= 1 for a in row["accuracy"]) and all(n >= 0 for n in row["sevens_outside_their_category"])
    with pytest.raises(SystemExit, match="has no ema"):  # the tiny preset trains without --ema
        picks.main(["early", *runs, "--data-dir", str(fake_mnist), "--weights", "average"])
    with pytest.raises(SystemExit, match="has no checkpoints"):
        picks.main(["early", runs[0], str(tmp_path), "--data-dir", str(fake_mnist)])


def test_fork_run_is_the_late_lever_s_own_run_from_scratch(fake_mnist, tmp_path, capsys):
    from safetensors.torch import load_file

    fork_run = _load("fork_run")
    common = ["--preset", "tiny", "--invariance", "1", "--max-steps", "6", "--ckpt-every", "3", "--no-progress",
              "--no-eval", "--data-dir", str(fake_mnist)]
    assert main(["train", *common, "--outdir", str(tmp_path / "plain")]) == 0
    assert main(["train", *common, "--fake-erase", "4", "--erase-start", "0.5", "--outdir", str(tmp_path / "late")]) == 0
    plain, late = (next((tmp_path / d).iterdir()) for d in ("plain", "late"))
    settings = ["--set", "fake_erase=4", "--set", "erase_start=0.5"]
    assert fork_run.main([str(plain), "3", str(tmp_path / "fork"), *settings]) == 0
    forked, scratch = (load_file(str(r / "model" / "model.safetensors")) for r in (tmp_path / "fork", late))
    assert forked.keys() == scratch.keys() and all(torch.equal(forked[k], scratch[k]) for k in forked)
    without = load_file(str(plain / "model" / "model.safetensors"))  # and the erasing did train those steps
    assert not all(torch.equal(without[k], scratch[k]) for k in scratch)
    capsys.readouterr()
    # a start before the checkpoint would not be that run; other options are not late ones
    assert fork_run.main([str(plain), "3", str(tmp_path / "early"), "--set", "fake_erase=4",
                          "--set", "erase_start=0.3"]) == 2
    assert "erasing starts at step 2 of 6, before the checkpoint's 3" in capsys.readouterr().err
    assert fork_run.main([str(plain), "3", str(tmp_path / "other"), "--set", "balance=1"]) == 2
    assert not (tmp_path / "early").exists() and not (tmp_path / "other").exists()


def test_failure_rate_counts_each_draw_once_and_knows_its_intervals(tmp_path, capsys):
    fr = _load("failure_rate")
    assert fr.rate(0, 10)["ci95"] == [0.0, pytest.approx(1 - 0.025 ** 0.1, abs=1e-4)]  # Clopper-Pearson at 0 of n
    assert fr.rate(5, 10)["ci95"] == [pytest.approx(0.1871, abs=1e-4), pytest.approx(0.8129, abs=1e-4)]
    assert fr.seeds_to_show_lower(0.25) == 11  # 0.75^10 = 0.056, 0.75^11 = 0.042
    assert fr.seeds_to_beat(5, 19) == 14  # Fisher, one-sided: 0 of 14 against 5 of 19 is p = 0.049
    rows = [dict(recipe=r, kind="k", source="s", seed=i, accuracy=a, fork=f) for r, i, a, f in [
        ("default", 0, 0.985, False), ("default", 1, 0.975, False), ("default", 2, 0.988, False),
        ("lever", 0, 0.987, False), ("lever", 1, 0.986, False), ("fork", 1, 0.970, True)]]
    s = fr.summarise(rows, 0.98)
    assert s["default_pooled"]["failures"] == 1 and s["default_pooled"]["runs"] == 3
    assert s["every_independent_draw"] == fr.rate(1, 5)  # the fork is not a new draw
    lever = next(r for r in s["recipes"] if r["recipe"] == "lever")
    assert lever["failures"] == 0 and 0 < lever["p_lower_than_default"] < 1
    assert "p_lower_than_default" not in next(r for r in s["recipes"] if r["recipe"] == "fork")
    assert s["two_outcomes"] == {"highest_failing": 0.975, "lowest_passing": 0.985}
    assert s["five_seed_study_passes"]["at_rate"] == pytest.approx((2 / 3) ** 5, abs=1e-4)
    # the studies in docs/ all parse, and the picture is drawn
    fr.main(["--plot", str(tmp_path / "rate.png")])
    out = json.loads(capsys.readouterr().out)
    assert out["default_pooled"]["runs"] == sum(len(seeds) for r, *_, seeds, _ in fr.STUDIES if r == "default")
    assert (tmp_path / "rate.png").stat().st_size > 0


def _fake_run(accuracy_by_seed: dict, sleep_by_seed: dict):
    """A stand-in for `infogan sweep --seeds N`: sleeps, then writes the metrics.json a sweep
    writes (a negative accuracy: exits 1 without one)."""
    import sys

    def command(preset, seed, folder, flags):
        acc = accuracy_by_seed[seed] + (0.001 if "--lever" in flags else 0.0)
        script = (f"import json, pathlib, sys, time; time.sleep({sleep_by_seed.get(seed, 0.0)});"
                  f"sys.exit(1) if {acc} < 0 else None;"
                  f"d = pathlib.Path({str(folder)!r}) / '{preset}-seed{seed}'; d.mkdir(parents=True);"
                  f"(d / 'metrics.json').write_text(json.dumps({{'categorical': {{'c1': {{'accuracy': {acc}}}}}}}))")
        return [sys.executable, "-c", script]
    return command


def test_seed_queue_interleaves_the_arms_and_stops_at_its_budget(tmp_path):
    sq = _load("seed_queue")
    arms = [("default", []), ("lever", ["--lever"])]
    # seeds 0-2 finish at once; seed 3 outlasts the budget and is stopped, not scored
    command = _fake_run({0: 0.99, 1: 0.97, 2: 0.985, 3: 0.99}, {3: 60.0})
    rows = sq.run_queue(tmp_path, arms, [0, 1, 2, 3], ["--common"], slots=2, seconds=6.0, preset="mnist",
                        command=command, poll=0.05)
    status = {(r["arm"], r["seed"]): r["status"] for r in rows}
    assert status == {**{(a, s): "done" for a in ("default", "lever") for s in (0, 1, 2)},
                      ("default", 3): "stopped", ("lever", 3): "stopped"}
    s = sq.summary(rows, ["default", "lever"], threshold=0.98)["arms"]
    assert s["default"]["seeds"] == [0, 1, 2] and s["default"]["accuracy"] == [0.99, 0.97, 0.985]
    assert s["default"]["below_threshold"] == 1 and s["lever"]["below_threshold"] == 1
    assert s["lever"]["accuracy"] == pytest.approx([0.991, 0.971, 0.986])
    assert s["default"]["stopped_runs"] == 1 and s["default"]["failed_runs"] == 0


def test_seed_queue_counts_a_crash_as_failed_and_gives_up_on_a_broken_recipe(tmp_path):
    sq = _load("seed_queue")
    command = _fake_run({s: -1.0 for s in range(10)}, {})
    rows = sq.run_queue(tmp_path, [("broken", [])], list(range(10)), [], slots=1, seconds=60.0, preset="mnist",
                        max_errors=3, command=command, poll=0.05)
    assert [r["status"] for r in rows] == ["failed"] * 3  # no fourth run after three crashes and no success
    assert sq.summary(rows, ["broken"], 0.98)["arms"]["broken"]["runs"] == 0
    with pytest.raises(SystemExit):
        sq.main(["--out", str(tmp_path), "--seconds", "1", "--arm", "bad tag=--x"])


def test_tf32_emulation_rounds_to_ten_mantissa_bits_and_keeps_the_model(tmp_path):
    em = _load("tf32_eval_emulation")
    x = torch.tensor([1 + 2 ** -10, 1 + 2 ** -12, 1 + 3 * 2 ** -12, -2.0, 0.0])
    assert em.to_tf32(x).tolist() == [1 + 2 ** -10, 1.0, 1 + 2 ** -10, -2.0, 0.0]  # to nearest
    net = nn.Sequential(nn.Linear(4, 3))
    weight = net[0].weight.detach().clone()
    inputs = torch.randn(5, 4)
    rounded = em.tf32_copy(net)
    expected = em.to_tf32(inputs) @ em.to_tf32(net[0].weight).T + net[0].bias
    assert torch.allclose(rounded(inputs), expected, atol=1e-6)
    assert not torch.equal(rounded(inputs), net(inputs)) and torch.equal(net[0].weight, weight)  # the original untouched


def _tiny_runs(tmp_path, fake_mnist, seeds, flags=()):
    runs = []
    for seed in seeds:
        out = tmp_path / f"run{seed}"
        assert main(["train", "--preset", "tiny", "--max-steps", "3", "--seed", str(seed), "--threads", "1",
                     "--no-progress", "--no-eval", "--data-dir", str(fake_mnist), "--outdir", str(out), *flags]) == 0
        runs.append(str(next(out.iterdir())))
    return runs


def test_agreement_picks_starts_votes_through_the_medoids_classes(tmp_path, fake_mnist, capsys):
    import numpy as np

    picks = _load("agreement_picks")
    # three models of 4 classes: B names A's classes one up, C is A with two images wrong;
    # mapped onto A's classes by their agreement, the vote is A's reading wherever two agree
    a = np.array([0, 1, 2, 3] * 5)
    b = (a + 1) % 4
    c = a.copy()
    c[[0, 5]] = [3, 2]
    probs = [np.eye(4)[x] for x in (a, b, c)]
    assert (picks.vote(probs, [a, b, c], reference=0) == a).all()
    assert (picks.vote(probs, [a, b, c], reference=1) == b).all()  # the reference's names
    runs = _tiny_runs(tmp_path, fake_mnist, (1, 2, 3, 4))
    capsys.readouterr()
    assert picks.main(["starts", *runs, "--data-dir", str(fake_mnist), "--group", "2", "--target", "0.75"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert len(r["accuracy"]) == 4 and np.allclose(np.diag(r["agreement"]), 1)
    assert r["starts_below_0.75"] == sum(a < 0.75 for a in r["accuracy"])  # --target names and sets the count
    assert set(r["every_subset"]["vote"]) == {"worst", "median", "below_0.75"}
    assert r["every_subset"]["groups"] == 6 and [g["starts"] for g in r["disjoint_groups"]] == [[0, 1], [2, 3]]
    for g in r["disjoint_groups"]:
        assert g["medoid"] in [r["accuracy"][i] for i in g["starts"]] and 0 <= g["vote"] <= 1


def test_generator_modes_describes_each_code_and_the_sevens(tmp_path, fake_mnist, capsys):
    modes = _load("generator_modes")
    run = _tiny_runs(tmp_path, fake_mnist, (1,))[0]
    capsys.readouterr()
    assert modes.main([run, "--sevens-of", run, "--data-dir", str(fake_mnist), "--per-class", "6",
                       "--threads", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert [c["category"] for c in r["categories"]] == list(range(10))
    for c in r["categories"]:
        assert sum(c["oracle_digits"].values()) <= 1 + 1e-6 and 0 <= c["q_reads_back_its_code"] <= 1
    from infogan import data
    _, y_test = data.load("mnist", "test", str(fake_mnist))
    sevens = int((y_test == 7).sum())
    assert r["misplaced_sevens"]["count"] + r["placed_sevens"]["count"] == sevens == r["q_sevens_outside"] + \
        r["placed_sevens"]["count"]
    assert r["reference_misplaced_sevens"]["count"] == r["q_sevens_outside"]  # itself as the reference
    assert 0 <= r["fresh_on_fakes_accuracy"] <= 1 and 0 <= r["pixels"]["accuracy_of_the_10_nearest_drawings_vote"] <= 1


def _two_clusters():
    """A tiny model (Cat(2)), and 400 trunk-wide features in two clusters of 200 with their true
    cluster and each one's 5 nearest by cosine."""
    from infogan import InfoGAN
    from infogan.refine import cosine_nearest

    torch.manual_seed(0)
    model = InfoGAN("z8,cat2,cont1", width=0.125)
    width = model.D.q_head[0].in_features
    side = torch.randn(width)
    feats = torch.cat([side + 0.3 * torch.randn(200, width), -side + 0.3 * torch.randn(200, width)])
    return model, feats, torch.arange(400) // 200, cosine_nearest(feats, feats, 5, exclude_self=True)


def test_neighbour_probe_finds_neighbours_and_its_stage_learns_a_toy_split(tmp_path, fake_mnist, capsys):
    from infogan.metrics.clustering import cluster_scores
    from infogan.refine import cosine_nearest

    probe = _load("neighbour_probe")
    # cosine neighbours: itself left out when asked, the nearest by angle, not by length
    f = torch.tensor([[1.0, 0], [10, 1], [0, 1], [1, 0.01]])
    assert cosine_nearest(f, f, 1, exclude_self=True).tolist() == [[3], [3], [1], [0]]
    assert cosine_nearest(f[:1], f, 1).tolist() == [[0]]
    # the stage: two clusters of features whose neighbours lie in their own cluster; Q's head,
    # untrained, is taught to agree with the neighbours and comes to split the two clusters
    model, feats, truth, near = _two_clusters()
    assert (truth[near] == truth[:, None]).all()
    cols = model.spec.q_slices["c1"]
    head = probe.neighbour_stage(model.D, feats, near, cols, steps=200, batch=64, lr=1e-2, entropy_weight=2.0, seed=0)
    with torch.no_grad():
        pred = probe.cat_logits(head, feats, cols).argmax(1)
    assert cluster_scores(pred.numpy(), truth.numpy(), 2)["accuracy"] == 1.0
    assert all(p.grad is None for p in model.D.parameters())  # the model itself is not touched
    # end to end on a tiny model: one JSON line per run with every figure in [0, 1]
    model.save_pretrained(tmp_path / "model")
    assert probe.main([str(tmp_path / "model"), "--dataset", "mnist", "--data-dir", str(fake_mnist),
                       "--neighbours", "3", "--steps", "5", "--batch", "8", "--entropy-weights", "2", "--threads", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert all(0 <= r[key] <= 1 for key in ("neighbour_purity", "q_accuracy", "after_entropy2",
                                              "kmeans_trunk_accuracy", "knn20_labelled_accuracy"))
    assert all(len(r[key]) == 10 and all(0 <= v <= 1 for v in r[key])
               for key in ("neighbour_purity_by_class", "knn20_labelled_by_class"))
    # per class: a mean over each class's images; a class with none reads 0
    assert probe.per_class(torch.tensor([1.0, 0, 1, 1]), torch.tensor([0, 0, 2, 2]), 3) == [0.5, 0.0, 1.0]


def test_fashion_tops_ink_evens_the_ink_and_reports_what_the_tops_keep(tmp_path, fake_mnist, capsys, monkeypatch):
    import dataclasses

    from infogan import data
    tops_ink = _load("fashion_tops_ink")
    images = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    images[0, :, 5:20, 5:20] = 51  # a dark garment, ink 0.2
    images[1, :, 5:20, 5:20] = 204  # a bright one, ink 0.8
    images[1, :, 5, 5] = 255
    even = tops_ink.even_ink(images)
    assert torch.allclose(tops_ink.mean_ink(even), torch.full((2,), tops_ink.EVEN_INK), atol=0.01)
    assert (even[:, :, :5] == 0).all()  # the background stays the background
    # the fabricated MNIST-format files stand in for Fashion-MNIST's (same format, same names)
    monkeypatch.setitem(data.DATASETS, "fashion-mnist",
                        dataclasses.replace(data.DATASETS["fashion-mnist"], files=data.DATASETS["mnist"].files))
    run = _tiny_runs(tmp_path, fake_mnist, (1,))[0]
    capsys.readouterr()
    monkeypatch.setattr("sys.argv", ["fashion_tops_ink.py", run, "--data-dir", str(fake_mnist),
                                     "--pictures", str(tmp_path / "pictures")])
    tops_ink.main()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    record = lines[1]
    assert record["run"] == run and 0 <= record["tops_kept_at_even_ink"] <= 1
    picture = tmp_path / "pictures" / f"{Path(run).name}-tops.png"
    assert picture.is_file() == bool(record["tops_categories_mean_ink"])
    _, labels = data.load("mnist", "test", str(fake_mnist))
    assert sum(c["images"] for c in record["categories"]) == len(labels)
    out = tmp_path / "out.jsonl"
    out.write_text("\n".join(json.dumps(line) for line in lines))
    monkeypatch.setattr("sys.argv", ["fashion_tops_ink.py", "--summary", str(out)])
    tops_ink.main()
    summary = json.loads(capsys.readouterr().out)
    assert summary["categories"] == 10 and 0 < summary["purity"] <= 1
    assert "other_codes" not in record  # one categorical code: nothing more to report


def test_fashion_tops_ink_reads_the_other_categorical_codes(tmp_path, fake_mnist, capsys, monkeypatch):
    import dataclasses

    from infogan import data
    tops_ink = _load("fashion_tops_ink")
    # groups 0, 0, 1, 2 (of 3) at values 1, 1, 0, 1 (of 2): group 2 holds nothing at value 0, and an
    # empty group has no shares
    shares = tops_ink.value_shares(torch.tensor([1, 1, 0, 1]), torch.tensor([0, 0, 1, 1]), 3, 2)
    assert shares == [[0.0, 1.0], [0.5, 0.5], [0.0, 0.0]]
    monkeypatch.setitem(data.DATASETS, "fashion-mnist",
                        dataclasses.replace(data.DATASETS["fashion-mnist"], files=data.DATASETS["mnist"].files))
    run = _tiny_runs(tmp_path, fake_mnist, (1,), ["--latent", "z8,cat10,cat2,cont2"])[0]
    capsys.readouterr()
    monkeypatch.setattr("sys.argv", ["fashion_tops_ink.py", run, "--data-dir", str(fake_mnist)])
    tops_ink.main()
    codes = json.loads(capsys.readouterr().out.splitlines()[1])["other_codes"]
    assert list(codes) == ["c2"]  # the first categorical code is the categories themselves
    _, labels = data.load("mnist", "test", str(fake_mnist))
    by_class, by_category = list(codes["c2"]["by_class"].values()), codes["c2"]["by_category"]
    assert len(by_class) == len(by_category) == 10 and all(len(r) == 2 for r in by_class + by_category)
    # each class's test images are spread over the code's two values; a category may hold none
    assert all(abs(sum(r) - 1) < 0.01 for r, n in zip(by_class, torch.bincount(labels, minlength=10)) if n)
    assert all(abs(sum(r) - 1) < 0.01 or sum(r) == 0 for r in by_category)


def test_fresh_heads_probe_splits_a_toy_and_chooses_by_its_loss(tmp_path, fake_mnist, capsys):
    from types import SimpleNamespace

    from infogan.metrics.clustering import cluster_scores

    probe = _load("fresh_heads_probe")
    # two clusters whose neighbours lie in their own cluster: fresh heads of every kind learn the split,
    # and a head that fell into one category for all (the loss's entropy term unmet) loses the choice
    model, feats, truth, near = _two_clusters()
    width = feats.shape[1]
    cols = model.spec.q_slices["c1"]
    q_before = model.D.q_head.eval()(feats).detach()
    args = SimpleNamespace(heads=2, steps=100, batch=64, lr=1e-2, entropy=5.0, seed=0)
    for kind, cat in [("mlp", slice(None)), ("linear", slice(None)), ("q", cols)]:
        heads, losses = probe.train_heads(kind, feats, near, 2, cat, model.D.q_head, q_before, args)
        with torch.no_grad():
            pred = heads[0](feats)[:, cat].argmax(1)
        assert cluster_scores(pred.numpy(), truth.numpy(), 2)["accuracy"] == 1.0, kind
    one_category = torch.nn.Linear(width, 2)
    with torch.no_grad():
        one_category.weight.zero_()
        one_category.bias.copy_(torch.tensor([5.0, -5.0]))
    pairs = feats[:100], feats[near[:100, 0]]
    assert probe.scan_loss(one_category, *pairs, 5.0, slice(None)) > probe.scan_loss(heads[0], *pairs, 5.0, cols)
    assert all(p.grad is None for p in model.D.parameters())  # the model's own head is not touched
    # end to end on a tiny model: one JSON line per run, every accuracy in [0, 1], the chosen head the lowest-loss one
    model.save_pretrained(tmp_path / "model")
    assert probe.main([str(tmp_path / "model"), "--dataset", "mnist", "--data-dir", str(fake_mnist), "--kinds",
                       "q,mlp", "--heads", "2", "--neighbours", "3", "--steps", "5", "--batch", "8"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 0 <= r["q_accuracy"] <= 1
    for kind in ("q", "mlp"):
        assert all(0 <= a <= 1 for a in r[kind]["head_accuracies"]) and len(r[kind]["head_losses"]) == 2
        assert r[kind]["chosen_head"] == min(range(2), key=r[kind]["head_losses"].__getitem__)
