"""A cache of derived record tables, keyed by what they were derived from.

Running Tax-Calculator on a file takes about a minute; the table it yields
depends only on the input files' bytes, the Tax-Calculator version, the years
and goldstar's own mapping code. So it is written once, as Parquet, under
`cache_root()` (the user's cache directory, or `$GOLDSTAR_CACHE_DIR`), named
by the xxh3-128 of those key parts, with the key parts themselves stored in
the file's metadata and compared on every read. A fresh clone, another
machine or a changed byte simply rebuilds it; nothing in the repository
depends on the cache being there.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from ...store.atomic import atomic_write

CACHE_ENV = "GOLDSTAR_CACHE_DIR"
METADATA_KEY = b"goldstar-cache"
# Off inside `cache_disabled()`: tables are computed every time, nothing read or written.
_ENABLED: ContextVar[bool] = ContextVar("goldstar_cache_enabled", default=True)


@contextlib.contextmanager
def cache_disabled() -> Iterator[None]:
    """Within this block no derived table is read from or written to the cache."""
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def cache_root() -> Path:
    """$GOLDSTAR_CACHE_DIR, else $XDG_CACHE_HOME/goldstar, else ~/.cache/goldstar."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "goldstar"


def key_hash(parts: Mapping[str, Any]) -> str:
    """xxh3-128 of the key parts as sorted JSON (hex, no prefix: it names a file)."""
    return xxhash.xxh3_128(json.dumps(dict(parts), sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """Where a derived table lives and whether this call found it there."""

    path: Path
    key: dict[str, Any]
    hit: bool

    @property
    def key_hash(self) -> str:
        return "xxh3_128:" + key_hash(self.key)


def load_or_compute(
    kind: str, parts: Mapping[str, Any], compute: Callable[[], pd.DataFrame]
) -> tuple[pd.DataFrame, CacheEntry]:
    """The table for these key parts: read from the cache when it is there and its
    recorded key equals `parts`, else computed by `compute()` and written (atomically).

    An unwritable cache directory costs a warning and a recompute next time, never an error.
    """
    parts = dict(parts)
    path = cache_root() / f"{kind}-{key_hash(parts)}.parquet"
    if not _ENABLED.get():
        return compute(), CacheEntry(path, parts, hit=False)
    table = _read(path, parts)
    if table is not None:
        return table, CacheEntry(path, parts, hit=True)
    table = compute()
    arrow = pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(
        {METADATA_KEY: json.dumps(parts, sort_keys=True).encode("utf-8")}
    )
    try:
        atomic_write(path, lambda tmp: pq.write_table(arrow, tmp))
    except OSError as exc:
        warnings.warn(f"cannot write the cache file {path} ({exc}); the table will be recomputed next time",
                      UserWarning, stacklevel=2)
    return table, CacheEntry(path, parts, hit=False)


def _read(path: Path, parts: dict[str, Any]) -> pd.DataFrame | None:
    """The cached table, or None when absent, unreadable or recorded under other key parts."""
    if not path.is_file():
        return None
    try:
        arrow = pq.read_table(path)
        recorded = json.loads((arrow.schema.metadata or {}).get(METADATA_KEY, b"null"))
    except Exception:  # a truncated or foreign file is simply rebuilt
        return None
    if recorded != json.loads(json.dumps(parts, sort_keys=True)):
        return None
    return arrow.replace_schema_metadata(None).to_pandas()
