"""Area recipes: which target cells an area gets, in TMD's spec format (goldstar.areas.spec).

A recipe is a CSV with the columns varname, count, scope, fstatus, agilo, agihi and an optional
description, one row a cell. Four ship with goldstar (data/recipes/, source in data/README.md):

    goldstar-77     goldstar's own 77 cells (returns, AGI, filing statuses and wages by AGI stub;
                    seven income amounts over all AGI), filers only
    goldstar-69     goldstar-77 less the eight cells whose bands the additive coupling makes
                    unreachable together on the 51 states (docs/additive.md): for --additive
                    with hard bands
    tmd-states      TMD's state target spec (175 cells)
    tmd-districts   TMD's congressional-district spec (107 cells)

`--recipe NAME` without a path separator that names a shipped recipe is that recipe; anything
else is a path. The cell matrix A (records x cells) holds each record's contribution to each
cell: the variable's value for an amount, 1 for a count, within the cell's scope, AGI bin and
filing status (goldstar.areas.spec for the codes, goldstar.areas.variables for where the
variables come from).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import InputError
from ..hashing import file_hash
from . import variables
from .spec import SPEC_COLUMNS, Cell, check_unique, parse_cell, read_rows

DATA_DIR = Path(__file__).resolve().parent / "data"
RECIPES: dict[str, Path] = {
    "goldstar-77": DATA_DIR / "recipes" / "goldstar-77.csv",
    "goldstar-69": DATA_DIR / "recipes" / "goldstar-69.csv",
    "tmd-states": DATA_DIR / "recipes" / "tmd-states.csv",
    "tmd-districts": DATA_DIR / "recipes" / "tmd-districts.csv",
}
DEFAULT_RECIPE_NAME = "goldstar-77"
DEFAULT_RECIPE = RECIPES[DEFAULT_RECIPE_NAME]
# How each count code turns a variable into a record's contribution (goldstar.areas.spec).
CONTRIBUTION = {
    0: lambda x: x,
    1: lambda x: np.ones_like(x),
    2: lambda x: (x != 0).astype(np.float64),
    3: lambda x: (x > 0).astype(np.float64),
    4: lambda x: (x < 0).astype(np.float64),
}


def resolve_recipe(text: str | os.PathLike[str]) -> Path:
    """A shipped recipe's file by name, else the path given (module docstring)."""
    text = os.fspath(text)
    if os.sep not in text and "/" not in text and text in RECIPES:
        return RECIPES[text]
    path = Path(text)
    if not path.is_file():
        known = ", ".join(RECIPES)
        raise InputError(f"--recipe {text}: no such file, and not a shipped recipe ({known})")
    return path


def shipped_recipe(recorded: Any) -> str | None:
    """The name of the shipped recipe that `recorded` ({"file", "hash"}, as NationalData's hashes
    record a recipe) was made from: the same file name and content hash; None when it is none."""
    if not isinstance(recorded, dict):
        return None
    return next((name for name, path in RECIPES.items()
                 if recorded.get("file") == path.name and recorded.get("hash") == file_hash(path)), None)


def read_recipe(path: str | os.PathLike[str] = DEFAULT_RECIPE) -> list[Cell]:
    """The recipe's cells, validated; InputError names the file, line and column that is wrong."""
    path = Path(path)
    rows = read_rows(path, "recipe file", SPEC_COLUMNS)
    where = f"recipe file {path}"
    cells = [parse_cell(row, f"{where}: line {line}") for line, row in rows]
    check_unique(cells, [line for line, _ in rows], where)
    return cells


def recipe_lines(path: str | os.PathLike[str]) -> list[int]:
    """The file line of each cell of a recipe, for messages."""
    return [line for line, _ in read_rows(Path(path), "recipe file", SPEC_COLUMNS)]


def check_variables(records: pd.DataFrame, cells: list[Cell], where: str) -> None:
    """Every variable the cells read is in the records, or InputError naming each that is not."""
    missing = list(dict.fromkeys(c.varname for c in cells
                                 if c.count != 1 and not variables.has_variable(records, c.varname)))
    if missing:
        raise InputError(f"{where}: the records lack variable(s) {', '.join(missing)}, which its targets "
                         f"need{variables.ENGINE_HINT}")


def cell_matrix(records: pd.DataFrame, cells: list[Cell]) -> sp.csr_matrix:
    """A (n records x cells): each record's contribution to each cell (module docstring)."""
    agi = variables.variable(records, "c00100")
    mars = variables.mars(records)
    scope = variables.scope(records) if any(c.scope for c in cells) else None
    cache: dict[str, np.ndarray] = {}
    rows, cols, vals = [], [], []
    for j, cell in enumerate(cells):
        if cell.varname not in cache:
            cache[cell.varname] = (np.ones(len(records)) if cell.count == 1
                                   and not variables.has_variable(records, cell.varname)
                                   else variables.variable(records, cell.varname))
        mask = (agi >= cell.agilo) & (agi < cell.agihi)
        if cell.scope:
            mask &= scope == cell.scope
        if cell.fstatus:
            mask &= mars == cell.fstatus
        column = CONTRIBUTION[cell.count](cache[cell.varname])
        idx = np.flatnonzero(mask & (column != 0))
        rows.append(idx)
        cols.append(np.full(idx.size, j, dtype=np.int64))
        vals.append(column[idx])
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(records), len(cells))
    )
    A.sort_indices()
    return A
