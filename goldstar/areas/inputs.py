"""Area inputs: the SOI state table, and the national records with their weights.

The SOI table is IRS SOI Historic Table 2 for 2022 (goldstar/data/
soi_states_2022.csv; provenance in goldstar/data/README.md): one row per
area and AGI stub, counts and amounts (thousands of dollars) with thousands
separators. Only the 50 states and DC are areas here (STATES); the OA and PR
rows and the US row are not, so area shares are taken over the 51.

The national data are the records the national reference was solved on (the
embedded CPS file through goldstar.inputs.cps, by default) with the national weights
of a reference directory (`weights.parquet`: record_id, weight). Every file
read is hashed; those hashes enter every area's input hash.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..defaults import DEFAULT_RECORDS, DEFAULT_REFERENCES, DEFAULT_SOI_STATES, DEFAULT_YEAR
from ..exceptions import InputError
from ..hashing import arrays_hash, file_hash, frame_entry
from .recipe import DEFAULT_RECIPE, cell_matrix, check_variables, read_recipe
from .spec import Cell
from ..store.tables import read_table, whole_numbers
from ..inputs.engines import run_engine
from ..store.reference import read_reference, METADATA_KEY
from ..verify.columns import file_checks

STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
)
POPULATION_COLUMN = "N2"  # SOI count of individuals: the population share's numerator


def read_soi_states(path: str | os.PathLike[str] = DEFAULT_SOI_STATES, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """The SOI state table for the 51 areas: index (STATE, AGI_STUB), float64 columns.

    Raises InputError when the file cannot be read, lacks a column asked for,
    or lacks one of the 51 areas or one of the AGI stubs 0..10.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"SOI state table {path}: not found")
    try:
        soi = pd.read_csv(path, thousands=",")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"SOI state table {path}: cannot be read ({exc})") from None
    needed = ("STATE", "AGI_STUB", POPULATION_COLUMN, *columns)
    missing = [c for c in dict.fromkeys(needed) if c not in soi.columns]
    if missing:
        raise InputError(f"SOI state table {path}: lacks column(s) {', '.join(missing)}")
    soi["STATE"] = soi["STATE"].astype(str).str.strip().str.upper()
    soi = soi[soi["STATE"].isin(STATES)]
    for column in dict.fromkeys(needed[2:]):
        values = pd.to_numeric(soi[column], errors="coerce")
        if values.isna().any():
            row = soi.index[int(np.flatnonzero(values.isna().to_numpy())[0])]
            raise InputError(f"SOI state table {path}: column {column!r}, row {row + 2}: not a number")
        if _is_count_column(column) and (values < 0).any():
            row = soi.index[int(np.flatnonzero((values < 0).to_numpy())[0])]
            raise InputError(f"SOI state table {path}: column {column!r}, row {row + 2}: "
                             f"{values.loc[row]:g} is a count below 0")
        soi[column] = values.astype(np.float64)
    stub = pd.to_numeric(soi["AGI_STUB"], errors="coerce")
    if stub.isna().any() or (stub != stub.round()).any():
        row = soi.index[int(np.flatnonzero((stub.isna() | (stub != stub.round())).to_numpy())[0])]
        raise InputError(f"SOI state table {path}: column 'AGI_STUB', row {row + 2}: not a whole number")
    soi["AGI_STUB"] = stub.astype(int)
    have = set(zip(soi["STATE"], soi["AGI_STUB"]))
    lacking = [(s, k) for s in STATES for k in range(11) if (s, k) not in have]
    if lacking:
        s, k = lacking[0]
        raise InputError(f"SOI state table {path}: no row for {s}, AGI_STUB {k} ({len(lacking)} missing)")
    soi = soi.drop_duplicates(["STATE", "AGI_STUB"]).set_index(["STATE", "AGI_STUB"]).sort_index()
    return soi


def _is_count_column(column: str) -> bool:
    """SOI counts (N1, N2, N00200, MARS1 ...) cannot be negative; amounts (A...) can."""
    return column.startswith(("N", "MARS"))


@dataclass(frozen=True, eq=False)
class NationalData:
    """What every area task needs, sent to each Dask worker once.

    A is records x cells (goldstar.areas.recipe); weight the national weights,
    aligned with record_ids; totals = A^T weight, the national total of each cell;
    population the national weighted XTOT when the records carry XTOT (TMD's denominator of
    an area's population share in its target files), else None. `empty` names the recipe's
    cells that no record with a positive weight contributes to: they are no area's target.
    """

    record_ids: np.ndarray
    weight: np.ndarray
    A: sp.csr_matrix
    cells: tuple[Cell, ...]
    totals: np.ndarray
    hashes: dict[str, Any] = field(default_factory=dict)
    dropped_cells: tuple[str, ...] = ()
    population: float | None = None

    @property
    def recipe_size(self) -> int:
        """The recipe's cells, the empty ones included."""
        return len(self.cells) + len(self.dropped_cells)

    @property
    def n(self) -> int:
        return int(self.A.shape[0])

    @property
    def cell_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cells)

    @functools.cached_property
    def positive(self) -> tuple[np.ndarray, sp.csr_matrix]:
        """(mask of the records with a national weight > 0, their rows of A): the records of
        every area problem, made once in each process that builds them."""
        keep = self.weight > 0
        return keep, (self.A if keep.all() else sp.csr_matrix(self.A[keep]))

    def content_hash(self) -> str:
        """Hash by value of everything an area problem is made from on the national side."""
        return arrays_hash([
            ("record_id", self.record_ids), ("weight", self.weight),
            ("A.indptr", self.A.indptr.astype(np.int64)), ("A.indices", self.A.indices.astype(np.int64)),
            ("A.data", self.A.data), ("cells", np.array(self.cell_names, dtype=object)),
        ])


def national_from_arrays(
    records: pd.DataFrame, record_ids: np.ndarray, weight: np.ndarray, cell_list: list[Cell],
    hashes: dict[str, Any] | None = None, where: str = "the recipe",
) -> NationalData:
    """NationalData from a record table (goldstar.areas.variables) and aligned national weights.

    Cells no record with a positive weight contributes to are left out, `empty` (their
    names in `dropped_cells`): a share of a zero national total is zero. On the CPS file
    through Tax-Calculator, e26270 and capgains_net are zero on every record (the file has
    none of their inputs), so their cells are empty.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if weight.shape != (len(records),):
        raise InputError(f"{weight.size} national weights for {len(records)} records")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise InputError("national weights must be finite and >= 0")
    check_variables(records, cell_list, where)
    A = cell_matrix(records, cell_list)
    totals = A.T @ weight
    touched = np.asarray((A.multiply(weight[:, None] > 0) != 0).sum(axis=0)).ravel() > 0
    keep = np.flatnonzero(touched)
    dropped = tuple(cell_list[j].name for j in np.flatnonzero(~touched))
    A = sp.csr_matrix(A[:, keep])
    A.sort_indices()
    return NationalData(
        record_ids=np.asarray(record_ids, dtype=np.int64), weight=weight, A=A,
        cells=tuple(cell_list[j] for j in keep), totals=np.asarray(totals)[keep],
        hashes=dict(hashes or {}), dropped_cells=dropped, population=_population(records, weight),
    )


def _population(records: pd.DataFrame, weight: np.ndarray) -> float | None:
    if "XTOT" not in records.columns:
        return None
    return float(records["XTOT"].to_numpy(dtype=np.float64) @ weight)


@dataclass(frozen=True)
class NationalWeights:
    """The national weights an areas batch starts from, matched to records by record_id, and
    what identifies them: `identity` is recorded in every areas output and reference, so that
    `verify --areas` can tell when the areas no longer belong to the national weights."""

    record_id: np.ndarray
    weight: np.ndarray
    identity: dict[str, Any]


def default_national_reference() -> Path:
    """The band reference `make goldstar` writes, found as `goldstar verify` and `goldstar report`
    find theirs: relative to the working directory (goldstar.defaults)."""

    return DEFAULT_REFERENCES["band"]


def reference_weights(reference: str | os.PathLike[str] | None = None,
                      option: str = "--reference") -> NationalWeights:
    """The weights of a goldstar reference directory, refused (InputError naming `option`, before
    any work) unless they pass the hash checks of `goldstar verify --mode hash` on the files alone:
    the recorded weights hash, weight = w0 x m, and MANIFEST.json against both."""

    directory = Path(reference) if reference is not None else default_national_reference()
    where = f"{option} {directory}"
    if (directory / "weights.parquet").is_file() and not _has_goldstar_metadata(directory / "weights.parquet"):
        raise InputError(
            f"{where}: weights.parquet is not a goldstar reference (no goldstar metadata), so its weights "
            "cannot be checked; give weights from elsewhere with --national-weights FILE instead")
    try:
        ref = read_reference(directory)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    recorded = ref.metadata["weights_hash"]
    failed = [] if ref.computed_weights_hash() == recorded else ["weights hash (the weights changed since "
                                                                 "the reference was written)"]
    failed += [f"{c.name} ({c.figure})" for c in file_checks(ref) if not c.passed]
    if failed:
        raise InputError(f"{where}: the national reference fails its hash checks: {'; '.join(failed)}; "
                         f"`goldstar verify --reference {directory} --mode hash` says more. It was not used.")
    return NationalWeights(ref.record_id.astype(np.int64), ref.weight.astype(np.float64),
                           {"kind": "reference", "directory": str(directory), "weights_hash": recorded,
                            "file": str(directory / "weights.parquet")})


def _has_goldstar_metadata(path: Path) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return METADATA_KEY in (pq.read_schema(path).metadata or {})
    except (OSError, pa.ArrowException):
        return True  # unreadable: let read_reference name what is wrong


def file_weights(path: str | os.PathLike[str], option: str = "--national-weights") -> NationalWeights:
    """National weights from elsewhere (e.g. TMD's own): a Parquet or CSV file with record_id and
    weight. No certificate stands behind them; their hash by value identifies them. Errors name
    `option` (the command's --national-weights, or the API's argument) and the file."""

    path = Path(path)
    table = read_table(path, option)
    missing = [c for c in ("record_id", "weight") if c not in table.columns]
    if missing:
        raise InputError(f"{option} {path}: lacks column(s) {', '.join(missing)}")
    if len(table) == 0:
        raise InputError(f"{option} {path}: has no rows")
    ids = whole_numbers(table["record_id"], f"{option} {path}", "record_id", first_row=2)
    weight = pd.to_numeric(table["weight"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
    if bad.size:
        raise InputError(f"{option} {path}: row {int(bad[0]) + 2}, column weight: "
                         f"{table['weight'].iloc[int(bad[0])]!r} is not a finite number >= 0")
    return NationalWeights(ids, weight, {"kind": "file", "directory": str(path),
                                         "weights_hash": arrays_hash([("record_id", ids), ("weight", weight)]),
                                         "file": str(path)})


def value_weights(record_id: np.ndarray, weight: np.ndarray, where: str = "national weights") -> NationalWeights:
    """National weights given as values (the Python API): checked as --national-weights checks a
    file's, identified by their hash by value."""
    ids = np.asarray(record_id)
    if ids.dtype.kind not in "iu" and not (ids.dtype.kind == "f" and np.all(ids == np.round(ids))):
        raise InputError(f"{where}: record_id must be whole numbers")
    ids = ids.astype(np.int64)
    given = np.asarray(weight)
    if given.dtype.kind in "biuf":
        weight = given.astype(np.float64)
    else:  # text or None: NaN here, named below with the value given
        weight = pd.to_numeric(pd.Series(given.ravel()), errors="coerce").to_numpy(dtype=np.float64).reshape(given.shape)
    if ids.shape != weight.shape or ids.ndim != 1 or ids.size == 0:
        raise InputError(f"{where}: needs one weight a record_id, and at least one")
    bad = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
    if bad.size:
        value = given[bad[0]]
        value = value.item() if isinstance(value, np.generic) else value
        raise InputError(f"{where}: record_id {ids[bad[0]]}: weight {value!r} is not a finite number >= 0")
    return NationalWeights(ids, weight, {"kind": "values", "directory": where, "file": where,
                                         "weights_hash": arrays_hash([("record_id", ids), ("weight", weight)])})


def load_national(
    weights: NationalWeights,
    records: str | os.PathLike[str] | pd.DataFrame | None = None,
    recipe: str | os.PathLike[str] | list[Cell] = DEFAULT_RECIPE,
    *,
    engine: str | None = None,
    year: int = DEFAULT_YEAR,
    engine_options: dict[str, Any] | None = None,
) -> NationalData:
    """The national data: the records with the national `weights` matched by record_id, and
    the recipe's cells.

    The records: through `engine` (goldstar.inputs.engines: `cps`, the default for the
    embedded CPS file, or `taxcalc`, run for `year`), or, with `records` and no engine, the
    table as it is (goldstar's SOI names and any Tax-Calculator variables it carries).
    """

    if engine is None and isinstance(records, pd.DataFrame):
        table, records_path = records, Path("<DataFrame>")
        records_entry = {**frame_entry(records), "adapter": "none"}
        engine_facts = {"name": None}
    elif engine is None and records is not None:
        records_path = Path(records)
        table = read_table(records_path, "record")
        records_entry = {"file": records_path.name, "hash": file_hash(records_path), "adapter": "none"}
        engine_facts: dict[str, Any] = {"name": None}
    else:
        table, inputs, engine_facts = run_engine(engine or "cps", records, year, engine_options)
        records_entry = inputs["records"]
        records_path = Path(records) if records is not None else DEFAULT_RECORDS
    if "record_id" not in table.columns:
        raise InputError(f"record table {records_path}: needs a record_id column to match the national weights")
    ids = table["record_id"].to_numpy(dtype=np.int64)
    where = weights.identity["file"]
    by_id = pd.Series(weights.weight, index=weights.record_id)
    if not by_id.index.is_unique:
        raise InputError(f"national weights {where}: duplicate record_id values")
    missing = ~np.isin(ids, by_id.index.to_numpy())
    if missing.any():
        raise InputError(
            f"national weights {where}: no weight for record_id {ids[np.flatnonzero(missing)[0]]} "
            f"({int(missing.sum())} records without one); they were made from other records"
        )
    weight = by_id.loc[ids].to_numpy()
    cell_list = list(recipe) if isinstance(recipe, list) else read_recipe(recipe)
    hashes = {
        "national_weights": {"file": where, "hash": (weights.identity["weights_hash"]
                                                     if weights.identity["kind"] == "values" else file_hash(where))},
        "national_reference": dict(weights.identity),
        "records": records_entry,
        "engine": {k: v for k, v in engine_facts.items() if k in ("name", "version", "options", "cache_key")},
    }
    if not isinstance(recipe, list):
        hashes["recipe"] = {"file": Path(recipe).name, "hash": file_hash(recipe)}
    where = "the target files" if isinstance(recipe, list) else f"recipe file {recipe}"
    return national_from_arrays(table, ids, weight, cell_list, hashes, where=where)
