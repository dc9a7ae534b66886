import json
import os
import re
import shutil

import pytest
import torch

from infogan import InfoGAN
from infogan.errors import CheckpointError, SpecError


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return InfoGAN("z8,cat10,cont2", width=0.125)


def test_save_and_load_round_trip(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["format"] == "infogan-model" and cfg["latent"] == str(tiny.spec)
    loaded = InfoGAN.from_pretrained(tmp_path / "m")
    a = tiny.generate(6, codes={"c1": 3}, seed=5)
    b = loaded.generate(6, codes={"c1": 3}, seed=5)
    assert torch.equal(a, b)


def test_generate_fixes_given_codes_and_is_seeded(tiny):
    x = tiny.generate(10, codes={"c1": torch.arange(10), "c2": 0.5}, seed=1)
    assert x.shape == (10, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, tiny.generate(10, codes={"c1": torch.arange(10), "c2": 0.5}, seed=1))
    assert not torch.equal(x, tiny.generate(10, codes={"c1": torch.arange(10), "c2": 0.5}, seed=2))


def test_generate_rejects_bad_codes(tiny):
    with pytest.raises(SpecError):
        tiny.generate(2, codes={"nope": 1})
    with pytest.raises(SpecError):
        tiny.generate(2, codes={"c1": 12})


def test_infer_codes_accepts_uint8_and_float(tiny):
    imgs = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    a = tiny.infer_codes(imgs)
    b = tiny.infer_codes(imgs.float() / 255)
    assert a["c1"].shape == (5,) and a["c1"].dtype == torch.long
    assert torch.equal(a["c1"], b["c1"])
    p = tiny.infer_codes(imgs, probs=True)["c1"]
    assert p.shape == (5, 10) and torch.allclose(p.sum(1), torch.ones(5))
    with pytest.raises(SpecError):
        tiny.infer_codes(torch.zeros(2, 3, 28, 28))
    with pytest.raises(SpecError, match=r"float images must be in \[0, 1\]"):
        tiny.infer_codes(imgs.float())  # 0..255 floats: Q would read a white blur
    with pytest.raises(SpecError, match="n must be a whole number >= 0"):
        tiny.generate(-1)
    with pytest.raises(SpecError, match="n must be a whole number >= 0, got 2.5"):
        tiny.generate(2.5)  # torch's TypeError
    with pytest.raises(SpecError, match="width must be > 0"):
        InfoGAN("z8,cat10", width=0)  # built empty layers
    # each was torch's own error (a RuntimeError from torch.cat, a TypeError) or an AttributeError
    with pytest.raises(SpecError, match="code 'c1' has 3 values for 2 images: give one value, or 2"):
        tiny.generate(2, codes={"c1": [1, 2, 3]})
    with pytest.raises(SpecError, match=r"code 'c2' has values of shape \(1, 2\)"):
        tiny.generate(2, codes={"c2": [[0.1, 0.2]]})
    with pytest.raises(SpecError, match="code 'c2': 'a' is not a number"):
        tiny.generate(2, codes={"c2": "a"})
    with pytest.raises(SpecError, match=r"z must have shape \(2, 8\)"):
        tiny.generate(2, z=torch.zeros(3, 8))
    assert torch.equal(tiny.infer_codes(imgs.numpy())["c1"], tiny.infer_codes(imgs)["c1"])  # numpy images too
    assert torch.equal(tiny.infer_codes(imgs[:, 0])["c1"], tiny.infer_codes(imgs)["c1"])  # (N, H, W): one channel
    with pytest.raises(SpecError, match=r"\(N, 1, 28, 28\) or \(N, 28, 28\), got \(28, 28, 1\)"):
        tiny.infer_codes(imgs[0].permute(1, 2, 0))  # one image as H, W, C: the message said "got (28, 1, 28, 1)"


def test_infer_codes_reads_pil_images_as_infer_reads_their_files(tiny, tmp_path):
    from PIL import Image

    from infogan.infer import read_images

    pixels = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    same_size = [Image.fromarray(p[0].numpy()) for p in pixels]
    assert torch.equal(tiny.infer_codes(same_size, probs=True)["c1"], tiny.infer_codes(pixels, probs=True)["c1"])
    big = Image.fromarray(torch.randint(0, 256, (50, 70, 3), dtype=torch.uint8).numpy())  # RGB, not square
    big.save(tmp_path / "big.png")
    _, from_file = read_images([tmp_path / "big.png"], 28, 1)  # what `infogan infer big.png` reads
    one = tiny.infer_codes(big, probs=True)
    assert one["c1"].shape == (1, 10) and torch.equal(one["c1"], tiny.infer_codes(from_file, probs=True)["c1"])
    # was torch's "Could not infer dtype of JpegImageFile" and "new(): invalid data type 'str'"
    with pytest.raises(SpecError, match="not a path"):
        tiny.infer_codes(str(tmp_path / "big.png"))
    with pytest.raises(SpecError, match="images must be a tensor or array .*, not dict"):
        tiny.infer_codes({"a": 1})


def test_a_folder_of_runs_names_its_runs(tiny, tmp_path):
    # --outdir (or a sweep's --out) given where one run is meant: was "not a model folder (no config.json ...)"
    for i, name in enumerate(["00000-a", "00001-b"]):
        tiny.save_pretrained(tmp_path / "runs" / name / "model")
        os.utime(tmp_path / "runs" / name / "model" / "config.json", (1e9 + i, 1e9 + i))
    with pytest.raises(CheckpointError, match=f"holds 2 runs, not a model; name one, e.g. the newest: "
                                              f"{re.escape(str(tmp_path / 'runs' / '00001-b'))}$"):
        InfoGAN.from_pretrained(tmp_path / "runs")
    # a file of the model folder (model.safetensors, config.json) reads as the folder
    model = tmp_path / "runs" / "00001-b" / "model"
    for name in ("model.safetensors", "config.json"):
        assert InfoGAN.from_pretrained(model / name).config == tiny.config
    shutil.rmtree(tmp_path / "runs" / "00001-b")
    with pytest.raises(CheckpointError, match="holds 1 run, not a model; name it: "):
        InfoGAN.from_pretrained(tmp_path / "runs")


def test_loading_bad_folders_is_a_clear_error(tiny, tmp_path):
    with pytest.raises(CheckpointError, match="not a model folder"):
        InfoGAN.from_pretrained(tmp_path)
    tiny.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read"):
        InfoGAN.from_pretrained(tmp_path / "m")
    # weights of another spec: shapes disagree
    InfoGAN("z8,cat5", width=0.125).save_pretrained(tmp_path / "other")
    cfg = json.loads((tmp_path / "other" / "config.json").read_text())
    cfg["latent"] = "z8,cat10,cont2"
    (tmp_path / "other" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not match"):
        InfoGAN.from_pretrained(tmp_path / "other")


def test_model_files_hold_no_pickle(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "m")
    blob = (tmp_path / "m" / "model.safetensors").read_bytes()
    assert b"\x80\x02" not in blob[:16] and blob[8:9] == b"{"  # safetensors: u64 header size, then JSON
