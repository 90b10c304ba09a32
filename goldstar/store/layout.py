"""The interchange layout: a problem as a directory that other tools read.

    records.parquet   w0 float64, record_id int64 (optional on read; always written)
    targets.parquet   name string, target float64
    matrix.parquet    A in COO form: row int32, col int32, value float64
                      (the A_ij of goldstar.problem.model, not B), sorted by row then col
    problem.json      {"objective": {"name": .., parameters}, "lower": .., "upper": ..}
                      plus metadata; without "objective" (the first release's
                      layout) it reads as {"name": "penalized", "penalty": ..}

Writing and reading round-trip bit-exactly (float64 is stored as float64). The
reader checks the layout and then validates the problem as Problem.from_arrays
does, so a malformed directory gets an InputError naming the file and column.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from . import outputs
from .outputs import PROBLEM_JSON, output_directory
from .tables import read_json_object, read_table_checked
from ..exceptions import InputError
from ..params import is_number
from ..problem.objectives import Objective, objective_from_dict
from ..problem.model import Problem

RECORDS = "records.parquet"
TARGETS = "targets.parquet"
MATRIX = "matrix.parquet"
LAYOUT_VERSION = 1

def write_problem(
    problem: Problem, directory: str | os.PathLike[str], metadata: dict[str, Any] | None = None,
    *, replace: bool = False,
) -> Path:
    """Write `problem` in the interchange layout; the directory appears whole or not at all.

    An existing problem directory there is replaced only with `replace=True`;
    a directory goldstar did not write is never replaced (goldstar.store.outputs).
    """
    A = problem.A.tocoo()
    order = np.lexsort((A.col, A.row))
    settings = {
        "layout_version": LAYOUT_VERSION,
        "objective": problem.objective.as_dict(),
        "lower": problem.lower,
        "upper": problem.upper,
        "n_records": problem.n,
        "n_targets": problem.J,
        "nnz": problem.nnz,
        "problem_hash": problem.content_hash(),
        **(metadata or {}),
    }
    with output_directory(directory, outputs.PROBLEM, replace=replace) as tmp:
        pq.write_table(
            pa.table({
                "w0": pa.array(problem.w0, pa.float64()),
                "record_id": pa.array(problem.record_ids, pa.int64()),
            }),
            tmp / RECORDS,
        )
        pq.write_table(
            pa.table({
                "name": pa.array(list(problem.target_names), pa.string()),
                "target": pa.array(problem.t, pa.float64()),
            }),
            tmp / TARGETS,
        )
        pq.write_table(
            pa.table({
                "row": pa.array(A.row[order].astype(np.int32), pa.int32()),
                "col": pa.array(A.col[order].astype(np.int32), pa.int32()),
                "value": pa.array(A.data[order], pa.float64()),
            }),
            tmp / MATRIX,
        )
        (tmp / PROBLEM_JSON).write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    return Path(directory)


def read_settings(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """problem.json of a problem directory, checked for the bounds and an objective."""
    path = Path(directory) / PROBLEM_JSON
    if not path.is_file():
        raise InputError(f"{path}: missing (is {directory} a problem directory?)")
    settings = read_json_object(path)
    for key in ("lower", "upper") + (() if "objective" in settings else ("penalty",)):
        if key not in settings:
            raise InputError(f"{path}: missing key {key!r}")
        value = settings[key]
        if not is_number(value):  # `"penalty": true` is not 1
            raise InputError(f"{path}: {key!r} must be a number, found {value!r}")
    return settings


def read_objective(settings: dict[str, Any], where: str) -> Objective:
    """The objective problem.json records; the first release's layout means `penalized`."""
    if "objective" not in settings:
        return objective_from_dict({"name": "penalized", "penalty": settings["penalty"]}, where)
    return objective_from_dict(settings["objective"], f"{where}: objective")


def read_problem(directory: str | os.PathLike[str]) -> Problem:
    """Read and validate a problem directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such problem directory")
    settings = read_settings(directory)
    records = read_table_checked(directory / RECORDS, {"w0": "float64"}, optional={"record_id": "int64"})
    targets = read_table_checked(directory / TARGETS, {"name": "string", "target": "float64"})
    matrix = read_table_checked(directory / MATRIX, {"row": "int32", "col": "int32", "value": "float64"})

    n = records.num_rows
    J = targets.num_rows
    row = matrix.column("row").to_numpy()
    col = matrix.column("col").to_numpy()
    value = matrix.column("value").to_numpy()
    where = directory / MATRIX
    if row.size:
        if row.min() < 0 or row.max() >= n:
            bad = int(np.flatnonzero((row < 0) | (row >= n))[0])
            raise InputError(f"{where}: entry {bad} has row {row[bad]}, outside 0..{n - 1}")
        if col.min() < 0 or col.max() >= J:
            bad = int(np.flatnonzero((col < 0) | (col >= J))[0])
            raise InputError(f"{where}: entry {bad} has col {col[bad]}, outside 0..{J - 1}")
        key = row.astype(np.int64) * J + col
        steps = np.diff(key)
        if np.any(steps <= 0):
            bad = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise InputError(
                f"{where}: entries must be sorted by row then col without duplicates; "
                f"entry {bad} (row {row[bad]}, col {col[bad]}) breaks the order"
            )
    A = sp.csr_matrix((value, (row, col)), shape=(n, J))
    names = targets.column("name")
    if names.null_count:
        raise InputError(f"{directory / TARGETS}: column 'name' has {names.null_count} missing value(s)")
    ids = records.column("record_id").to_numpy() if "record_id" in records.column_names else None
    try:
        return Problem.from_arrays(
            A,
            records.column("w0").to_numpy(),
            targets.column("target").to_numpy(),
            objective=read_objective(settings, str(directory / PROBLEM_JSON)),
            lower=settings["lower"], upper=settings["upper"],
            record_ids=ids,
            target_names=names.to_pylist(),
        )
    except InputError as exc:
        raise InputError(f"{directory}: {exc}") from None
