"""Reading tables: goldstar's own Parquet files with typed columns, and a user's CSV or Parquet
files; each error names the file and the column at fault."""

from __future__ import annotations

import csv
import io

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..exceptions import InputError

_ACCEPTED_TYPES = {
    "float64": (pa.float64(),),
    "int32": (pa.int32(),),
    "int64": (pa.int64(),),
    "string": (pa.string(), pa.large_string()),
}


def read_table_checked(
    path: Path,
    required: dict[str, str],
    optional: dict[str, str] | None = None,
    *,
    error: type[InputError] = InputError,
) -> pa.Table:
    """A Parquet file with the named columns of the named types and no missing numbers.

    Raises `error` (an InputError) naming the file and the column at fault.
    """
    if not path.is_file():
        raise error(f"{path}: missing")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise error(f"{path}: truncated or not a Parquet file ({exc})") from None
    for name, dtype in {**required, **(optional or {})}.items():
        if name not in table.column_names:
            if name in required:
                raise error(f"{path}: missing column {name!r} (has {table.column_names})")
            continue
        actual = table.schema.field(name).type
        if actual not in _ACCEPTED_TYPES[dtype]:
            raise error(f"{path}: column {name!r} must be {dtype}, found {actual}")
        if dtype != "string" and table.column(name).null_count:
            raise error(f"{path}: column {name!r} has {table.column(name).null_count} missing value(s)")
    return table


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV whole: each column's type from all its rows (pandas' chunked guess would warn, and type
    a column by its first chunk, where a bad value sits further down)."""
    return pd.read_csv(path, low_memory=False)


READS = {".parquet": pd.read_parquet, ".csv": _read_csv, ".csv.gz": _read_csv}


def whole_numbers(column: pd.Series, where: str, name: str, first_row: int = 0) -> np.ndarray:
    """A column of identifiers as int64, or an InputError naming `where`, the column and the first
    row (counted from `first_row`: 2 for a file's line with its header, 0 for a DataFrame's
    position) that holds no whole number: text, a missing value, a fraction. Nothing is rounded
    or cut: 1.5 is refused, not read as 1."""
    exact = pd.to_numeric(column, errors="coerce")
    values = exact.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**63))
    if bad.size:
        value = column.iloc[int(bad[0])]
        value = value.item() if isinstance(value, np.generic) else value  # 1.5, not np.float64(1.5)
        raise InputError(f"{where}: row {int(bad[0]) + first_row}, column {name}: {value!r} is not "
                         f"a whole number ({bad.size} such row(s))")
    # an integer column as it is (ids above 2**53 keep their digits), a float one from its values
    return exact.to_numpy().astype(np.int64) if exact.dtype.kind in "iu" else values.astype(np.int64)


def read_table(path: str | os.PathLike[str], what: str) -> pd.DataFrame:
    """A CSV, CSV.gz or Parquet file as a DataFrame, or an InputError naming the file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} file {path}: a directory; give a CSV, CSV.gz or Parquet file")
    if not path.is_file():
        raise InputError(f"{what} file {path}: not found")
    name = path.name.lower()
    reader = next((read for suffix, read in READS.items() if name.endswith(suffix)), None)
    if reader is None:
        raise InputError(f"{what} file {path}: expected .csv, .csv.gz or .parquet")
    try:
        return reader(path)
    except Exception as exc:  # pandas raises many kinds for unreadable files
        raise InputError(f"{what} file {path}: cannot be read ({exc})") from None


def read_text_table(path: str | os.PathLike[str], what: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """A hand-written CSV (a recipe, an overrides file) as strings, empty cells as "": InputError
    naming `what` and the file when it cannot be read, is not UTF-8, lacks one of `columns`, or
    has a row with more or fewer fields than its header (an unquoted comma inside a field)."""
    where = f"{what} {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    try:
        rows = [(k + 1, fields) for k, fields in enumerate(csv.reader(io.StringIO(text))) if fields]
    except csv.Error as exc:
        raise InputError(f"{where}: cannot be read as CSV ({exc})") from None
    if not rows:
        raise InputError(f"{where}: cannot be read (no header row)")
    header = [h.strip() for h in rows[0][1]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"{where}: lacks column(s) {', '.join(missing)}")
    for line, fields in rows[1:]:
        if len(fields) != len(header):
            raise InputError(f"{where}: row {line}: {len(fields)} fields, the header has {len(header)} (a field "
                             "that holds a comma, such as a target name's AGI bin, must be in double quotes)")
    return pd.DataFrame([fields for _, fields in rows[1:]], columns=header, dtype=str)


def rows_by_id(ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Records matched by record_id: for each id of `wanted`, its row in `ids` (any row where it
    is absent) and whether it was found there."""
    order = np.argsort(ids, kind="stable")
    pos = np.minimum(np.searchsorted(ids[order], wanted), ids.size - 1)
    return order[pos], ids[order][pos] == wanted


def read_json_object(path: Path, *, error: type[InputError] = InputError) -> dict:
    """A JSON file that holds an object, or `error` naming the file: missing, not UTF-8 JSON, or
    not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: must hold a JSON object, found {type(data).__name__}")
    return data
