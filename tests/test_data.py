import dataclasses
import functools
import gzip
import http.server
import threading
import time

import pytest
import torch

from infogan import data
from infogan.data import idx
from infogan.errors import DataError

from .conftest import SHARED_MNIST, fabricate_mnist_like


def test_loads_fabricated_idx_files(fake_mnist):
    x, y = data.load("mnist", "train", fake_mnist)
    assert x.shape == (320, 1, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (320,) and y.dtype == torch.int64 and int(y.max()) <= 9
    xt, yt = data.load("mnist", "test", fake_mnist)
    assert len(xt) == len(yt) == 80


def test_raw_and_gzip_files_are_the_same_data(tmp_path):
    arr = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8).numpy()
    idx.write(tmp_path / "a.gz", arr, compress=True)
    idx.write(tmp_path / "a", arr, compress=False)
    assert idx.read_bytes(tmp_path / "a.gz") == idx.read_bytes(tmp_path / "a")
    assert torch.equal(idx.parse(idx.read_bytes(tmp_path / "a")), torch.from_numpy(arr))


def test_truncated_file_is_a_clear_error(fake_mnist):
    f = fake_mnist / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-200])
    with pytest.raises(DataError, match="truncated|corrupt"):
        data.load("mnist", "train", fake_mnist, allow_download=False)


def test_truncated_payload_is_a_clear_error():
    header_says_more = b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 100
    with pytest.raises(DataError, match="truncated"):
        idx.parse(header_says_more)
    with pytest.raises(DataError, match="magic"):
        idx.parse(b"\x01\x02\x03\x04rest")


def test_wrong_checksum_is_a_clear_error(fake_mnist):
    other = fake_mnist.parent / "other"
    fabricate_mnist_like(other, seed=99)  # valid IDX, different data
    (fake_mnist / "t10k-labels-idx1-ubyte.gz").write_bytes((other / "t10k-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match="checksum mismatch"):
        data.load("mnist", "test", fake_mnist, allow_download=False)


def test_another_datasets_folder_is_named(fake_mnist, monkeypatch):
    # MNIST and Fashion-MNIST share their file names: a user pointing one at the other's folder
    # was told the file is "corrupt, truncated or not the expected dataset file"
    fashion = fake_mnist.parent / "fake-fashion"
    shas = fabricate_mnist_like(fashion, seed=99)
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", dataclasses.replace(data.DATASETS["fashion-mnist"], files=shas))
    with pytest.raises(DataError, match="is fashion-mnist's train-images-idx3-ubyte, not mnist's train-images-idx3-ubyte: "
                                        "is --data-dir another dataset's folder"):
        data.load("mnist", "test", fashion, allow_download=False)


def test_a_file_given_as_the_data_folder_is_named(fake_mnist):
    # the files were looked for below it, and the cache's copy read without a word
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz is a file: mnist wants the folder that holds"):
        data.load("mnist", "train", fake_mnist / "train-images-idx3-ubyte.gz")


def test_missing_files_without_sources_name_the_fix(data_cache, tmp_path):
    (tmp_path / "empty").mkdir()  # (a --data-dir that does not exist is an error of its own)
    with pytest.raises(DataError, match="could not get .* put the files in"):
        data.load("mnist", "train", tmp_path / "empty")


def _serve(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_download_from_a_mirror_fills_the_cache(fake_mnist, data_cache, monkeypatch, tmp_path):
    server = _serve(fake_mnist)
    try:
        ds = data.DATASETS["mnist"]
        mirrors = ["http://127.0.0.1:1/nothing-listens-here", f"http://127.0.0.1:{server.server_port}"]
        monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(ds, mirrors=mirrors))
        x, _ = data.load("mnist", "train")  # no --data-dir: the cache, then the mirrors
        assert len(x) == 320
        assert sorted(p.name for p in (data_cache / "mnist").iterdir()) == sorted(ds.files)
        # second load comes from the cache: the mirror may go away
    finally:
        server.shutdown()
    x2, _ = data.load("mnist", "train", allow_download=False)
    assert torch.equal(x, x2)


def test_a_bad_download_never_replaces_a_good_cached_file(fake_mnist, data_cache, monkeypatch, tmp_path):
    # cache holds good files
    (data_cache / "mnist").mkdir(parents=True)
    for f in fake_mnist.iterdir():
        (data_cache / "mnist" / f.name.removesuffix(".gz")).write_bytes(idx.read_bytes(f))
    data.load("mnist", "train", allow_download=False)
    good = (data_cache / "mnist" / "train-images-idx3-ubyte").read_bytes()
    # a mirror that serves a truncated file, and one missing cached file to force a download
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    for f in fake_mnist.iterdir():
        blob = f.read_bytes()
        (bad_dir / f.name).write_bytes(blob[: len(blob) // 2])
    (data_cache / "mnist" / "t10k-images-idx3-ubyte").unlink()
    server = _serve(bad_dir)
    try:
        ds = data.DATASETS["mnist"]
        monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(ds, mirrors=[f"http://127.0.0.1:{server.server_port}"]))
        with pytest.raises(DataError):
            data.load("mnist", "test")
    finally:
        server.shutdown()
    assert (data_cache / "mnist" / "train-images-idx3-ubyte").read_bytes() == good
    assert not (data_cache / "mnist" / "t10k-images-idx3-ubyte").exists()
    assert not list((data_cache / "mnist").glob("*.part"))


def test_unreachable_mirrors_fail_fast(data_cache, monkeypatch, tmp_path):
    ds = data.DATASETS["mnist"]
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(ds, mirrors=["http://127.0.0.1:1"]))
    t = time.perf_counter()
    with pytest.raises(DataError):
        data.load("mnist", "train", tmp_path)
    assert time.perf_counter() - t < 10


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="real MNIST files not present")
def test_real_mnist_checksums_match_the_table(data_cache):
    x, y = data.load("mnist", "train", SHARED_MNIST, allow_download=False)
    assert x.shape == (60000, 1, 28, 28) and torch.bincount(y).min() > 5000
    xt, _ = data.load("mnist", "test", SHARED_MNIST, allow_download=False)
    assert len(xt) == 10000


def test_gzip_of_different_level_is_accepted(fake_mnist):
    f = fake_mnist / "train-labels-idx1-ubyte.gz"
    f.write_bytes(gzip.compress(gzip.decompress(f.read_bytes()), compresslevel=1))
    data.load("mnist", "train", fake_mnist, allow_download=False)
