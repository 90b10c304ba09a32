"""The record variables a target cell reads, in Tax-Calculator's names, from a record table.

The record table is what a records engine makes (goldstar.inputs.engines): goldstar's SOI
names, plus the Tax-Calculator variables the engine keeps under their own names. A cell's
variable `v` is, in this order:

1. the table's column `v` (the taxcalc engine keeps the area variables it computes;
   the cps engine passes the CPS file's own input columns through);
2. the SOI-named column that goldstar.inputs.engines.taxcalc_.MAPPING says *is* `v`
   (c00100 is adjusted_gross_income, c02500 taxable_social_security ...): with the cps
   engine these are its own derivations (goldstar.inputs.cps);
3. a variable TMD derives from others (DERIVED: capgains_net = p22250 + p23250).

Anything else is an error naming the variable (exit 2): a recipe variable the records lack is
never read as zero, nor stood in for by another variable.

Three columns place a record in a cell: c00100 (the AGI bin), MARS (the filing status; from
goldstar's `filing_status` words when the table has no MARS) and the scope (goldstar.areas.spec:
the table's `scope` column, else TMD's `data_source`, else goldstar's `is_tax_filer`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..inputs.engines.taxcalc_ import MAPPING

DERIVED: dict[str, tuple[str, ...]] = {"capgains_net": ("p22250", "p23250")}
SOI_NAME_OF = {f.tc: f.soi for f in MAPPING if f.part == "value"}
MARS_OF_FILING_STATUS = {"SINGLE": 1, "JOINT": 2, "SEPARATE": 3, "HEAD_OF_HOUSEHOLD": 4}
FILER_SCOPE, NONFILER_SCOPE = 1, 2
ENGINE_HINT = (" (the cps engine has only what the CPS file's inputs give; Tax-Calculator computes the rest: "
               "--engine taxcalc)")


def has_variable(table: pd.DataFrame, name: str) -> bool:
    if name in table.columns or SOI_NAME_OF.get(name) in table.columns:
        return True
    return name in DERIVED and all(has_variable(table, part) for part in DERIVED[name])


def variable(table: pd.DataFrame, name: str) -> np.ndarray:
    """Record variable `name` (module docstring), float64; InputError when the records lack it."""
    if name in table.columns:
        return table[name].to_numpy(dtype=np.float64)
    if SOI_NAME_OF.get(name) in table.columns:
        return table[SOI_NAME_OF[name]].to_numpy(dtype=np.float64)
    if name in DERIVED and all(has_variable(table, part) for part in DERIVED[name]):
        parts = [variable(table, part) for part in DERIVED[name]]
        return np.sum(parts, axis=0) if len(parts) > 1 else parts[0]
    raise InputError(f"the records lack variable {name!r}, which a target needs{ENGINE_HINT}")


def mars(table: pd.DataFrame) -> np.ndarray:
    """Each record's MARS code."""
    if "MARS" in table.columns:
        return table["MARS"].to_numpy().astype(np.int64)
    if "filing_status" not in table.columns:
        raise InputError("the records have neither MARS nor filing_status: the filing status of a target "
                         "cannot be told")
    status = table["filing_status"].astype(str)
    unknown = ~status.isin(list(MARS_OF_FILING_STATUS))
    if unknown.any():
        raise InputError(f"the records' filing_status {status[unknown].iloc[0]!r} is not one of "
                         f"{', '.join(MARS_OF_FILING_STATUS)}")
    return status.map(MARS_OF_FILING_STATUS).to_numpy().astype(np.int64)


def scope(table: pd.DataFrame) -> np.ndarray:
    """Each record's scope, 1 (filer) or 2 (non-filer) (module docstring)."""
    if "scope" in table.columns:
        return table["scope"].to_numpy().astype(np.int64)
    if "data_source" in table.columns:
        return np.where(table["data_source"].to_numpy() == 1, FILER_SCOPE, NONFILER_SCOPE)
    if "is_tax_filer" in table.columns:
        return np.where(table["is_tax_filer"].astype(float).to_numpy() != 0, FILER_SCOPE, NONFILER_SCOPE)
    raise InputError("the records have none of scope, data_source or is_tax_filer: a target's scope "
                     "(filers or not) cannot be told")
