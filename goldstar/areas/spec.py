"""A target cell in TMD's spec form, shared by recipes and per-area target files.

A cell is one row of TMD's target specs (`state_target_spec.csv`, `cd_target_spec.csv`) and of
its per-area target files (`<area>_targets.csv`):

    varname   a Tax-Calculator variable name (c00100, e00200, XTOT, eitc ...)
    count     0 amount (the variable's weighted sum), 1 all returns (a weighted count of every
              record in the cell, whatever the variable), 2 returns with the variable != 0,
              3 with the variable > 0, 4 with the variable < 0
    scope     0 every record, 1 filers, 2 non-filers. On a record table with TMD's `data_source`
              column, filers are data_source 1 (records from the IRS public-use file) and
              non-filers data_source 0 (from the CPS); on the embedded CPS file, which has no
              such column, filers are the records goldstar's filing rule makes filers
              (goldstar.inputs.cps, goldstar.inputs.engines.taxcalc_)
    fstatus   0 every filing status; 1..5 the records with that MARS (1 single, 2 joint,
              3 separate, 4 head of household, 5 surviving spouse)
    agilo, agihi   the AGI bin [agilo, agihi) on c00100; +-9e99 stand for no bound

A cell's name is TMD's label, `varname/cnt=C/scope=S/agi=[lo,hi)/fs=F`, the bounds written as
Python writes a float (`c00100/cnt=1/scope=1/agi=[500000.0,9e+99)/fs=0`). `parse_name` reads such
a label back, so that a name typed by hand (`agi=[5e5,9e99)`) names the same cell.

Every reader here names the file, line and column of what is wrong (InputError, exit 2).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputError

COUNT_CODES = {0: "amount", 1: "all returns", 2: "nonzero count", 3: "positive count", 4: "negative count"}
SCOPES = {0: "every record", 1: "filers", 2: "non-filers"}
FILING_STATUSES = {0: "all", 1: "single", 2: "joint", 3: "separate", 4: "head of household",
                   5: "surviving spouse"}
UNBOUNDED = 9e99  # TMD's stand-in for an open end of an AGI bin
SPEC_COLUMNS = ("varname", "count", "scope", "fstatus", "agilo", "agihi")
POPULATION_VARIABLE = "XTOT"
_VARNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^(?P<varname>[^/]+)/cnt=(?P<count>[^/]+)/scope=(?P<scope>[^/]+)"
                   r"/agi=\[(?P<agilo>[^,\]]+),(?P<agihi>[^)]+)\)/fs=(?P<fstatus>[^/]+)$")


@dataclass(frozen=True)
class Cell:
    """One target cell (module docstring); `description` is free text and not part of its identity."""

    varname: str
    count: int
    scope: int
    fstatus: int
    agilo: float
    agihi: float
    description: str = ""

    @property
    def key(self) -> tuple[str, int, int, int, float, float]:
        return (self.varname, self.count, self.scope, self.fstatus, self.agilo, self.agihi)

    @property
    def name(self) -> str:
        return (f"{self.varname}/cnt={self.count}/scope={self.scope}"
                f"/agi=[{self.agilo!r},{self.agihi!r})/fs={self.fstatus}")

    @property
    def is_amount(self) -> bool:
        return self.count == 0

    @property
    def is_population(self) -> bool:
        """TMD's population row: XTOT amount over every record, every bin and filing status."""
        return (self.varname == POPULATION_VARIABLE and self.count == 0 and self.scope == 0
                and self.fstatus == 0 and self.agilo <= -UNBOUNDED and self.agihi >= UNBOUNDED)


def code(text: str, allowed: dict[int, str], where: str, column: str) -> int:
    """A whole-number code of `allowed` from its text, or InputError naming where and the codes."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != round(value) or int(value) not in allowed:
        codes = ", ".join(f"{k} {v}" for k, v in allowed.items())
        raise InputError(f"{where}, column `{column}`: {text.strip()!r} is not one of the codes {codes}")
    return int(value)


def _bound(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value):
        raise InputError(f"{where}, column `{column}`: {text.strip()!r} is not a number")
    return max(-UNBOUNDED, min(UNBOUNDED, value))  # -inf / inf read as TMD's open ends


def parse_cell(fields: dict[str, str], where: str) -> Cell:
    """One cell from its text fields (padded fields and literals like `9e99` allowed)."""
    varname = fields["varname"].strip()
    if not _VARNAME.match(varname):
        raise InputError(f"{where}, column `varname`: {fields['varname']!r} is not a variable name")
    cell = Cell(
        varname=varname,
        count=code(fields["count"], COUNT_CODES, where, "count"),
        scope=code(fields["scope"], SCOPES, where, "scope"),
        fstatus=code(fields["fstatus"], FILING_STATUSES, where, "fstatus"),
        agilo=_bound(fields["agilo"], where, "agilo"),
        agihi=_bound(fields["agihi"], where, "agihi"),
        description=fields.get("description", "").strip(),
    )
    if not cell.agilo < cell.agihi:
        raise InputError(f"{where}: the AGI bin [{cell.agilo!r}, {cell.agihi!r}) is empty (agilo must be below agihi)")
    if cell.varname == POPULATION_VARIABLE and cell.count != 0:
        raise InputError(f"{where}: {POPULATION_VARIABLE} is the population (persons); only its amount "
                         "(count 0) is a target")
    return cell


def read_rows(path: str | Path, what: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a TMD-style CSV as (line number, {column: text}): `#` lines and blank lines are
    skipped, fields keep their padding for the parsers to strip. InputError names the file when
    it cannot be read, is not UTF-8, or lacks a column."""
    path = Path(path)
    where = f"{what} {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{where}: not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror})") from None
    numbered = [(k + 1, line) for k, line in enumerate(text.splitlines())
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise InputError(f"{where}: has no header row")
    parsed = csv.reader([line for _, line in numbered])
    try:
        fields_by_line = [(number, fields) for (number, _), fields in zip(numbered, parsed)]
    except csv.Error as exc:
        raise InputError(f"{where}: cannot be read as CSV ({exc})") from None
    header_line, header = fields_by_line[0]
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"{where}: line {header_line}: lacks column(s) {', '.join(missing)}")
    rows = []
    for number, fields in fields_by_line[1:]:
        if len(fields) != len(header):
            raise InputError(f"{where}: line {number}: {len(fields)} fields, the header has {len(header)}")
        rows.append((number, dict(zip(header, fields))))
    if not rows:
        raise InputError(f"{where}: has no rows")
    return rows


def check_unique(cells: list[Cell], lines: list[int], where: str) -> None:
    """The same cell twice would be two targets of one quantity: refused by line."""
    seen: dict[tuple, int] = {}
    for cell, line in zip(cells, lines):
        if cell.key in seen:
            raise InputError(f"{where}: line {line}: {cell.name} is the cell of line {seen[cell.key]} again")
        seen[cell.key] = line


def parse_name(name: str) -> tuple[str, int, int, int, float, float]:
    """The key of a cell from its TMD label (module docstring); InputError when it is not one."""
    m = _NAME.match(name.strip())
    if m is None:
        raise InputError(f"{name!r} is not a target name of the form varname/cnt=C/scope=S/agi=[lo,hi)/fs=F")
    cell = parse_cell({k: m.group(k) for k in SPEC_COLUMNS}, f"target name {name!r}")
    return cell.key


def cells_frame(cells: list[Cell]) -> pd.DataFrame:
    """The cells as a table in TMD's spec columns (for reports and files)."""
    return pd.DataFrame({
        "varname": [c.varname for c in cells], "count": np.array([c.count for c in cells], dtype=np.int64),
        "scope": np.array([c.scope for c in cells], dtype=np.int64),
        "fstatus": np.array([c.fstatus for c in cells], dtype=np.int64),
        "agilo": np.array([c.agilo for c in cells]), "agihi": np.array([c.agihi for c in cells]),
    })
