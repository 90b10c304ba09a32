"""An areas output directory, written atomically area by area.

    AREAS.json              marks the directory as a goldstar areas output (set, settings,
                            national hashes, versions); nothing else is ever written into a
                            non-empty directory without it, and a later batch with other
                            settings is refused unless --rerun-all (check_out)
    records.parquet         record_id (int64) and the national weight, once
    m/<AREA>.parquet        the area's multipliers m (float64, one per record; 0 where the
                            national weight is 0); the area's weight is pop_share x weight x m
    areas/<AREA>.json       the area's row: status, message, dropped targets (with reason and
                            distance), input hash, timings, certificate, memory, and `files`:
                            the xxh3-128 hash of each file the area wrote. Written after its
                            files: a rerun skips an area whose row says ok with a matching
                            input hash and whose files still hash to what the row says
    tmd/<area>_tmd_weights.csv.gz
                            TMD's area weights file layout (tmd/areas/weights/ in TMD):
                            one row per record in the national file's order, one column
                            WT<year> of area weights a year from --tmd-year to --last-year,
                            later years grown by population (goldstar.areas.years), rounded
                            to 5 decimals as TMD writes them
    summary.csv             one row per area, rewritten as results arrive and at the end

Synthetic areas carry `-SYN` / `SYN-` in their names, so in every file name,
and `synthetic = true` in their rows.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..store.atomic import atomic_write, atomic_write_text
from ..store.decimal_text import decimal_csv_chunks
from ..store.gzip_stream import gzip_pieces
from ..store.outputs import require_writable
from ..exceptions import InputError
from ..hashing import file_hash
from .penalties import SETTINGS_BEFORE_RULES
from .years import WeightYears, year_columns

MARKER = "AREAS.json"
# marks a directory of several states' districts-within batches, one a subdirectory (goldstar.areas.within_batch)
WITHIN_MARKER = "WITHIN.json"
WITHIN_KIND = "goldstar-areas-within"
TMD_DECIMALS = 5  # TMD writes its area weights with float_format "%.5f"
TMD_BYTES = "tmd_weights_csv_gz"  # the row's field that carries its TMD weights file from the worker
MARKER_KIND = "goldstar-areas"
SCHEMA = 1
SUMMARY_COLUMNS = (
    "area", "kind", "synthetic", "state", "status", "message", "targets", "kept", "n_dropped",
    "dropped", "certified", "max_band_violation_widths", "rho_cap", "deviation", "seconds", "seconds_prepass",
    "seconds_solve", "seconds_weights_file", "rss_peak_mb", "worker", "eps", "upper", "pop_share", "input_hash", "skipped",
)


def check_out(out: Path, *, rerun_all: bool = False) -> None:
    """Refuse `out`, before any work and without writing, unless a batch may write there: a new
    or empty directory, or an areas output (whose settings check_settings compares later)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    require_writable(out / MARKER, "--out")  # areas write inside `out`
    if out.is_dir() and any(out.iterdir()) and read_marker(out) is None:
        within = read_marker(out, WITHIN_MARKER, WITHIN_KIND)
        if within is not None:
            raise InputError(f"--out {out}: holds several states' districts, one areas output a state "
                             f"({', '.join(map(str, within.get('states', [])))}); give one of them as --out, "
                             f"or the same --areas districts:ST1,ST2")
        raise InputError(
            f"--out {out}: a non-empty directory that is not a goldstar areas output (no readable {MARKER}); "
            "goldstar will not write into it. Give a new or empty directory."
        )


def check_settings(out: Path, settings: dict[str, Any], *, rerun_all: bool) -> None:
    """Refuse, without writing, a batch into an areas output made with other `settings` (the
    names and values that differ), unless `rerun_all`: then every area is re-solved in place."""
    out = Path(out)
    marker = read_marker(out)
    if marker is None or rerun_all:
        return
    recorded = marker.get("settings")
    if not isinstance(recorded, dict):
        raise InputError(f"--out {out}: its {MARKER} records no settings (an older goldstar wrote it); "
                         "pass --rerun-all to re-solve every area in place, or give another --out")
    recorded = {**SETTINGS_BEFORE_RULES, **recorded}
    differ = [f"{k} {recorded.get(k, '(none)')!r} there, {plain_json(settings[k])!r} now"
              for k in sorted(settings) if plain_json(settings[k]) != recorded.get(k)]
    differ += [f"{k} {recorded[k]!r} there, not set now" for k in sorted(set(recorded) - set(settings))]
    if differ:
        raise InputError(
            f"--out {out} holds a batch made with other settings: {'; '.join(differ)}. Its finished areas "
            "are kept as they are: pass --rerun-all to re-solve every area in place with these settings, "
            "or give another --out"
        )


def read_marker(out: Path, name: str = MARKER, kind: str = MARKER_KIND) -> dict[str, Any] | None:
    """The marker file `name` in `out` when it reads as JSON of that `kind`, else None."""
    try:
        marker = json.loads((Path(out) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("kind") == kind else None


# Areas not ok named on stderr by a batch, at most this many (summary.csv has them all).
SHOWN_NOT_OK = 10


def say_not_ok(rows: list[dict[str, Any]], file: Any = None) -> list[dict[str, Any]]:
    """The rows whose status is not ok; the first SHOWN_NOT_OK of them said on `file` (stderr by
    default) as `ERROR: area A: status: message`."""
    bad = [r for r in rows if r["status"] != "ok"]
    for r in bad[:SHOWN_NOT_OK]:
        print(f"ERROR: area {r['area']}: {r['status']}: {r.get('message', '')}", file=file or sys.stderr)
    return bad


def plain_json(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples as lists, numpy scalars as Python's)."""
    return json.loads(json.dumps(value, default=_json_default))


def prepare_out(out: Path, marker: dict[str, Any]) -> None:
    """Create `out` (checked by check_out first) and write its marker (tmd/ is made with its first
    file: none with --no-tmd-weights)."""
    out = Path(out)
    for sub in ("m", "areas"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / MARKER, json.dumps({"kind": MARKER_KIND, "schema": SCHEMA, **marker},
                                               indent=2, sort_keys=True, default=_json_default) + "\n")


BATCH_RECORD = "batch.json"


def write_batch_record(out: Path, record: dict[str, Any]) -> None:
    """What the last batch into `out` cost (wall time, workers, statuses): scripts/bench_areas.py
    reads it beside summary.csv, so the benchmark's figures are the run's own."""
    atomic_write_text(Path(out) / BATCH_RECORD, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")


def file_stem(area: str) -> str:
    return area.replace("/", "_")


def area_files(area: str) -> dict[str, str]:
    """An area's data files, by role, relative to the output directory."""
    stem = file_stem(area)
    return {"m": f"m/{stem}.parquet", "tmd": f"tmd/{stem.lower()}_tmd_weights.csv.gz"}


def done_row(out: Path, area: str, input_hash: str) -> dict[str, Any] | None:
    """The stored row of an area finished ok with this input hash, when each of its files still
    hashes to what the row recorded; else None (the area is solved again)."""
    path = Path(out) / "areas" / f"{file_stem(area)}.json"
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(row, dict) or row.get("status") != "ok" or row.get("input_hash") != input_hash:
        return None
    files = row.get("files")
    if not isinstance(files, dict) or area_files(area)["m"] not in files:
        return None
    for name, recorded in files.items():
        try:
            if file_hash(Path(out) / name) != recorded:
                return None
        except OSError:
            return None
    return row


def write_records(out: Path, record_ids: np.ndarray, weight: np.ndarray) -> None:
    table = pa.table({"record_id": pa.array(record_ids, pa.int64()), "weight": pa.array(weight, pa.float64())})
    atomic_write(Path(out) / "records.parquet", lambda tmp: pq.write_table(table, tmp))


def write_area(out: Path, row: dict[str, Any]) -> dict[str, Any]:
    """Write one area's files (its multipliers, and its TMD weights file when the row carries
    its bytes, made on the worker: tmd_weights_csv_gz), then its row last, recording the hash of
    each file it wrote (`files`); return the row without m or the bytes. Files of an earlier solve that this one does not
    replace are removed after the row, so the row always names every file the area has: a
    row whose files do not hash to what it says is solved again (done_row)."""
    out = Path(out)
    paths = area_files(row["area"])
    m = row.pop("m", None)
    tmd_bytes = row.pop(TMD_BYTES, None)
    files = {}
    if m is not None:
        meta = {"area": row["area"], "input_hash": row["input_hash"], "synthetic": row["synthetic"]}
        table = pa.table({"m": pa.array(np.asarray(m, dtype=np.float64), pa.float64())})
        table = table.replace_schema_metadata({b"goldstar-area": json.dumps(meta).encode()})
        atomic_write(out / paths["m"], lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        files[paths["m"]] = file_hash(out / paths["m"])
        if tmd_bytes is not None:
            (out / paths["tmd"]).parent.mkdir(exist_ok=True)
            atomic_write(out / paths["tmd"], lambda tmp: Path(tmp).write_bytes(tmd_bytes))
            files[paths["tmd"]] = file_hash(out / paths["tmd"])
    row["files"] = files
    atomic_write_text(out / "areas" / f"{file_stem(row['area'])}.json",
                      json.dumps(row, indent=1, sort_keys=True, default=_json_default) + "\n")
    for name in set(paths.values()) - set(files):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    return row


def tmd_weights_csv_gz(years: WeightYears, weight: np.ndarray) -> bytes:
    """TMD's area weights file: a CSV with one column of weights a year (goldstar.areas.years),
    gzipped, each weight rounded to TMD_DECIMALS as TMD writes them (the exact multipliers are
    in m/<AREA>.parquet). The same weights give the same bytes (no time stamp in the header).

    The text comes from goldstar.store.decimal_text (table look-ups, 0.29 s for 20 years of 280K
    weights on one core), or from Arrow's CSV writer (0.49 s) for weights outside its tables,
    and gzip runs at level 1 on each piece of text as it is made (goldstar.store.gzip_stream). It
    runs on the worker (batch.area_task), and in threads for a joint solve's files (tmd_weights_files)."""
    columns = year_columns(years, weight)
    header = (",".join(columns) + "\n").encode()
    body = decimal_csv_chunks(list(columns.values()), TMD_DECIMALS)
    if body is None:
        buffer = pa.BufferOutputStream()
        pacsv.write_csv(pa.table({k: pa.array(np.round(v, TMD_DECIMALS)) for k, v in columns.items()}), buffer,
                        pacsv.WriteOptions(include_header=False))
        body = [buffer.getvalue().to_pybytes()]
    return gzip_pieces(itertools.chain([header], body), level=1)


def tmd_weights_files(years: WeightYears, weights: Iterable[np.ndarray], threads: int | None = None) -> Iterator[bytes]:
    """tmd_weights_csv_gz of each weight vector, in order, `threads` at a time (every core by
    default): its table look-ups and gzip leave Python's lock, so two threads make the 51 states'
    files in half the time of one. At most `threads` files wait to be taken."""
    threads = threads or os.cpu_count() or 1
    with ThreadPoolExecutor(threads) as pool:
        pending: collections.deque = collections.deque()
        for weight in weights:
            pending.append(pool.submit(tmd_weights_csv_gz, years, weight))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    records = []
    for row in rows:
        r = {k: row.get(k) for k in SUMMARY_COLUMNS}
        dropped = row.get("dropped") or []
        r["n_dropped"] = len(dropped)
        r["dropped"] = ";".join(f"{d['name']}[{d['reason']}]" for d in dropped)
        r["skipped"] = bool(row.get("skipped", False))
        records.append(r)
    return pd.DataFrame(records, columns=list(SUMMARY_COLUMNS))


def write_summary(out: Path, rows: list[dict[str, Any]]) -> None:
    frame = summary_frame(rows)
    atomic_write(Path(out) / "summary.csv", lambda tmp: frame.to_csv(tmp, index=False))


def read_m(out: Path, area: str) -> np.ndarray:
    return pq.read_table(Path(out) / "m" / f"{file_stem(area)}.parquet").column("m").to_numpy()


__all__ = ["MARKER", "TMD_BYTES", "area_files", "check_out", "check_settings", "done_row", "prepare_out", "read_m", "tmd_weights_csv_gz", "tmd_weights_files", "write_area", "write_records", "write_summary"]
