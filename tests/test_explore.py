"""sample / traverse / interpolate / export on a small saved model."""

import numpy as np
import pytest
import torch
from PIL import Image

from infogan import InfoGAN
from infogan.cli import main
from infogan.export import GeneratorExport, example_inputs


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    return InfoGAN("z8,cat10,cont2", width=0.125).save_pretrained(tmp_path / "model")


def test_sample_grid_with_fixed_codes(model_dir, tmp_path):
    out = tmp_path / "s.png"
    assert main(["sample", str(model_dir), "--n", "16", "--code", "c1=3", "--code", "c2=0.5", "--out", str(out)]) == 0
    img = Image.open(out)
    assert img.size == (2 * (4 * 30 + 2), 2 * (4 * 30 + 2))  # 4x4 grid of 28px + 2px padding, scaled 2x
    # --fix, as traverse and interpolate name it, is the same flag
    assert main(["sample", str(model_dir), "--n", "16", "--fix", "c1=3", "--code", "c2=0.5",
                 "--out", str(out.with_name("f.png"))]) == 0
    assert out.read_bytes() == out.with_name("f.png").read_bytes()


def test_traverse_writes_paper_style_grids_and_gifs(model_dir, tmp_path):
    out = tmp_path / "t"
    assert main(["traverse", str(model_dir), "--seeds", "0-4", "--range=-2:2:7", "--out", str(out), "--gif"]) == 0
    assert Image.open(out / "traverse-c1.png").size == (2 * (5 * 30 + 2), 2 * (10 * 30 + 2))  # 5 seeds x 10 classes
    assert Image.open(out / "traverse-c2.png").size == (2 * (7 * 30 + 2), 2 * (5 * 30 + 2))  # 7 values x 5 seeds
    gif = Image.open(out / "traverse-c2.gif")
    assert gif.n_frames >= 7
    # one code varies across a row, the noise is fixed: columns of a continuous traversal differ
    arr = np.asarray(Image.open(out / "traverse-c2.png"), dtype=np.float32)
    assert np.abs(arr[:60, :60] - arr[:60, -62:-2]).mean() > 0


def test_traverse_of_one_code_writes_the_picture_named_by_out(model_dir, tmp_path):
    # `--code c2 --out c2.png` had made a folder called c2.png
    assert main(["traverse", str(model_dir), "--code", "c2", "--seeds", "0-4", "--range=-2:2:7",
                 "--out", str(tmp_path / "c2.png"), "--gif"]) == 0
    assert (tmp_path / "c2.png").is_file() and (tmp_path / "c2.gif").is_file()
    assert main(["traverse", str(model_dir), "--seeds", "0-4", "--range=-2:2:7", "--out", str(tmp_path / "all")]) == 0
    assert (tmp_path / "c2.png").read_bytes() == (tmp_path / "all" / "traverse-c2.png").read_bytes()
    # a folder whose name has a dot stays a folder
    assert main(["traverse", str(model_dir), "--code", "c1", "--out", str(tmp_path / "run.v2")]) == 0
    assert (tmp_path / "run.v2" / "traverse-c1.png").is_file()


def test_interpolate(model_dir, tmp_path):
    assert main(["interpolate", str(model_dir), "--seeds", "3,4", "--steps", "6", "--out", str(tmp_path / "i.png")]) == 0
    assert Image.open(tmp_path / "i.png").size[0] == 2 * (6 * 30 + 2)


@pytest.mark.parametrize("argv, message", [
    (["sample", "MODEL", "--code", "c9=1"], "unknown code 'c9'"),
    (["sample", "MODEL", "--code", "c1=10"], "takes class indices 0..9, got 10"),
    (["sample", "MODEL", "--code", "c1=1", "--code", "c1=2", "--out", "TMP/s.png"], "c1 is already fixed to 1; give each code once"),  # the last won
    (["sample", "MODEL", "--code", "c2=1e9"], "takes values in [-10, 10], got 1e+09"),
    (["traverse", "MODEL", "--code", "c2", "--fix", "c3=abc"], "--fix 'c3=abc': c3 takes a number"),  # named --code, sample's flag
    (["interpolate", "MODEL", "--fix", "c1"], "--fix 'c1': expected NAME=VALUE"),
    (["sample", "MODEL", "--fix", "c1=x"], "--code 'c1=x': c1 takes a class index"),  # (sample's --fix is its --code)
    (["traverse", "MODEL", "--range=-100:100:5", "--out", "TMP"], "START and STOP must lie in [-10, 10]"),  # after c1's picture
    (["sample", "MODEL", "--n", "0"], "--n must be"),
    (["sample", "MODEL", "--seed", "99999999999999999999"], "--seed must be in 0..2147483647"),  # was a traceback
    (["traverse", "MODEL", "--seeds", "99999999999999999999"], "seeds must be in 0..2147483647"),
    (["traverse", "MODEL", "--range", "2:1"], "bad range"),
    (["traverse", "MODEL", "--seeds", "a-b"], "bad seed list"),
    (["sample", "MODEL", "--nrow", "-3"], "--nrow must be >= 1"),  # was a negative-size tensor's traceback
    (["sample", "MODEL", "--out", "TMP"], "expected an image file name"),  # a folder: was PIL's ValueError
    (["sample", "MODEL", "--out", "grid.txt"], "expected an image file name"),
    (["interpolate", "MODEL", "--out", "walk"], "expected an image file name"),
    (["traverse", "MODEL", "--code", "c1", "--fix", "c1=3"], "varies the code that --fix holds"),
    (["traverse", "MODEL", "--code", "c1", "--range=-1:1:5", "--out", "TMP"], "c1 is categorical"),  # was silently ignored
    (["traverse", "MODEL", "--out", "TMP/t.png"], "names one picture, and traverse draws one per code (c1, c2, c3)"),
    (["traverse", "MODEL", "--code", "c2", "--gif", "--out", "TMP/t.gif"], "would both write"),
    (["export", "MODEL", "--out", "TMP"], "is a folder; name the file to write"),
    (["export", "MODEL", "--out", "TMP/new/"], "is a folder; name the file to write"),  # it wrote a file named new
    (["export", "MODEL", "--out", "TMP/g.onnx", "--format", "torchscript"], ".onnx is a suffix of onnx files, not torchscript; name it g.pt"),
    (["export", "MODEL", "--out", "TMP/g.pt", "--format", "onnx"], ".pt is a suffix of torchscript files"),  # wrote ONNX into g.pt
    (["export", "MODEL", "--out", "x", "--format", "torchscript"], None),
])
def test_bad_arguments(model_dir, tmp_path, capsys, argv, message):
    argv = [str(model_dir) if a == "MODEL" else a.replace("TMP", str(tmp_path), 1) if a.startswith("TMP") else a
            for a in argv]
    if message is None:  # a valid call, for contrast
        argv[argv.index("x")] = str(tmp_path / "g.pt")
        assert main(argv) == 0
        return
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_onnx_export_matches_pytorch(model_dir, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "export" / "g.onnx"
    assert main(["export", str(model_dir), "--format", "onnx", "--out", str(out)]) == 0
    assert [p.name for p in out.parent.iterdir()] == ["g.onnx"]  # one file: no g.onnx.data beside it
    moved = out.rename(tmp_path / "g.onnx")  # and it works wherever it is copied to
    session = ort.InferenceSession(str(moved))
    assert [i.name for i in session.get_inputs()] == ["z", "c1", "c2", "c3"]
    model = InfoGAN.from_pretrained(model_dir)
    inputs = example_inputs(model, n=7)  # a batch size other than the one traced
    ref = GeneratorExport(model).eval()(*inputs).detach().numpy()
    got = session.run(["images"], {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)})[0]
    assert got.shape == (7, 1, 28, 28)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_torchscript_export_matches_pytorch(model_dir, tmp_path):
    out = tmp_path / "g.pt"
    assert main(["export", str(model_dir), "--out", str(out)]) == 0  # the suffix says torchscript
    loaded = torch.jit.load(str(out))
    model = InfoGAN.from_pretrained(model_dir)
    inputs = example_inputs(model, n=3)
    torch.testing.assert_close(loaded(*inputs), GeneratorExport(model).eval()(*inputs))
