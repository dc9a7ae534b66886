"""The encoder as a product: Q exported (ONNX, TorchScript) and `infogan infer` on image files."""

import csv
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from infogan import InfoGAN, data
from infogan.cli import main
from infogan.errors import DataError
from infogan.export import EncoderExport
from infogan.data import idx
from infogan.infer import read_images

from .conftest import SHARED_MNIST


@pytest.fixture
def test_images(fake_mnist):
    """Real MNIST test images when ../shared has them, else the fabricated ones."""
    if SHARED_MNIST.is_dir():
        return data.MNIST.load("test", SHARED_MNIST)[0][:300]
    return data.load("mnist", "test", fake_mnist)[0]


@pytest.fixture
def run_dir(tmp_path):
    """A run folder: a model and an evaluation that matched c1's classes to digits."""
    torch.manual_seed(0)
    model = InfoGAN("z8,cat10,cont2", width=0.125)
    model.save_pretrained(tmp_path / "run" / "model")
    match = {str(k): (k + 3) % 10 for k in range(10)}
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({
        "dataset": "mnist", "split": "test", "categorical": {"c1": {"accuracy": 0.9, "match": match}}}))
    return tmp_path / "run"


def test_encoder_onnx_matches_pytorch_on_real_test_images(run_dir, test_images, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    assert main(["export", str(run_dir), "--part", "encoder", "--format", "onnx", "--out", str(tmp_path / "q.onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "q.onnx"))
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["c1", "c2", "c3"]
    model = InfoGAN.from_pretrained(run_dir)
    x = test_images[:37].float() / 255  # a batch size other than the one exported with
    got = session.run(None, {"images": x.numpy()})
    ref = model.infer_codes(test_images[:37], probs=True)
    assert got[0].shape == (37, 10) and got[1].shape == (37,)
    np.testing.assert_allclose(got[0], ref["c1"].numpy(), atol=1e-5)
    np.testing.assert_allclose(got[1], ref["c2"].numpy(), atol=1e-5)


def test_encoder_torchscript_matches_pytorch(run_dir, test_images, tmp_path):
    assert main(["export", str(run_dir), "--part", "encoder", "--format", "torchscript",
                 "--out", str(tmp_path / "q.pt")]) == 0
    model = InfoGAN.from_pretrained(run_dir)
    x = test_images[:9].float() / 255
    for a, b in zip(torch.jit.load(str(tmp_path / "q.pt"))(x), EncoderExport(model).eval()(x)):
        torch.testing.assert_close(a, b)


def write_pngs(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img[0].numpy()).save(folder / f"img{i:03d}.png")


def test_infer_on_a_folder_and_a_zip(run_dir, test_images, tmp_path, capsys):
    write_pngs(tmp_path / "pngs" / "sub", test_images[:12])
    with zipfile.ZipFile(tmp_path / "pngs.zip", "w") as z:
        for f in sorted((tmp_path / "pngs" / "sub").iterdir()):
            z.write(f, f"digits/{f.name}")
    assert main(["infer", str(run_dir), str(tmp_path / "pngs"), "--out", str(tmp_path / "codes.csv")]) == 0
    out = capsys.readouterr().out
    assert "c1: classes named by the run's evaluation" in out and "12 images' codes written" in out
    rows = list(csv.DictReader(open(tmp_path / "codes.csv")))
    model = InfoGAN.from_pretrained(run_dir)
    expect = model.infer_codes(test_images[:12])
    assert [int(r["c1"]) for r in rows] == expect["c1"].tolist()  # PNG round trip: the same pixels
    assert all(r["c1_label"] == f"digit {(int(r['c1']) + 3) % 10}" for r in rows)
    assert main(["infer", str(run_dir), str(tmp_path / "pngs.zip"), "--out", str(tmp_path / "new" / "codes.json")]) == 0
    result = json.loads((tmp_path / "new" / "codes.json").read_text())  # its folder made, as sample's is
    assert [r["c1"] for r in result["rows"]] == [int(r["c1"]) for r in rows]
    assert result["rows"][0]["image"].endswith("pngs.zip:digits/img000.png")
    capsys.readouterr()
    assert main(["infer", str(run_dir), str(tmp_path / "pngs" / "sub" / "img003.png")]) == 0  # one file: a table
    assert "img003.png" in capsys.readouterr().out


def test_infer_without_an_evaluation_says_so(run_dir, test_images, tmp_path, capsys):
    write_pngs(tmp_path / "p", test_images[:2])
    InfoGAN.from_pretrained(run_dir).save_pretrained(tmp_path / "standalone")  # a model folder outside any run
    assert main(["infer", str(tmp_path / "standalone"), str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "no evaluation found" in out and "c1_label" not in out


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "broken.png").write_bytes(b"\x89PNG not really"), "cannot read image"),
    (lambda d: (d / "notes.txt").write_text("hi"), "not an image file"),
    (lambda d: None, "does not exist"),
    (lambda d: idx.write(d / "labels-idx1-ubyte.gz", np.arange(10, dtype=np.uint8)), "not of images"),
])
def test_infer_unreadable_input_is_one_line(run_dir, tmp_path, capsys, make, message):
    make(tmp_path)
    target = {"cannot read image": "broken.png", "not an image file": "notes.txt",
              "not of images": "labels-idx1-ubyte.gz"}.get(message, "missing.png")
    assert main(["infer", str(run_dir), str(tmp_path / target)]) == 2
    err = capsys.readouterr().err
    assert message in err and target in err and err.count("\n") == 1
    assert "BytesIO" not in err  # PIL's own message names its in-memory buffer, not the user's file


@pytest.mark.parametrize("compress", [True, False])
def test_infer_reads_an_idx_file_as_the_training_data_does(run_dir, test_images, tmp_path, capsys, compress):
    """MNIST's own format: each image named file[i], read to the same pixels as the dataset
    loader's, so Q's codes are those of the tensors it trains and is evaluated on."""
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if compress else ""))
    idx.write(path, test_images[:25, 0].numpy(), compress=compress)
    names, images = read_images([path], 28, 1)
    assert names[:2] == [f"{path}[0]", f"{path}[1]"] and torch.equal(images, test_images[:25])
    out = tmp_path / "codes.json"
    assert main(["infer", str(run_dir), str(path), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["c1"] for r in rows] == InfoGAN.from_pretrained(run_dir).infer_codes(test_images[:25])["c1"].tolist()
    assert read_images([path], 32, 3)[1].shape == (25, 3, 32, 32)  # another model's size and channels
    # a folder of IDX files (MNIST's own) is no folder of images: the error names a file to give instead
    folder = tmp_path / "idx-only"
    folder.mkdir()
    idx.write(folder / path.name, test_images[:2, 0].numpy(), compress=compress)
    assert main(["infer", str(run_dir), str(folder)]) == 2
    assert (f"no images found in {folder} (it holds IDX files, which are read when named: {folder / path.name})\n"
            in capsys.readouterr().err)


def test_infer_can_leave_unreadable_images_out(run_dir, test_images, tmp_path, capsys):
    write_pngs(tmp_path / "p", test_images[:3])
    (tmp_path / "p" / "img001b.png").write_bytes(b"\x89PNG cut short")
    assert main(["infer", str(run_dir), str(tmp_path / "p")]) == 2  # the default: one line, nothing written
    err = capsys.readouterr().err
    assert "img001b.png" in err and "--bad-images skip" in err and err.count("\n") == 1
    out = tmp_path / "codes.json"
    assert main(["infer", str(run_dir), str(tmp_path / "p"), "--bad-images", "skip", "--out", str(out)]) == 0
    assert "1 of 4 images skipped as unreadable" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert [r["image"].rsplit("/", 1)[1] for r in result["rows"]] == ["img000.png", "img001.png", "img002.png"]
    assert result["skipped"] == [f"{tmp_path / 'p'}/img001b.png"]
    expect = InfoGAN.from_pretrained(run_dir).infer_codes(test_images[:3])
    assert [r["c1"] for r in result["rows"]] == expect["c1"].tolist()  # the rows are the readable images'
    for f in ("img000.png", "img001.png", "img002.png"):
        (tmp_path / "p" / f).unlink()
    assert main(["infer", str(run_dir), str(tmp_path / "p"), "--bad-images", "skip"]) == 2
    assert "none of the 1 images" in capsys.readouterr().err
    with pytest.raises(DataError, match="none of the 1 images"):  # without a list to hear of them too
        read_images([tmp_path / "p"], 28, 1, bad_images="skip")
