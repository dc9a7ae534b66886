"""Read and verify the IDX files MNIST and Fashion-MNIST ship in (gzip-compressed or raw)."""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

_DTYPES = {0x08: np.uint8}


def read_bytes(path: Path) -> bytes:
    """The file's IDX payload, decompressed when it is gzip; truncation is a DataError."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip file ({e})") from None
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(path: Path, expected_sha256: str | None, known: dict[str, str] | None = None) -> bytes:
    """Return the payload of path if its SHA-256 (of the uncompressed IDX bytes) matches.
    known: SHA-256 -> what that file is, to name a file of another dataset in the error."""
    data = read_bytes(path)
    digest = sha256(data)
    if expected_sha256 and digest != expected_sha256:
        if known and digest in known:
            raise DataError(f"{path} is {known[digest]}, not {known.get(expected_sha256, 'the file wanted here')}: "
                            "is --data-dir another dataset's folder?")
        raise DataError(f"{path}: checksum mismatch (SHA-256 {digest[:12]}..., expected {expected_sha256[:12]}...); "
                        "the file is corrupt, truncated or not the expected dataset file")
    return data


def parse(data: bytes, where: str = "IDX data") -> torch.Tensor:
    """IDX bytes -> uint8 tensor of the stored shape."""
    if len(data) < 4:
        raise DataError(f"{where}: too short to be an IDX file")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code not in _DTYPES or not 1 <= ndim <= 4:
        raise DataError(f"{where}: not an IDX file of unsigned bytes (bad magic number)")
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{where}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    count = int(np.prod(shape))
    body = data[4 + 4 * ndim :]
    if len(body) != count:
        raise DataError(f"{where}: truncated or oversized IDX file ({len(body)} bytes of data, header says {count})")
    arr = np.frombuffer(body, dtype=np.uint8).reshape(shape)
    return torch.from_numpy(arr.copy())


def write(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """Write a uint8 array as an IDX file (used by tests to fabricate datasets)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)
