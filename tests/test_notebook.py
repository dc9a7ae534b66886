"""examples/quickstart.ipynb runs top to bottom (executed, not just parsed)."""

from pathlib import Path

import pytest

from .conftest import SHARED_MNIST

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="needs ../shared/data/mnist (MNIST without a download)")
def test_the_quickstart_notebook_runs(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("INFOGAN_MNIST_DIR", str(SHARED_MNIST))
    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path / "cache"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "c1 test accuracy" in text and "true 7: c1 = class" in text  # (the first test digit is a 7)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5  # grid, traversal, confusion, digits, samples
    assert (tmp_path / "runs-notebook").is_dir()  # it wrote where it ran, not into the checkout
