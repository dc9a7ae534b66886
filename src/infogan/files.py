"""Writing files so that a crash never leaves a half-written one where a finished one was.

A file is written beside its destination, flushed and fsynced, then renamed over it, and
the folder is fsynced so the rename itself survives a power cut: after a crash a reader sees
either the old file or the new one, whole.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_file(path: str | Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write data to path atomically and durably (see the module's docstring)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def publish(tmp: str | Path, final: str | Path) -> None:
    """Rename a finished file or folder into place durably: its contents are fsynced first
    (every file in a folder, and the folder), then the rename and the parent folder."""
    tmp, final = Path(tmp), Path(final)
    for p in ([*tmp.iterdir(), tmp] if tmp.is_dir() else [tmp]):
        fsync_dir(p) if p.is_dir() else fsync_file(p)
    os.replace(tmp, final)
    fsync_dir(final.parent)
