"""The area recipe: which targets an area gets, one row per target family.

`data/recipe.csv` columns:

    family         the target's name stem, e.g. `wages`
    variable       the record variable (goldstar.inputs.build's SOI names; `business_net_income`
                   is derived: business_net_profits - business_net_losses)
    kind           `count` (returns with variable > 0, as goldstar.inputs.build counts) or `amount`
    agi_stub       `each` (one target in each of the 10 SOI AGI stubs) or `all`
    filing_status  `all`, `single`, `joint`, `separate` or `head_of_household`
    soi_column     the SOI state-table column whose area shares split the national total
    description    free text

Only filers count. A target is named `<family>/agi_stub_<kk>` (kk = 01..10) or
`<family>/all`. Its column of the cell matrix A holds each filer's
contribution: 1 for a count, the variable's value for an amount, within the
stub and filing status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import InputError
from ..store.tables import read_text_table

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_RECIPE = DATA_DIR / "recipe.csv"
RECIPE_COLUMNS = ("family", "variable", "kind", "agi_stub", "filing_status", "soi_column", "description")
KINDS = ("count", "amount")
STUB_CHOICES = ("each", "all")
FILING_STATUS = {
    "all": None, "single": "SINGLE", "joint": "JOINT", "separate": "SEPARATE",
    "head_of_household": "HEAD_OF_HOUSEHOLD",
}
# SOI Historic Table 2 AGI stubs 1..10: [lower, upper) in dollars; stub 0 is all AGI.
AGI_STUBS = {
    1: (-math.inf, 1.0), 2: (1.0, 10_000.0), 3: (10_000.0, 25_000.0), 4: (25_000.0, 50_000.0),
    5: (50_000.0, 75_000.0), 6: (75_000.0, 100_000.0), 7: (100_000.0, 200_000.0),
    8: (200_000.0, 500_000.0), 9: (500_000.0, 1_000_000.0), 10: (1_000_000.0, math.inf),
}
DERIVED = {"business_net_income": (("business_net_profits", 1.0), ("business_net_losses", -1.0))}


@dataclass(frozen=True)
class Cell:
    """One target cell: a family in one AGI stub (0 = all AGI)."""

    family: str
    variable: str
    kind: str
    stub: int
    filing_status: str
    soi_column: str

    @property
    def name(self) -> str:
        return f"{self.family}/all" if self.stub == 0 else f"{self.family}/agi_stub_{self.stub:02d}"


def read_recipe(path: str | Path = DEFAULT_RECIPE) -> pd.DataFrame:
    """The recipe table, validated; InputError names the row and column that is wrong."""
    path = Path(path)
    recipe = read_text_table(path, "recipe file", RECIPE_COLUMNS)
    if len(recipe) == 0:
        raise InputError(f"recipe file {path}: has no rows")
    for column, allowed in (("kind", KINDS), ("agi_stub", STUB_CHOICES), ("filing_status", tuple(FILING_STATUS))):
        bad = ~recipe[column].isin(allowed)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"recipe file {path}: row {row + 2}, column `{column}`: {recipe[column].iloc[row]!r} "
                f"is not one of {', '.join(allowed)}"
            )
    dupes = recipe["family"][recipe["family"].duplicated()]
    if len(dupes):
        raise InputError(f"recipe file {path}: family {dupes.iloc[0]!r} appears twice")
    return recipe


def cells(recipe: pd.DataFrame) -> list[Cell]:
    """Every target cell of the recipe, in recipe order then stub order."""
    out = []
    for _, row in recipe.iterrows():
        stubs = list(AGI_STUBS) if row["agi_stub"] == "each" else [0]
        for stub in stubs:
            out.append(Cell(row["family"], row["variable"], row["kind"], stub, row["filing_status"], row["soi_column"]))
    return out


def record_variable(records: pd.DataFrame, variable: str) -> np.ndarray:
    """A record variable by name, derived ones (DERIVED) computed; InputError when absent."""
    if variable in DERIVED:
        return sum(sign * record_variable(records, part) for part, sign in DERIVED[variable])
    if variable not in records.columns:
        raise InputError(f"the recipe asks for record variable {variable!r}, which the records lack")
    return records[variable].to_numpy(dtype=np.float64)


def cell_matrix(records: pd.DataFrame, cell_list: list[Cell]) -> sp.csr_matrix:
    """A (n records x cells): each filer's contribution to each cell (module docstring)."""
    filer = records["is_tax_filer"].astype(float).to_numpy() != 0
    agi = records["adjusted_gross_income"].to_numpy(dtype=np.float64)
    status = records["filing_status"].astype(str).to_numpy()
    rows, cols, vals = [], [], []
    for j, cell in enumerate(cell_list):
        mask = filer.copy()
        if cell.stub:
            lower, upper = AGI_STUBS[cell.stub]
            mask &= (agi >= lower) & (agi < upper)
        wanted = FILING_STATUS[cell.filing_status]
        if wanted is not None:
            mask &= status == wanted
        x = record_variable(records, cell.variable)
        column = (x > 0).astype(np.float64) if cell.kind == "count" else x
        idx = np.flatnonzero(mask & (column != 0))
        rows.append(idx)
        cols.append(np.full(idx.size, j, dtype=np.int64))
        vals.append(column[idx])
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(records), len(cell_list))
    )
    A.sort_indices()
    return A
