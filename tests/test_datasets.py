"""Every preset's data format, written small in its real on-disk form, trained a few steps."""

import json
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from infogan import InfoGAN, data
from infogan.cli import main
from infogan.data.cifar10 import read_cifar_batch
from infogan.errors import DataError

FAST = ["--width", "0.125", "--batch-size", "8", "--max-steps", "3", "--no-progress", "--log-every", "1"]


def write_svhn(d, n_train=48, n_test=24):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)  # SVHN: digit 0 is stored as 10
        savemat(d / f"{split}_32x32.mat", {"X": x, "y": y})


def write_cifar(d, n=16):
    folder = d / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, n).tolist(),
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def write_images(folder, sizes, mode="RGB", fmt="JPEG", suffix=".jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    for i, (w, h) in enumerate(sizes):
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(arr).convert(mode).save(folder / f"img{i:03d}{suffix}", fmt)


def test_svhn_mat_loads_with_digit_zero_fixed(tmp_path, data_cache):
    write_svhn(tmp_path)
    x, y = data.load("svhn", "train", tmp_path)
    assert x.shape == (48, 3, 32, 32) and x.dtype == torch.uint8
    assert int(y.min()) >= 0 and int(y.max()) <= 9


def test_svhn_trains_and_evaluates_every_categorical_code(tmp_path, data_cache):
    write_svhn(tmp_path)
    assert main(["train", "--preset", "svhn", "--data-dir", str(tmp_path), "--outdir", str(tmp_path / "runs"), *FAST]) == 0
    run = tmp_path / "runs" / "00000-svhn"
    metrics = json.loads((run / "metrics.json").read_text())
    assert sorted(metrics["categorical"]) == ["c1", "c2", "c3", "c4"]
    assert Image.open(run / "samples.png").mode == "RGB"
    model = InfoGAN.from_pretrained(run)
    assert model.generate(2).shape == (2, 3, 32, 32)


def test_cifar_batches_load_without_unpickling_code(tmp_path, data_cache):
    write_cifar(tmp_path)
    x, y = data.load("cifar10", "train", tmp_path)
    assert x.shape == (80, 3, 32, 32) and len(y) == 80
    xt, _ = data.load("cifar10", "test", tmp_path)
    assert len(xt) == 16

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(DataError, match="refusing to load builtins.print"):
        read_cifar_batch(pickle.dumps({b"data": Evil(), b"labels": []}), "evil_batch")


def test_a_cifar_archive_cut_short_or_of_another_kind_is_named(tmp_path, data_cache, capsys):
    write_cifar(tmp_path / "batches")
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        tar.add(tmp_path / "batches" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    for name, blob in [("cut", good.read_bytes()[: good.stat().st_size // 2]), ("other", b"not an archive")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "cifar-10-python.tar.gz").write_bytes(blob)
        assert main(["data", "fetch", "cifar10", "--data-dir", str(tmp_path / name)]) == 2  # was a traceback
        err = capsys.readouterr().err
        assert "cifar-10-python.tar.gz: not a readable CIFAR-10 archive (" in err and err.count("\n") == 1


def test_cifar_trains(tmp_path, data_cache):
    write_cifar(tmp_path)
    assert main(["train", "--preset", "cifar10", "--data-dir", str(tmp_path), "--outdir", str(tmp_path / "r"),
                 *FAST, "--no-eval"]) == 0


def test_celeba_folder_and_zip_are_cropped_and_resized(tmp_path, data_cache):
    write_images(tmp_path / "img_align_celeba", [(178, 218)] * 12)
    x, labels = data.load("celeba", "train", tmp_path, image_size=32)
    assert x.shape == (12, 3, 32, 32) and labels is None
    with zipfile.ZipFile(tmp_path / "zipped" / "img_align_celeba.zip", "w") if (tmp_path / "zipped").mkdir() is None else None as z:
        for f in sorted((tmp_path / "img_align_celeba").iterdir()):
            z.write(f, f"img_align_celeba/{f.name}")
    xz, _ = data.load("celeba", "train", tmp_path / "zipped", image_size=32)
    assert torch.equal(x, xz)


def test_celeba_missing_explains_the_manual_download(tmp_path, data_cache, capsys):
    assert main(["train", "--preset", "celeba", "--data-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "img_align_celeba" in err and "Download" in err and err.count("\n") == 1


def test_celeba_trains(tmp_path, data_cache):
    write_images(tmp_path / "img_align_celeba", [(178, 218)] * 16)
    assert main(["train", "--preset", "celeba", "--data-dir", str(tmp_path), "--outdir", str(tmp_path / "r"), *FAST]) == 0
    metrics = json.loads((tmp_path / "r" / "00000-celeba" / "metrics.json").read_text())
    assert metrics["categorical"] == {} and len(metrics["information"]) == 10  # no labels: MI only


def test_folder_with_mixed_sizes_and_a_corrupt_image(tmp_path, data_cache, capsys):
    imgs = tmp_path / "mine"
    write_images(imgs, [(40, 30), (64, 64), (100, 80), (33, 90)], mode="RGB", fmt="PNG", suffix=".png")
    write_images(imgs / "sub", [(50, 50)] * 4, mode="L")
    (imgs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    x, _ = data.load("folder", "train", imgs, image_size=32, channels=1)
    assert x.shape == (8, 1, 32, 32)
    out, err = capsys.readouterr()
    assert "broken.jpg" in out  # named, and skipped
    assert "decoding" not in err  # no progress bar in a log file (stderr is not a terminal here)
    with pytest.raises(DataError, match="cannot read image broken.jpg"):
        data.load("folder", "train", imgs, image_size=32, channels=3, bad_images="error")
    # the decoded tensor is cached: a second load reads it back identical, and names the skipped image again
    capsys.readouterr()
    again, _ = data.load("folder", "train", imgs, image_size=32, channels=1)
    assert torch.equal(x, again) and list((data_cache / "decoded").glob("folder-32px-1ch-*.npy"))
    out = capsys.readouterr().out
    assert "skipping unreadable image broken.jpg" in out and "1 of 9 images skipped as unreadable" in out


@pytest.mark.parametrize("preset, extra", [("folder", ["--image-size", "32"]), ("chairs", []), ("faces", [])])
def test_folder_presets_train(tmp_path, data_cache, preset, extra):
    write_images(tmp_path / "imgs", [(70, 70)] * 16)
    assert main(["train", "--preset", preset, "--data-dir", str(tmp_path / "imgs"), "--outdir", str(tmp_path / "r"),
                 *FAST, *extra]) == 0


def test_folder_refuses_corrupt_images_when_asked(tmp_path, data_cache, capsys):
    write_images(tmp_path / "imgs", [(40, 40)] * 4)
    (tmp_path / "imgs" / "bad.png").write_bytes(b"nope")
    assert main(["train", "--preset", "folder", "--image-size", "32", "--bad-images", "error",
                 "--data-dir", str(tmp_path / "imgs"), "--no-progress"]) == 2
    assert "cannot read image bad.png" in capsys.readouterr().err


def test_presets_list_every_dataset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ["mnist", "fashion-mnist", "svhn", "celeba", "celeba-64", "cifar10", "folder", "chairs", "faces"]:
        assert f"\n{name} " in out
    assert "z124,cat10,cat10,cat10,cat10,cont4" in out


def test_dcgan_shapes_at_every_size():
    for size in (32, 64, 128):
        m = InfoGAN("z16,cat10,cont2", arch="dcgan", channels=3, image_size=size, width=0.125)
        x = m.generate(2)
        assert x.shape == (2, 3, size, size)
        logit, q = m.D(x * 2 - 1)
        assert logit.shape == (2,) and q.shape == (2, m.spec.q_dim)


def test_celeba_64_trains(tmp_path, data_cache):
    write_images(tmp_path / "img_align_celeba", [(178, 218)] * 16)
    assert main(["train", "--preset", "celeba-64", "--data-dir", str(tmp_path), "--outdir", str(tmp_path / "r"),
                 *FAST, "--no-eval"]) == 0
    assert InfoGAN.from_pretrained(tmp_path / "r" / "00000-celeba-64").generate(1).shape == (1, 3, 64, 64)


def test_fashion_mnist_preset_trains(tmp_path, data_cache, monkeypatch):
    import dataclasses

    from .conftest import fabricate_mnist_like

    shas = fabricate_mnist_like(tmp_path / "fm")
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", dataclasses.replace(data.DATASETS["fashion-mnist"], files=shas))
    assert main(["train", "--preset", "fashion-mnist", "--data-dir", str(tmp_path / "fm"), "--outdir",
                 str(tmp_path / "r"), *FAST]) == 0
    metrics = json.loads((tmp_path / "r" / "00000-fashion-mnist" / "metrics.json").read_text())
    assert metrics["dataset"] == "fashion-mnist" and "c1" in metrics["categorical"]


def test_colour_models_in_the_explorer_api():
    from fastapi.testclient import TestClient

    from infogan.web import create_app

    model = InfoGAN("z16,cat10,cont2", arch="dcgan", channels=3, image_size=32, width=0.125)
    r = TestClient(create_app(model)).post("/api/generate", json={"codes": {"c1": 3}})
    img = Image.open(__import__("io").BytesIO(r.content))
    assert r.status_code == 200 and img.mode == "RGB" and img.size == (32, 32)


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_a_16_bit_grey_image_reads_as_its_8_bit_twin(tmp_path, mode):
    from infogan.data.images import decode_image

    grey = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    wide = (grey.astype(np.uint16) * 257).astype(">u2" if mode.endswith("B") else "<u2")
    for fmt, name in (("PNG", "wide.png"), ("TIFF", "wide.tif")):
        Image.frombuffer(mode, (28, 28), wide.tobytes(), "raw", mode, 0, 1).save(tmp_path / name, fmt)
        blob = (tmp_path / name).read_bytes()
        assert Image.open(tmp_path / name).mode.startswith("I;16")
        for channels in (1, 3):  # PIL's own convert clips 16-bit grey at 255: every pixel above 0 would read white
            got = decode_image(blob, 28, channels)
            assert got.shape == (channels, 28, 28) and (got == grey).all(), (name, channels)


def test_a_new_decoder_does_not_reuse_the_old_decoders_cache(tmp_path, data_cache, monkeypatch):
    from infogan.data import images

    write_images(tmp_path / "imgs", [(30, 30)] * 3, mode="L", fmt="PNG", suffix=".png")
    data.load("folder", "train", tmp_path / "imgs", image_size=32, channels=1)
    data.load("folder", "train", tmp_path / "imgs", image_size=32, channels=1)
    assert len(list((data_cache / "decoded").glob("folder-32px-1ch-*.npy"))) == 1  # reused
    monkeypatch.setattr(images, "DECODER", images.DECODER + 1)
    data.load("folder", "train", tmp_path / "imgs", image_size=32, channels=1)
    assert len(list((data_cache / "decoded").glob("folder-32px-1ch-*.npy"))) == 2  # decoded again
