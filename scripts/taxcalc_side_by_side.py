"""The builder's hand approximation (goldstar/inputs/cps.py) against Tax-Calculator, on the vendored CPS file.

Both for the same data year, unaged: Tax-Calculator runs the file for its data year
(2014) with no growfactors and no weights file, so both tables have the file's
own amounts and weight s006 / 100. Per SOI variable of the engine's mapping (and
the filer flag): weighted totals over all records, the difference, and the share
of records whose values differ by more than 1% (of the larger magnitude; both
zero counts as equal). Prints a Markdown table (docs/taxcalc.md's).

    python scripts/taxcalc_side_by_side.py [--year 2014] [--tolerance 0.01]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from goldstar.store.tables import read_table
from goldstar.defaults import DEFAULT_RECORDS
from goldstar.inputs.cps import cps_to_soi
from goldstar.inputs.engines.taxcalc_ import MAPPING, TaxcalcInputs, derive


def differ(a: np.ndarray, b: np.ndarray, tolerance: float) -> np.ndarray:
    """Records whose values differ by more than `tolerance` of the larger magnitude."""
    return np.abs(a - b) > tolerance * np.maximum(np.abs(a), np.abs(b))


def side_by_side(year: int, tolerance: float) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    tc, _ = derive(TaxcalcInputs(records=DEFAULT_RECORDS, year=year, data_year=2014))
    seconds = time.perf_counter() - start
    hand = cps_to_soi(read_table(DEFAULT_RECORDS, "CPS"))
    if not np.array_equal(tc["record_id"].to_numpy(), hand["record_id"].to_numpy()):
        raise SystemExit("ERROR: the two tables' records are not in the same order")
    weight = hand["weight"].to_numpy()
    if not np.allclose(weight, tc["weight"].to_numpy(), rtol=0, atol=0):
        raise SystemExit("ERROR: the two tables' weights differ")
    rows = []
    for name in [f.soi for f in MAPPING] + ["is_tax_filer"]:
        a = hand[name].to_numpy(dtype=np.float64)
        b = tc[name].to_numpy(dtype=np.float64)
        total_a, total_b = float(a @ weight) / 1e9, float(b @ weight) / 1e9
        rows.append({
            "variable": name,
            "hand ($bn)": total_a,
            "Tax-Calculator ($bn)": total_b,
            "difference ($bn)": total_b - total_a,
            f"records differing > {tolerance:.0%}": float(differ(a, b, tolerance).mean()),
        })
    return pd.DataFrame(rows), seconds


def markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    lines = [header, "|---|" + "---:|" * (len(table.columns) - 1)]
    for _, r in table.iterrows():
        cells = [r.iloc[0]]
        unit = "M" if r.iloc[0] == "is_tax_filer" else ""
        for v in r.iloc[1:4]:
            cells.append(f"{v * 1e3:,.2f}M" if unit else f"{v:,.1f}")
        cells.append(f"{r.iloc[4]:.2%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2014, help="Tax-Calculator's year (default 2014, unaged)")
    parser.add_argument("--tolerance", type=float, default=0.01, help="relative difference that counts (0.01)")
    args = parser.parse_args()
    table, seconds = side_by_side(args.year, args.tolerance)
    print(markdown(table))
    print(f"\n(derived table in {seconds:.1f} s; filer row: weighted counts in millions)")


if __name__ == "__main__":
    main()
