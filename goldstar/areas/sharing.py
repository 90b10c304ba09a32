"""The sharing table: which SOI state-table column splits a target cell among areas.

`data/sharing.csv` (or `--sharing FILE`), one row per (varname, count, fstatus):

    soi   the SOI column, or a sum of columns written `A07225+A11070`

An area's target of a cell is the national weighted total of the cell times the area's share of
the cell's SOI value (goldstar.areas.targets). A cell's SOI value for an area is its `soi`
columns summed over the SOI AGI stubs its bin covers: the whole-AGI row (stub 0) for a cell
over all AGI, else the stubs whose union is the bin exactly, so that the district spec's
[$500,000, no bound) takes the state table's stubs 9 and 10 together. A bin that does not fall
on stub edges has no SOI value: an error naming the recipe line. Scope is not part of the key:
SOI counts filers only, and every scope of a cell shares alike.

Adding a target to a recipe is adding its row to the recipe and, for a new (varname, count,
fstatus), one row here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputError
from .spec import COUNT_CODES, FILING_STATUSES, UNBOUNDED, Cell, code, read_rows

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_SHARING = DATA_DIR / "sharing.csv"
SHARING_COLUMNS = ("varname", "count", "fstatus", "soi")
# SOI Historic Table 2 AGI stubs 1..10 as [lower, upper); +-UNBOUNDED for the open ends.
SOI_STUBS: dict[int, tuple[float, float]] = {
    1: (-UNBOUNDED, 1.0), 2: (1.0, 10_000.0), 3: (10_000.0, 25_000.0), 4: (25_000.0, 50_000.0),
    5: (50_000.0, 75_000.0), 6: (75_000.0, 100_000.0), 7: (100_000.0, 200_000.0),
    8: (200_000.0, 500_000.0), 9: (500_000.0, 1_000_000.0), 10: (1_000_000.0, UNBOUNDED),
}
ALL_AGI = 0


@dataclass(frozen=True)
class Sharing:
    """The sharing table: (varname, count, fstatus) -> the SOI columns whose sum shares the cell."""

    columns_by_key: dict[tuple[str, int, int], tuple[str, ...]]
    path: Path

    def columns(self, cell: Cell, where: str) -> tuple[str, ...]:
        key = (cell.varname, cell.count, cell.fstatus)
        if key not in self.columns_by_key:
            raise InputError(f"{where}: the sharing table {self.path} has no row for varname {cell.varname}, "
                             f"count {cell.count}, fstatus {cell.fstatus}; add one naming the SOI column that "
                             "shares it among areas")
        return self.columns_by_key[key]

    def all_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for cols in self.columns_by_key.values() for c in cols))


def read_sharing(path: str | Path = DEFAULT_SHARING) -> Sharing:
    """The sharing table, validated; InputError names the line and column that is wrong."""
    path = Path(path)
    where = f"sharing table {path}"
    out: dict[tuple[str, int, int], tuple[str, ...]] = {}
    for line, row in read_rows(path, "sharing table", SHARING_COLUMNS):
        at = f"{where}: line {line}"
        varname = row["varname"].strip()
        key = (varname, code(row["count"], COUNT_CODES, at, "count"),
               code(row["fstatus"], FILING_STATUSES, at, "fstatus"))
        columns = tuple(c.strip() for c in row["soi"].split("+"))
        if not varname or not all(columns):
            raise InputError(f"{at}: `varname` and `soi` must not be empty")
        if key in out:
            raise InputError(f"{at}: varname {key[0]}, count {key[1]}, fstatus {key[2]} has a row already")
        out[key] = columns
    return Sharing(out, path)


def soi_stubs(cell: Cell, where: str) -> tuple[int, ...]:
    """The SOI AGI stubs whose union is the cell's bin (ALL_AGI for the whole range)."""
    if cell.agilo <= -UNBOUNDED and cell.agihi >= UNBOUNDED:
        return (ALL_AGI,)
    inside = [k for k, (lo, hi) in SOI_STUBS.items() if lo >= cell.agilo and hi <= cell.agihi]
    covered = (SOI_STUBS[inside[0]][0], SOI_STUBS[inside[-1]][1]) if inside else None
    if covered != (cell.agilo, cell.agihi) or any(SOI_STUBS[a][1] != SOI_STUBS[b][0]
                                                  for a, b in zip(inside, inside[1:])):
        edges = sorted({e for lo, hi in SOI_STUBS.values() for e in (lo, hi) if math.isfinite(e)
                        and abs(e) < UNBOUNDED})
        raise InputError(f"{where}: the AGI bin [{cell.agilo!r}, {cell.agihi!r}) does not fall on the SOI "
                         f"table's AGI stub edges ({', '.join(f'{e:g}' for e in edges)}, and +-9e99)")
    return tuple(inside)


def soi_values(soi: pd.DataFrame, areas: list[str], cell: Cell, columns: tuple[str, ...],
               where: str) -> np.ndarray:
    """The cell's SOI value for each area (module docstring); `soi` indexed by (STATE, AGI_STUB)."""
    missing = [c for c in columns if c not in soi.columns]
    if missing:
        raise InputError(f"{where}: SOI column(s) {', '.join(missing)} are not in the SOI state table")
    total = np.zeros(len(areas))
    for column in columns:
        for stub in soi_stubs(cell, where):
            total = total + soi[column].xs(stub, level="AGI_STUB").reindex(areas).to_numpy()
    return total
