"""SOI target table + record table -> Problem, following TMD's reweighting rules.

The rules (TMD's `build_loss_matrix`, restated):
- "Taxable only" rows are skipped; only the year asked for is kept.
- AGI-level variables are targeted in every row that has an AGI bound, for
  every filing status the table has; aggregate-level variables only in the
  all-AGI row.
- Column j of A is: filer x (lower <= AGI < upper) x filing-status match x
  (the variable, or the indicator variable > 0 for count rows). One column per
  distinct label, labelled as TMD labels them, e.g.
  `employment income/total/AGI in [10k, 15k)/all returns/All`.
- Columns no record contributes to are dropped, with a warning naming them.
- w0 = weight x (SOI count of all returns) / (weighted count of filers).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import InputError
from ..defaults import DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_UPPER, DEFAULT_YEAR, SHOWN_DROPPED
from ..problem.model import Problem

AGI_LEVEL_VARIABLES = (
    "adjusted_gross_income", "count", "employment_income", "business_net_profits",
    "capital_gains_gross", "ordinary_dividends", "partnership_and_s_corp_income",
    "qualified_dividends", "taxable_interest_income", "total_pension_income",
    "total_social_security",
)
AGGREGATE_LEVEL_VARIABLES = (
    "business_net_losses", "capital_gains_distributions", "capital_gains_losses",
    "exempt_interest", "ira_distributions", "partnership_and_s_corp_losses",
    "taxable_pension_income", "taxable_social_security", "unemployment_compensation",
)
RECORD_COLUMNS = ("weight", "is_tax_filer", "filing_status") + AGI_LEVEL_VARIABLES + AGGREGATE_LEVEL_VARIABLES
FILING_STATUSES = ("SINGLE", "JOINT", "SEPARATE", "HEAD_OF_HOUSEHOLD")
SOI_FILING_STATUS = {
    "All": None,
    "Single": "SINGLE",
    "Married Filing Jointly/Surviving Spouse": "JOINT",
    "Married Filing Separately": "SEPARATE",
    "Head of Household": "HEAD_OF_HOUSEHOLD",
}
TARGET_COLUMNS = (
    "Year", "SOI table", "XLSX column", "XLSX row", "Variable", "Filing status",
    "AGI lower bound", "AGI upper bound", "Count", "Taxable only", "Full population", "Value",
)


@dataclass
class BuildInfo:
    """What the build did, for printing and for problem.json."""

    year: int
    prescale: float
    filers: int
    dropped_targets: list[str] = field(default_factory=list)
    targets_by_variable: dict[str, int] = field(default_factory=dict)
    initial_totals: np.ndarray | None = None
    engine: dict[str, Any] | None = None  # the records engine's facts (goldstar.inputs.engines), for problem.json

    def metadata(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "prescale": self.prescale,
            "filers": self.filers,
            "dropped_targets": self.dropped_targets,
            "targets_by_variable": self.targets_by_variable,
        }


def agi_label(lower: float, upper: float) -> str:
    """TMD's AGI range label, e.g. '[10k, 15k)' or '(-inf, 0)'."""
    left = "(" if lower == -math.inf else "["
    return f"{left}{_format_amount(lower)}, {_format_amount(upper)})"


def _format_amount(x: float) -> str:
    if x == -math.inf:
        return "-inf"
    if x == math.inf:
        return "inf"
    if x < 1e3:
        return f"{x:.0f}"
    if x < 1e6:
        return f"{x / 1e3:.0f}k"
    if x < 1e9:
        return f"{x / 1e6:.1f}m"
    return f"{x / 1e9:.1f}bn"


def target_label(row: pd.Series) -> str:
    kind = "count" if row["Count"] else "total"
    variable = str(row["Variable"]).replace("_", " ")
    agi = agi_label(row["AGI lower bound"], row["AGI upper bound"])
    return f"{variable}/{kind}/AGI in {agi}/all returns/{row['Filing status']}"


def select_targets(targets: pd.DataFrame, year: int) -> pd.DataFrame:
    """The SOI rows TMD targets for `year`, in table order, one per distinct label (a row repeated
    with its Value is read once; repeated with another Value, InputError naming both rows)."""
    missing = [c for c in TARGET_COLUMNS if c not in targets.columns]
    if missing:
        raise InputError(f"target table lacks column(s): {', '.join(missing)}")
    for flag in ("Count", "Taxable only"):  # read as true or false below: nothing else may pass as one
        bad = ~targets[flag].isin([True, False])
        if bad.any():
            at = targets.index[bad.to_numpy()][0]
            raise InputError(f"target table: row {at}, column {flag!r}: {targets.loc[at, flag]!r} is not True or False")
    years = sorted(int(y) for y in pd.unique(targets["Year"]))
    if year not in years:
        raise InputError(f"the target table has no year {year}; it has {', '.join(map(str, years))}")
    rows = targets[(targets["Year"] == year) & ~targets["Taxable only"].astype(bool)]
    lower, upper = rows["AGI lower bound"], rows["AGI upper bound"]
    whole = (lower == -math.inf) & (upper == math.inf)
    keep = (rows["Variable"].isin(AGI_LEVEL_VARIABLES) & ~whole) | (
        rows["Variable"].isin(AGGREGATE_LEVEL_VARIABLES) & whole
    )
    rows = rows[keep].copy()
    swapped = ~(rows["AGI lower bound"] < rows["AGI upper bound"])
    if swapped.any():
        at = rows.index[swapped.to_numpy()][0]
        raise InputError(f"target table: row {at}: AGI lower bound {float(rows.loc[at, 'AGI lower bound'])!r} is not below "
                         f"its upper bound {float(rows.loc[at, 'AGI upper bound'])!r}")
    unknown = sorted(set(rows["Filing status"]) - set(SOI_FILING_STATUS))
    if unknown:
        raise InputError(f"target table: unknown filing status(es) {unknown}")
    bad_value = ~np.isfinite(rows["Value"].to_numpy(dtype=np.float64))
    if bad_value.any():
        raise InputError(f"target table: row {rows.index[np.flatnonzero(bad_value)[0]]} has no finite Value")
    rows["label"] = [target_label(r) for _, r in rows.iterrows()]
    values = rows.groupby("label", sort=False)["Value"]
    clash = values.nunique() > 1
    if clash.any():  # one target, two values: no row may silently win
        label = clash.index[clash.to_numpy()][0]
        at = rows.index[rows["label"] == label]
        raise InputError(f"target table: rows {', '.join(map(str, at))} are the same target ({label}) with different "
                         f"Values ({', '.join(repr(float(v)) for v in rows.loc[at, 'Value'])})")
    return rows.drop_duplicates("label", keep="first")


def check_records(records: pd.DataFrame) -> None:
    """Every column the build needs, numeric, with valid weights and filing statuses."""
    missing = [c for c in RECORD_COLUMNS if c not in records.columns]
    if missing:
        engine_file = {"RECID", "s006"} <= set(records.columns)  # Tax-Calculator's names, not the builder's
        raise InputError(f"record table lacks column(s): {', '.join(missing)}" + (
            "; it holds RECID and s006, an input file for an engine: give --engine cps or --engine taxcalc "
            "(engine='cps' or 'taxcalc' from Python)" if engine_file else ""))
    if len(records) == 0:
        raise InputError("record table has no rows")
    for column in RECORD_COLUMNS:
        if column == "filing_status":
            continue
        values = pd.to_numeric(records[column], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"record table: column {column!r}, row {row}: {records[column].iloc[row]!r} is not a "
                f"finite number ({int(bad.sum())} such row(s))"
            )
    weight = records["weight"].to_numpy(dtype=np.float64)
    if np.any(weight < 0):
        row = int(np.flatnonzero(weight < 0)[0])
        raise InputError(f"record table: column 'weight', row {row}: negative weight {weight[row]!r}")
    status = records["filing_status"].astype(str).to_numpy()
    unknown = ~np.isin(status, FILING_STATUSES)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise InputError(
            f"record table: column 'filing_status', row {row}: unknown filing status {status[row]!r} "
            f"(expected one of {', '.join(FILING_STATUSES)})"
        )


# How many dropped targets the warning names; problem.json lists them all.


def prescaled_weights(records: pd.DataFrame, targets: pd.DataFrame, year: int) -> tuple[np.ndarray, float, np.ndarray]:
    """(w0, prescale, filer): the records' weights scaled so that the filers add up to the SOI count
    of all returns for `year`, as TMD prescales before it solves."""
    total_row = targets[
        (targets["Year"] == year) & (targets["Variable"] == "count")
        & (targets["Filing status"] == "All") & ~targets["Taxable only"].astype(bool)
        & (targets["AGI lower bound"] == -math.inf) & (targets["AGI upper bound"] == math.inf)
    ]
    if len(total_row) != 1:
        raise InputError(
            f"the target table needs exactly one all-returns count row for {year} to prescale "
            f"the weights; it has {len(total_row)}"
        )
    filer = records["is_tax_filer"].astype(float).to_numpy() != 0
    weight = records["weight"].to_numpy(dtype=np.float64)
    filer_total = float(weight[filer].sum())
    if not filer_total > 0:
        raise InputError("record table: no filer has a positive weight, nothing to prescale")
    prescale = float(total_row["Value"].iloc[0]) / filer_total
    return weight * prescale, prescale, filer


def target_matrix(records: pd.DataFrame, selected: pd.DataFrame, filer: np.ndarray
                  ) -> tuple[sp.csr_matrix, list[str], np.ndarray, list[str]]:
    """(A, names, t, dropped): each filer's contribution to each selected target (1 for a count,
    the variable's value for an amount, within the AGI range and filing status), leaving out, by
    label, the targets no record contributes to."""
    agi = records["adjusted_gross_income"].to_numpy(dtype=np.float64)
    status = records["filing_status"].astype(str).to_numpy()
    values = {v: records[v].to_numpy(dtype=np.float64) for v in AGI_LEVEL_VARIABLES + AGGREGATE_LEVEL_VARIABLES}
    rows: list[np.ndarray] = []
    data: list[np.ndarray] = []
    names: list[str] = []
    t: list[float] = []
    dropped: list[str] = []
    for _, row in selected.iterrows():
        mask = filer & (agi >= row["AGI lower bound"]) & (agi < row["AGI upper bound"])
        wanted_status = SOI_FILING_STATUS[row["Filing status"]]
        if wanted_status is not None:
            mask &= status == wanted_status
        x = values[row["Variable"]]
        column = (x > 0).astype(np.float64) if row["Count"] else x
        idx = np.flatnonzero(mask & (column != 0))
        if idx.size == 0:
            dropped.append(row["label"])
            continue
        rows.append(idx)
        data.append(column[idx])
        names.append(row["label"])
        t.append(float(row["Value"]))
    if not names:
        return sp.csr_matrix((len(records), 0)), names, np.array(t), dropped
    cols = [np.full(r.size, j, dtype=np.int64) for j, r in enumerate(rows)]
    A = sp.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(len(records), len(names))
    )
    return A, names, np.array(t), dropped


def build_problem(
    records: pd.DataFrame,
    targets: pd.DataFrame,
    year: int = DEFAULT_YEAR,
    *,
    penalty: float = DEFAULT_PENALTY,
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
) -> tuple[Problem, BuildInfo]:
    """Build the reweighting Problem from a record table and an SOI target table."""
    check_records(records)
    selected = select_targets(targets, year)
    w0, prescale, filer = prescaled_weights(records, targets, year)
    A, names, t, dropped = target_matrix(records, selected, filer)
    if dropped:
        shown = "; ".join(dropped[:SHOWN_DROPPED]) + (
            f"; and {len(dropped) - SHOWN_DROPPED} more (all under build.dropped_targets in problem.json)"
            if len(dropped) > SHOWN_DROPPED else "")
        warnings.warn(f"dropping {len(dropped)} target(s) no record contributes to: {shown}",
                      UserWarning, stacklevel=2)
    if not names:
        raise InputError(f"no target for {year} has a contributing record")
    ids = records["record_id"].to_numpy() if "record_id" in records.columns else None
    problem = Problem.from_arrays(
        A, w0, t, penalty=penalty, lower=lower, upper=upper, record_ids=ids, target_names=names,
    )
    by_variable: dict[str, int] = {}
    for name in names:
        key = name.split("/")[0].replace(" ", "_")
        by_variable[key] = by_variable.get(key, 0) + 1
    info = BuildInfo(
        year=year, prescale=prescale, filers=int(filer.sum()), dropped_targets=dropped,
        targets_by_variable=by_variable, initial_totals=problem.fitted(np.ones(len(records))),
    )
    return problem, info
