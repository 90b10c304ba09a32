"""Area inputs: the SOI state table, and the national records with their weights.

The SOI table is IRS SOI Historic Table 2 for 2022 (reference/inputs/
soi_states_2022.csv; provenance in reference/inputs/README.md): one row per
area and AGI stub, counts and amounts (thousands of dollars) with thousands
separators. Only the 50 states and DC are areas here (STATES); the OA and PR
rows and the US row are not, so area shares are taken over the 51.

The national data are the records the national reference was solved on (the
embedded CPS file through goldstar.cps, by default) with the national weights
of a reference directory (`weights.parquet`: record_id, weight). Every file
read is hashed; those hashes enter every area's input hash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import InputError
from ..hashing import arrays_hash, file_hash
from .recipe import DEFAULT_RECIPE, Cell, cell_matrix, cells, read_recipe

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOI_STATES = REPO / "reference" / "inputs" / "soi_states_2022.csv"
DEFAULT_RECORDS = REPO / "reference" / "inputs" / "cps.csv.gz"
BAND_REFERENCE = REPO / "reference" / "band"
DEFAULT_REFERENCE = REPO / "reference" / "default"
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
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
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
        soi[column] = values.astype(np.float64)
    have = set(zip(soi["STATE"], soi["AGI_STUB"].astype(int)))
    lacking = [(s, k) for s in STATES for k in range(11) if (s, k) not in have]
    if lacking:
        s, k = lacking[0]
        raise InputError(f"SOI state table {path}: no row for {s}, AGI_STUB {k} ({len(lacking)} missing)")
    soi = soi.drop_duplicates(["STATE", "AGI_STUB"]).set_index(["STATE", "AGI_STUB"]).sort_index()
    return soi


@dataclass(frozen=True, eq=False)
class NationalData:
    """What every area task needs, sent to each Dask worker once.

    A is records x cells (goldstar.areas.recipe); weight the national weights,
    aligned with record_ids; totals = A^T weight, the national total of each cell.
    """

    record_ids: np.ndarray
    weight: np.ndarray
    A: sp.csr_matrix
    cells: tuple[Cell, ...]
    totals: np.ndarray
    hashes: dict[str, Any] = field(default_factory=dict)
    dropped_cells: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return int(self.A.shape[0])

    @property
    def cell_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cells)

    def content_hash(self) -> str:
        """Hash by value of everything an area problem is made from on the national side."""
        return arrays_hash([
            ("record_id", self.record_ids), ("weight", self.weight),
            ("A.indptr", self.A.indptr.astype(np.int64)), ("A.indices", self.A.indices.astype(np.int64)),
            ("A.data", self.A.data), ("cells", np.array(self.cell_names, dtype=object)),
        ])


def national_from_arrays(
    records: pd.DataFrame, record_ids: np.ndarray, weight: np.ndarray, recipe: pd.DataFrame,
    hashes: dict[str, Any] | None = None,
) -> NationalData:
    """NationalData from a record table (goldstar.build's SOI names) and aligned national weights.

    Cells no record with a positive weight contributes to are left out (their
    names in `dropped_cells`): a share of a zero national total is zero.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if weight.shape != (len(records),):
        raise InputError(f"{weight.size} national weights for {len(records)} records")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise InputError("national weights must be finite and >= 0")
    cell_list = cells(recipe)
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
        hashes=dict(hashes or {}), dropped_cells=dropped,
    )


def load_national(
    reference: str | os.PathLike[str] | None = None,
    records: str | os.PathLike[str] | None = None,
    recipe: str | os.PathLike[str] = DEFAULT_RECIPE,
) -> NationalData:
    """The national data from files: a reference directory's weights.parquet (default:
    reference/band/, else reference/default/ while the band reference is absent), the
    records (default: the embedded CPS file through goldstar.cps) and the recipe."""
    from ..build import read_table
    from ..cps import cps_to_soi

    if reference is None:
        reference = BAND_REFERENCE if (BAND_REFERENCE / "weights.parquet").is_file() else DEFAULT_REFERENCE
    weights_path = Path(reference) / "weights.parquet"
    if not weights_path.is_file():
        raise InputError(f"national reference {reference}: no weights.parquet")
    try:
        nat = pd.read_parquet(weights_path, columns=["record_id", "weight"])
    except Exception as exc:  # pyarrow raises many kinds for unreadable files
        raise InputError(f"national reference {weights_path}: cannot be read ({exc})") from None
    records_path = Path(records) if records is not None else DEFAULT_RECORDS
    table = read_table(records_path, "record")
    if records is None:
        table = cps_to_soi(table)
    if "record_id" not in table.columns:
        raise InputError(f"record table {records_path}: needs a record_id column to match the national weights")
    ids = table["record_id"].to_numpy(dtype=np.int64)
    by_id = pd.Series(nat["weight"].to_numpy(dtype=np.float64), index=nat["record_id"].to_numpy(dtype=np.int64))
    if not by_id.index.is_unique:
        raise InputError(f"national reference {weights_path}: duplicate record_id values")
    missing = ~np.isin(ids, by_id.index.to_numpy())
    if missing.any():
        raise InputError(
            f"national reference {weights_path}: no weight for record_id {ids[np.flatnonzero(missing)[0]]} "
            f"({int(missing.sum())} records without one); it was made from other records"
        )
    weight = by_id.loc[ids].to_numpy()
    recipe_table = read_recipe(recipe)
    hashes = {
        "national_weights": {"file": str(weights_path), "hash": file_hash(weights_path)},
        "records": {"file": records_path.name, "hash": file_hash(records_path),
                    "adapter": "cps" if records is None else "none"},
        "recipe": {"file": Path(recipe).name, "hash": file_hash(recipe)},
    }
    return national_from_arrays(table, ids, weight, recipe_table, hashes)
