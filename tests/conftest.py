"""Shared fixtures: fabricated datasets in the real IDX format, an isolated data cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from infogan import data
from infogan.data import idx

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def fabricate_mnist_like(directory: Path, n_train: int = 320, n_test: int = 80, seed: int = 0) -> dict[str, str]:
    """Write gzipped IDX files of 10 easy classes (a bright bar whose position is the class).

    Returns the SHA-256 table (of the uncompressed bytes) for the four files.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    shas = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        for i, y in enumerate(labels):
            images[i, 2 + 2 * y : 4 + 2 * y, 4:24] = 255
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{split}-{kind}-ubyte"
            idx.write(directory / (name + ".gz"), arr)
            shas[name] = idx.sha256(idx.read_bytes(directory / (name + ".gz")))
    return shas


@pytest.fixture
def data_cache(tmp_path, monkeypatch):
    """An empty, private INFOGAN_DATA cache; no mirrors or registries are contacted."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("INFOGAN_DATA", str(cache))
    for name, ds in list(data.DATASETS.items()):
        if isinstance(ds, data.IdxDataset):  # the image datasets download only when a file is missing
            monkeypatch.setitem(data.DATASETS, name, dataclasses.replace(ds, mirrors=[], registry_sources=[]))
    return cache


@pytest.fixture
def fake_mnist(tmp_path, data_cache, monkeypatch):
    """A data dir with fabricated MNIST-format files, registered as the 'mnist' dataset."""
    d = tmp_path / "fake-mnist"
    shas = fabricate_mnist_like(d)
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(data.DATASETS["mnist"], files=shas))
    return d


@pytest.fixture
def cli_process(tmp_path, fake_mnist):
    """The `infogan` command as a separate process that sees the fabricated MNIST (its
    checksums) and no mirrors: a list to put before the command's arguments."""
    import json
    import sys

    worker = tmp_path / "infogan_worker.py"
    worker.write_text(
        "import dataclasses, json, sys\n"
        "from infogan import data\n"
        "from infogan.cli import main\n"
        f"shas = json.loads({json.dumps(json.dumps(data.DATASETS['mnist'].files))})\n"
        "data.DATASETS['mnist'] = dataclasses.replace(data.DATASETS['mnist'], files=shas, mirrors=[],"
        " registry_sources=[])\n"
        "sys.exit(main(sys.argv[1:]))\n")
    return [sys.executable, str(worker)]


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """A benchmark's main() sets torch's thread count for the whole process; each test gets the
    count it started with back, so a later test's numerics do not depend on the order."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
