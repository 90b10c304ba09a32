"""An areas output directory, written atomically area by area.

    AREAS.json              marks the directory as a goldstar areas output (set, settings,
                            national hashes, versions); nothing else is ever written into a
                            non-empty directory without it
    records.parquet         record_id (int64) and the national weight, once
    m/<AREA>.parquet        the area's multipliers m (float64, one per record; 0 where the
                            national weight is 0); the area's weight is pop_share x weight x m
    areas/<AREA>.json       the area's row: status, message, dropped targets (with reason and
                            distance), input hash, timings, certificate, memory. Written last:
                            its presence with status ok and a matching input hash is what a
                            rerun skips on
    tmd/<area>_tmd_weights.csv.gz
                            TMD's area weights file layout (tmd/areas/weights/ in TMD):
                            one row per record in the national file's order, one column
                            WT<year> of area weights. TMD's files carry one column per
                            projection year (WT2021 ...); goldstar writes the single year of
                            the national reference (--tmd-year), full float64 precision
    summary.csv             one row per area, rewritten as results arrive and at the end

Synthetic areas carry `-SYN` / `SYN-` in their names, so in every file name,
and `synthetic = true` in their rows.
"""

from __future__ import annotations

import gzip
import json

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..atomic import atomic_write, atomic_write_text
from ..outputs import require_writable
from ..exceptions import InputError

MARKER = "AREAS.json"
MARKER_KIND = "goldstar-areas"
SCHEMA = 1
SUMMARY_COLUMNS = (
    "area", "kind", "synthetic", "state", "status", "message", "targets", "kept", "n_dropped",
    "dropped", "certified", "max_band_violation_widths", "deviation", "seconds", "seconds_prepass",
    "seconds_solve", "rss_peak_mb", "worker", "eps", "upper", "pop_share", "input_hash", "skipped",
)


def prepare_out(out: Path, marker: dict[str, Any]) -> None:
    """Create `out`, or reuse it when it is an areas output; refuse any other non-empty directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    require_writable(out / MARKER, "--out")  # areas write inside `out`
    if out.is_dir() and any(out.iterdir()):
        path = out / MARKER
        try:
            kind = json.loads(path.read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind != MARKER_KIND:
            raise InputError(
                f"--out {out}: a non-empty directory that is not a goldstar areas output (no {MARKER}); "
                "goldstar will not write into it. Give a new or empty directory."
            )
    for sub in ("m", "areas", "tmd"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / MARKER, json.dumps({"kind": MARKER_KIND, "schema": SCHEMA, **marker},
                                               indent=2, sort_keys=True, default=str) + "\n")


BATCH_RECORD = "batch.json"


def write_batch_record(out: Path, record: dict[str, Any]) -> None:
    """What the last batch into `out` cost (wall time, workers, statuses): scripts/bench_areas.py
    reads it beside summary.csv, so the benchmark's figures are the run's own."""
    atomic_write_text(Path(out) / BATCH_RECORD, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")


def file_stem(area: str) -> str:
    return area.replace("/", "_")


def done_row(out: Path, area: str, input_hash: str) -> dict[str, Any] | None:
    """The stored row of an area finished ok with this input hash (and its m file), else None."""
    path = Path(out) / "areas" / f"{file_stem(area)}.json"
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if row.get("status") == "ok" and row.get("input_hash") == input_hash and \
            (Path(out) / "m" / f"{file_stem(area)}.parquet").is_file():
        return row
    return None


def write_records(out: Path, record_ids: np.ndarray, weight: np.ndarray) -> None:
    table = pa.table({"record_id": pa.array(record_ids, pa.int64()), "weight": pa.array(weight, pa.float64())})
    atomic_write(Path(out) / "records.parquet", lambda tmp: pq.write_table(table, tmp))


def write_area(out: Path, row: dict[str, Any], weight: np.ndarray, *, tmd_year: int | None) -> dict[str, Any]:
    """Write one area's files (m, TMD weights, then its row last); return the row without m."""
    out = Path(out)
    stem = file_stem(row["area"])
    m = row.pop("m", None)
    if m is not None:
        meta = {"area": row["area"], "input_hash": row["input_hash"], "synthetic": row["synthetic"]}
        table = pa.table({"m": pa.array(np.asarray(m, dtype=np.float64), pa.float64())})
        table = table.replace_schema_metadata({b"goldstar-area": json.dumps(meta).encode()})
        atomic_write(out / "m" / f"{stem}.parquet", lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        if tmd_year is not None:
            data = tmd_weights_csv_gz(f"WT{tmd_year}", row["pop_share"] * weight * m)
            atomic_write(out / "tmd" / f"{stem.lower()}_tmd_weights.csv.gz", lambda tmp: Path(tmp).write_bytes(data))
    atomic_write_text(out / "areas" / f"{stem}.json",
                      json.dumps(row, indent=1, sort_keys=True, default=_json_default) + "\n")
    return row


def tmd_weights_csv_gz(column: str, weight: np.ndarray) -> bytes:
    """TMD's area weights file: a CSV with one column of weights, gzipped.

    Every value is written as the shortest decimal that reads back to the same float64
    (Arrow's CSV writer), and gzip runs at level 1: together ~0.5 s for 280K weights where
    pandas' to_csv with default gzip took ~2.8 s, which the client paid once per area."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(pa.table({column: pa.array(np.asarray(weight, dtype=np.float64))}), buffer,
                    pacsv.WriteOptions(include_header=False))
    return gzip.compress(f"{column}\n".encode() + buffer.getvalue().to_pybytes(), compresslevel=1)


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


__all__ = ["MARKER", "done_row", "prepare_out", "read_m", "write_area", "write_records", "write_summary"]
