"""The package as a user installs it: a built wheel in a fresh venv, run from outside the source tree."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv holding infogan only as the wheel built from this checkout. Its dependencies
    (torch & co.) come from this venv's site-packages through a path file: installing torch
    again would take minutes, and path-file entries do not run this venv's editable hook,
    so the only infogan it can import is the wheel's."""
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(ROOT)], check=True, capture_output=True, text=True)
    # the folders of data files are packages setuptools knows of: it warned, some 90 lines in
    # every install (make run's too), that each "would be ignored"
    assert "would be ignored" not in build.stderr, build.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("infogan-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    work = tmp / "work"  # outside the source tree
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["INFOGAN_DATA"] = str(tmp / "cache")
    return tmp / "venv" / "bin", work, env


def test_the_wheel_holds_the_library_and_the_speed_tooling(installed):
    bin_dir, work, env = installed
    out = subprocess.run([bin_dir / "python", "-c", "import infogan, infogan_benchmarks.bench as b; "
                          "from infogan.metrics import quality as q; print(infogan.__file__); print(b.__file__); "
                          "print(*sorted(q.SHIPPED.glob('*.safetensors'))); "
                          "from infogan.web import app; print(app.STATIC / 'index.html')"],
                         cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    venv = str(bin_dir.parent)
    assert all(path.startswith(venv) for path in out), out  # not the checkout's src/ or benchmarks/
    assert len(out) == 5 and Path(out[-1]).is_file()  # and the two shipped feature classifiers and the explorer's page came along


def test_bench_runs_from_the_wheel(installed):
    bin_dir, work, env = installed
    out = subprocess.run([bin_dir / "infogan", "bench", "--steps", "2", "--repeats", "1", "--scaling", "",
                          "--peak-size", "512", "--json"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["speedup"] > 0 and result["reference_images_per_second"] > 0  # the textbook loop came along


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="needs ../shared/data/mnist (the training data)")
def test_train_runs_from_the_wheel(installed):
    bin_dir, work, env = installed
    out = subprocess.run([bin_dir / "infogan", "train", "--preset", "tiny", "--max-steps", "2", "--no-eval",
                          "--no-progress", "--data-dir", str(SHARED_MNIST)], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    (run,) = (work / "runs").iterdir()
    assert (run / "model" / "model.safetensors").is_file() and (run / "log.txt").is_file()
