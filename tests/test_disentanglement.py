"""The disentanglement metrics' known answers, dSprites' file format, the procedural stand-in,
the contrastive regulariser and ModelCentrality."""

import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

from infogan import LatentSpec, data
from infogan.cli import main
from infogan.errors import DataError
from infogan.metrics import dci, factor_vae, mig, sap
from infogan.metrics.factors import FactorData

QUICK = {  # the protocols, shrunk for a test
    "factor_vae": dict(batch_size=64, num_train=300, num_eval=300, num_variance_estimate=2000),
    "mig": dict(num_train=4000), "dci": dict(num_train=1500, num_test=500), "sap": dict(num_train=1500, num_test=500),
}


def grid(sizes):
    """Every combination of the factors once, shuffled; the 'images' are the factor values themselves."""
    classes = np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, len(sizes))
    classes = classes[np.random.RandomState(0).permutation(len(classes))]
    return FactorData(torch.from_numpy(classes).float(), classes, tuple(sizes), tuple(f"f{i}" for i in range(len(sizes))))


def identity(x):
    """The factors themselves, centred (an encoder's means are; SAP's regularised linear classifiers
    would need a large intercept for values 0..n-1)."""
    return x.numpy() - x.numpy().mean(0)


def noise(x):
    return np.random.RandomState(len(x)).normal(size=x.shape)


def constant(x):
    return np.zeros(x.shape)


def mixed(x):  # the first two factors rotated into each other, the third kept
    x = identity(x)
    return np.stack([x[:, 0] + x[:, 1], x[:, 0] - x[:, 1], x[:, 2]], 1)


def scores(data_, represent):
    rng = lambda: np.random.RandomState(0)  # noqa: E731
    return {
        "factor_vae": factor_vae.factor_vae_score(data_, represent, rng(), **QUICK["factor_vae"])["eval_accuracy"],
        "mig": mig.mig(data_, represent, rng(), **QUICK["mig"])["mig"],
        "dci": dci.dci(data_, represent, rng(), **QUICK["dci"])["disentanglement"],
    }


def test_the_factors_themselves_score_one_noise_and_constants_zero_a_mixture_in_between():
    data_ = grid((4, 5, 6))
    perfect, random, flat, mix = (scores(data_, f) for f in (identity, noise, constant, mixed))
    for name in perfect:
        assert perfect[name] > 0.97, (name, perfect)
        assert flat[name] < 0.03, (name, flat)
        assert 0.1 < mix[name] < 0.9 * perfect[name], (name, mix)
    assert random["mig"] < 0.03 and random["dci"] < 0.1
    assert random["factor_vae"] < 0.55  # chance: a vote names a random dimension (3 factors: about 1/3)


def test_dci_fits_factors_side_by_side_to_the_same_figures():
    """evaluate fits the factors' classifiers on as many threads as it has: the importance matrix
    keeps each factor's column, and the figures do not depend on the thread count."""
    data_ = grid((2, 7, 3))
    x, y = dci.sample_batch(data_, mixed, 600, np.random.RandomState(0))
    one = dci.importance_matrix(x[:400], y[:400], x[400:], y[400:], jobs=1)
    two = dci.importance_matrix(x[:400], y[:400], x[400:], y[400:], jobs=2)
    assert np.array_equal(one[0], two[0]) and one[1:] == two[1:]
    # the third factor, kept alone in the third dimension, is read from it and nothing else
    assert one[0][2, 2] > 0.99 * one[0][:, 2].sum() and one[0][2, :2].sum() < 0.01 * one[0][:2, :2].sum()


def test_sap_known_answers():
    data_ = grid((2, 2, 2))  # binary factors: a single linear threshold can read each (SAP's classifiers)

    def run(represent):
        return sap.sap(data_, represent, np.random.RandomState(0), **QUICK["sap"])["sap"]

    # SAP is an accuracy gap: with binary factors the other dimensions still score chance (0.5),
    # so the factors themselves reach its ceiling, 1 - 0.5
    assert run(identity) > 0.49
    assert run(noise) < 0.05 and run(constant) < 0.01
    assert 0.1 < run(mixed) < 0.25  # the mixed pair reads its two factors equally well: only the third counts


def test_factor_data_finds_each_combination_in_any_order():
    data_ = grid((2, 3, 4))
    wanted = np.array([[1, 2, 3], [0, 0, 0], [1, 0, 2]])
    assert np.array_equal(data_.observations(wanted, None).numpy(), wanted)
    with pytest.raises(ValueError, match="every combination"):
        FactorData(torch.zeros(5, 3), np.zeros((5, 3), np.int64), (2, 3, 4), ("a", "b", "c"))


def write_dsprites_like(path, sizes=(3, 1, 2, 4, 4), metadata=None):
    """A file in the canonical npz layout (imgs, latents_classes, latents_values, metadata)."""
    n = int(np.prod(sizes))
    classes = np.concatenate([np.zeros((n, 1), np.int64),
                              np.stack(np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij"), -1).reshape(-1, 5)], 1)
    imgs = np.zeros((n, 64, 64), np.uint8)
    imgs[np.arange(n), classes[:, 4] * 8, classes[:, 5] * 8] = 1
    np.savez(path, imgs=imgs, latents_classes=classes, latents_values=classes.astype(np.float64),
             metadata=np.array(metadata if metadata is not None else {"latents_sizes": sizes}, dtype=object))
    return n


class Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_a_dsprites_file_is_read_without_unpickling_its_metadata(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "sprites_procedural_64x64.npz"
    n = write_dsprites_like(path, metadata={"evil": Boom()})
    with zipfile.ZipFile(path) as z:  # the metadata entry really is a pickle that would run code
        assert b"PWNED" in z.read("metadata.npy")
    x, labels = data.load("sprites", "train", tmp_path)
    assert x.shape == (n, 1, 64, 64) and labels is None and x.max() == 255
    classes, sizes, names = data.SPRITES.factors("train", tmp_path)
    assert sizes == (3, 1, 2, 4, 4) and names[0] == "shape"
    assert not (tmp_path / "PWNED").exists()


def test_the_canonical_file_is_checked(tmp_path, data_cache):
    write_dsprites_like(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    with pytest.raises(DataError, match="not the canonical dSprites file"):
        data.load("dsprites", "train", tmp_path)


def test_the_stand_in_is_drawn_over_the_grid_it_is_asked_for(tmp_path, data_cache, capsys):
    assert main(["data", "make", "sprites", "--grid", "3,2,3,4,4", "--out", str(tmp_path)]) == 0
    assert "procedural stand-in" in capsys.readouterr().out
    x, _ = data.load("sprites", "train", tmp_path)
    classes, sizes, _ = data.SPRITES.factors("train", tmp_path)
    assert x.shape == (288, 1, 64, 64) and sizes == (3, 2, 3, 4, 4)
    fd = FactorData(x, classes, sizes, ("s", "c", "o", "x", "y"))
    big, small = fd.observations(np.array([[0, 1, 0, 0, 0], [0, 0, 0, 0, 0]]), None)
    assert big.sum() > small.sum()  # scale grows the sprite
    left, right = fd.observations(np.array([[2, 1, 0, 0, 1], [2, 1, 0, 3, 1]]), None)
    cols = torch.arange(64).float()
    assert (left[0].float().sum(0) * cols).sum() < (right[0].float().sum(0) * cols).sum()  # x moves it right
    assert main(["data", "make", "sprites", "--grid", "4,2,3,4,4"]) == 2  # dSprites has 3 shapes


def test_an_unwritable_sprites_folder_fails_before_the_drawing(tmp_path, data_cache, capsys):
    (tmp_path / "a-file").write_text("")
    assert main(["data", "make", "sprites", "--grid", "3,2,3,4,4", "--out", str(tmp_path / "a-file" / "spr")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("infogan: error:") and "a-file" in err and "drawing" not in err


@pytest.fixture
def tiny_sprites(tmp_path, data_cache):
    main(["data", "make", "sprites", "--grid", "3,2,4,4,4", "--out", str(tmp_path / "spr")])
    return tmp_path / "spr"


def test_dsprites_preset_trains_with_the_regulariser_and_reports_the_metrics(tiny_sprites, tmp_path, monkeypatch):
    for name, protocol in QUICK.items():
        for key, value in protocol.items():  # the protocols, shrunk for this run
            monkeypatch.setitem({"factor_vae": factor_vae, "mig": mig, "dci": dci, "sap": sap}[name].PROTOCOL, key, value)
    assert main(["train", "--preset", "dsprites", "--dataset", "sprites", "--data-dir", str(tiny_sprites),
                 "--width", "0.25", "--max-steps", "12", "--cr-start", "0.5", "--log-every", "3", "--outdir",
                 str(tmp_path / "r"), "--no-progress", "--ckpt-every", "6"]) == 0
    run = next((tmp_path / "r").iterdir())
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss_cr" in r] == [9, 12]  # on for the second half only
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("factor_vae", "mig", "dci", "sap"):
        assert key in metrics, key
    assert 0 <= metrics["factor_vae"]["eval_accuracy"] <= 1 and metrics["categorical"] == {}
    # H and its optimiser are in the checkpoints: a resume from before the end is exact
    assert main(["train", "--resume", str(run / "checkpoints" / "checkpoint-000006"), "--outdir", str(tmp_path / "r"),
                 "--no-progress", "--no-eval", "--data-dir", str(tiny_sprites)]) == 0


def test_the_regulariser_trains_g_and_h_and_no_one_else():
    from infogan.config import resolve
    from infogan.step import Stepper

    cfg = resolve("dsprites", {"width": 0.25, "dataset": "sprites", "cr_start": 0.0, "max_steps": 4})
    stepper = Stepper(cfg, torch.zeros(64, 1, 64, 64, dtype=torch.uint8))
    assert stepper.cr_on(0)
    from infogan.cr import cr_loss, sample_pairs

    pair = sample_pairs(stepper.model.spec, 8, torch.Generator().manual_seed(0), "cpu")
    z, a, b, shared = pair
    names = [c.name for c in stepper.model.spec.codes]
    same = torch.stack([a[n] == b[n] for n in names], 1)
    assert same.sum(1).tolist() == [1] * 8 and same.float().argmax(1).tolist() == shared.tolist()
    loss = cr_loss(stepper.model, stepper.H, pair)
    loss.backward()
    assert all(p.grad is not None for p in stepper.model.G.parameters() if p.requires_grad)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in stepper.H.parameters())
    assert all(p.grad is None for p in stepper.model.D.parameters())


class Analytic:
    """A stand-in model whose images hold its codes in three pixels and whose encoder reads them
    back through a mixing matrix: the identity reads each code alone."""

    def __init__(self, mix):
        from infogan import LatentSpec

        self.spec, self.mix = LatentSpec.parse("cat3,cont2"), torch.tensor(mix, dtype=torch.float32)

    def generate(self, n, codes, seed):
        noise = torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) * 0.02  # not noise-free
        values = torch.stack([codes["c1"].float() / 2, (codes["c2"] + 1) / 2, (codes["c3"] + 1) / 2], 1)
        return (values * 0.9 + noise).view(n, 1, 1, 3)

    def infer_codes(self, images):
        reading = images[:, 0, 0, :].float() / 255 @ self.mix
        return {"c1": reading[:, 0], "c2": reading[:, 1], "c3": reading[:, 2]}


def test_model_centrality_picks_the_model_the_others_agree_with():
    from infogan import selection

    rng = np.random.RandomState(0)
    twins = [Analytic(np.eye(3) + rng.normal(0, 0.05, (3, 3))) for _ in range(3)]
    outlier = Analytic([[0.6, 0.6, 0.5], [0.5, -0.6, 0.6], [0.6, 0.5, -0.6]])  # reads every code in every dimension
    picked = selection.model_centrality(twins + [outlier], votes=60, per_vote=40, variance_images=600)
    agreement = np.array(picked["agreement"])
    assert picked["selected"] in (0, 1, 2) and np.allclose(agreement, agreement.T)
    assert picked["centrality"][3] == min(picked["centrality"]) < 0.9 * max(picked["centrality"])


def test_sweep_select_centrality_reports_the_pick(fake_mnist, tmp_path, monkeypatch):
    from infogan import selection

    for name, value in (("VOTES", 20), ("IMAGES_PER_VOTE", 20), ("VARIANCE_IMAGES", 200)):
        monkeypatch.setattr(selection, name, value)  # InfoGAN-CR's protocol, shrunk for a test
    assert main(["sweep", "--preset", "tiny", "--seeds", "0-2", "--max-steps", "3", "--data-dir", str(fake_mnist),
                 "--out", str(tmp_path), "--no-progress", "--select", "centrality"]) == 0
    result = json.loads((tmp_path / "sweep.json").read_text())
    chosen = result["selection"]
    assert chosen["seed"] in (0, 1, 2) and len(chosen["agreement"]) == 3 and "better_than_median" in chosen
    assert "--select centrality" in result["command"] and "ModelCentrality" in (tmp_path / "sweep.md").read_text()


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "0", "--select", "agreement"], "--select agreement picks one of several seeds' models"),
    (["--seeds", "0,1", "--select", "consistency", "--consistency", "0"], "train with --consistency > 0"),
    (["--seeds", "0,1", "--select", "agreement", "--latent", "z8,cont2"], "z8,cont2 has none"),
])
def test_a_selection_that_cannot_be_made_is_refused_before_training(fake_mnist, tmp_path, capsys, flags, message):
    # each used to train every seed first, then fail
    assert main(["sweep", "--preset", "tiny", *flags, "--max-steps", "1", "--data-dir", str(fake_mnist),
                 "--out", str(tmp_path / "s"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "s").exists()


def test_final_consistency_is_the_mean_of_the_last_log_rows_and_selects_the_most_consistent(tmp_path):
    from infogan import selection
    from infogan.errors import InfoGANError
    from infogan.run import Run

    def log(name, values, extra=()):  # a run folder's stats.jsonl, read back as the sweep reads it
        rows = [{"step": 50 * (i + 1), "loss_consistency": v} for i, v in enumerate(values)]
        rows[1:1] = [{"step": 60, "acc/c1": 0.5}, *extra]  # evaluation rows carry no loss_consistency
        run = Run(tmp_path / name)
        run.stats_file.parent.mkdir(parents=True)
        run.stats_file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        assert run.stats() == rows
        return run.stats()

    a = log("a", [0.0] * 4 + [-1.0] * 6)  # the last six rows only
    b = log("b", [-2.3] * 4 + [-1.5, -1.6, -1.7, -1.8, -1.9, -2.0])
    assert selection.final_consistency(a) == pytest.approx(-1.0)
    assert selection.final_consistency(b) == pytest.approx(-1.75)
    picked = selection.most_consistent({"a": a, "b": b})
    assert picked == {"consistency": [-1.0, -1.75], "selected": 1}
    without = [{"step": 50, "loss_D": 1.0}]
    assert selection.final_consistency(without) is None
    assert Run(tmp_path / "never-trained").stats() == []
    with pytest.raises(InfoGANError, match="--consistency > 0"):
        selection.most_consistent({"a": a, "none": without})


def test_sweep_select_consistency_picks_the_run_whose_log_says_so(fake_mnist, tmp_path):
    from infogan import selection
    from infogan.run import Run

    assert main(["sweep", "--preset", "tiny", "--seeds", "0-2", "--max-steps", "4", "--consistency", "1",
                 "--log-every", "2", "--data-dir", str(fake_mnist), "--out", str(tmp_path), "--no-progress",
                 "--select", "consistency"]) == 0
    result = json.loads((tmp_path / "sweep.json").read_text())
    logged = [selection.final_consistency(Run(tmp_path / f"tiny-seed{s}").stats()) for s in range(3)]
    assert result["selection"]["consistency"] == [round(v, 4) for v in logged]
    assert result["selection"]["seed"] == min(range(3), key=logged.__getitem__)
    assert "--select consistency" in result["command"]
    assert "consistency on real images (no labels) selects seed" in (tmp_path / "sweep.md").read_text()


class Classes:
    """A model stand-in whose one categorical code classes image i as classes[i]."""

    def __init__(self, classes):
        self.spec = LatentSpec.parse("cat4")
        self.classes = torch.as_tensor(classes)

    def infer_codes(self, images):
        return {"c1": self.classes[: len(images)]}


def test_partition_agreement_is_one_for_a_relabelling_and_picks_the_majority_s_medoid():
    from infogan import selection

    truth = torch.arange(4).repeat(50)  # 200 images, 4 classes
    relabelled = (truth + 1) % 4  # the same partition under other names
    style_split = truth.clone()
    style_split[::8] = (truth[::8] + 2) % 4  # a quarter of each class filed with another, as a weak seed's 7s
    noise = torch.randint(0, 4, (200,), generator=torch.Generator().manual_seed(0))
    picked = selection.partition_agreement([Classes(c) for c in (style_split, truth, relabelled, noise)],
                                           torch.zeros(200, 1, 2, 2))
    agreement = np.array(picked["agreement"])
    assert agreement[1, 2] == pytest.approx(1.0) and np.allclose(agreement, agreement.T)
    assert agreement[0, 1] < 1 and agreement[3, 1] < 0.1
    assert picked["selected"] in (1, 2) and picked["centrality"][3] == min(picked["centrality"])
    assert picked["centrality"][0] < picked["centrality"][1]


def test_partition_agreement_refuses_one_model_and_models_without_a_category():
    from infogan import selection
    from infogan.errors import InfoGANError

    with pytest.raises(InfoGANError, match="at least two models"):
        selection.partition_agreement([Classes([0, 1])], torch.zeros(2, 1, 2, 2))
    without = Classes([0, 1])
    without.spec = LatentSpec.parse("z2,cont1")
    with pytest.raises(InfoGANError, match="needs a categorical code"):
        selection.partition_agreement([without, without], torch.zeros(2, 1, 2, 2))


def test_sweep_select_agreement_classes_the_run_s_training_images(fake_mnist, tmp_path):
    assert main(["sweep", "--preset", "tiny", "--seeds", "0-2", "--max-steps", "3", "--data-dir", str(fake_mnist),
                 "--out", str(tmp_path), "--no-progress", "--select", "agreement"]) == 0
    result = json.loads((tmp_path / "sweep.json").read_text())
    chosen = result["selection"]
    assert chosen["method"] == "agreement" and len(chosen["agreement"]) == 3
    assert chosen["seed"] == max(range(3), key=chosen["centrality"].__getitem__)
    assert "--select agreement" in result["command"]
    assert "agreement on real training images" in (tmp_path / "sweep.md").read_text()
