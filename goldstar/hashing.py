"""Self-describing hashes, "xxh3_128:<hex>", of files and of arrays in canonical form.

Files are hashed by their bytes in 64 KiB chunks. Arrays are hashed by value,
never by how a file format happened to store them: each array contributes its
name, its dtype in little-endian form, its shape and its bytes in C order, in
the order given. So the same numbers give the same hash on every machine,
whatever Parquet writer or byte order produced them.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import xxhash

ALGORITHM = "xxh3_128"
_CHUNK = 64 * 1024


def _label(digest: str) -> str:
    return f"{ALGORITHM}:{digest}"


def file_hash(path: str | os.PathLike[str]) -> str:
    """Hash of a file's bytes."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return _label(h.hexdigest())


def file_entry(path: str | os.PathLike[str]) -> dict[str, str]:
    """How a problem records one input file: its name and the hash of its bytes."""
    return {"file": os.path.basename(os.fspath(path)), "hash": file_hash(path)}


def changed_inputs(recorded: dict, current: dict[str, dict[str, str]]) -> list[tuple[str, str, str | None, str]]:
    """(role, file, recorded hash, current hash) of each input whose hash is not the recorded one."""
    out = []
    for role, entry in current.items():
        before = recorded.get(role, {}).get("hash") if isinstance(recorded.get(role), dict) else None
        if before != entry["hash"]:
            out.append((role, entry["file"], before, entry["hash"]))
    return out


def canonical_array(values: np.ndarray) -> np.ndarray:
    """The array as little-endian, C-ordered, with strings as UTF-8 joined by NUL."""
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        joined = "\0".join(str(x) for x in arr.ravel()).encode("utf-8")
        return np.frombuffer(joined, dtype=np.uint8)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))


def arrays_hash(named_arrays: Iterable[tuple[str, np.ndarray]]) -> str:
    """Hash of named arrays by value, in the order given."""
    h = xxhash.xxh3_128()
    for name, values in named_arrays:
        arr = canonical_array(values)
        header = f"{name}|{arr.dtype.str}|{','.join(map(str, arr.shape))}\n"
        h.update(header.encode("utf-8"))
        h.update(arr.tobytes(order="C"))
    return _label(h.hexdigest())


# What an input given as a table in memory records in place of a file name.
FRAME_NAME = "<DataFrame>"


def frame_entry(frame: object) -> dict[str, str]:
    """How a problem records an input given as a DataFrame: a hash of its columns by value
    (name, dtype, values, in column order); the index is not part of it."""
    columns = frame.columns  # type: ignore[attr-defined]
    return {"file": FRAME_NAME,
            "hash": arrays_hash((str(c), frame[c].to_numpy()) for c in columns)}  # type: ignore[index]
