"""Adapter: the public CPS tax-unit file (Tax-Calculator input names) -> SOI variable names.

TMD gets its SOI variables by running Tax-Calculator on its records. The
public CPS file carries only raw inputs, so the default problem approximates
what Tax-Calculator would compute. Every approximation is listed here and in
docs/taxcalc.md:

- adjusted_gross_income: wages + taxable interest + ordinary dividends +
  business income + capital-gain distributions + farm income + IRA
  distributions + taxable pensions + unemployment + alimony + taxable social
  security, less the above-the-line adjustments the file has (IRA, student
  loan interest, domestic production, self-employed health insurance and
  SEP/Keogh contributions). No Schedule D, E or other income: the file has none.
- taxable_social_security: the two-tier provisional-income rule (50% above
  $25,000 / $32,000 joint, 85% above $34,000 / $44,000 joint; separate filers
  taxed on 85% from the first dollar), without its finer points.
- is_tax_filer: a 2015 filing-requirement rule: gross income at or above the
  filing threshold for the filing status and age (single $10,300, $11,850 at
  65+; joint $20,600 / $21,850 / $23,100 by spouses 65+; separate $4,000;
  head of household $13,250, $14,800 at 65+), or self-employment income of
  $400 or more, or any wages (filing to recover withholding).
- capital_gains_gross = positive capital-gain distributions (no Schedule D);
  capital_gains_losses, partnership_and_s_corp_income and _losses are zero
  (not on the file), so their targets drop out.
- Amounts are the file's 2014 values, not aged to 2015.
- weight = s006 / 100; record_id = RECID; filing_status from MARS.

The file's own Tax-Calculator input columns (MARS, XTOT and every eNNNNN / pNNNNN) pass
through under their names, for the area recipes (goldstar.areas.variables).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..store.tables import whole_numbers

FILING_STATUS_BY_MARS = {1: "SINGLE", 2: "JOINT", 3: "SEPARATE", 4: "HEAD_OF_HOUSEHOLD"}
# The vendored CPS file stores s006 as the weight times 100 (goldstar/data/README.md).
S006_PER_WEIGHT = 100.0

# 2015 gross-income filing thresholds, (under 65, one 65+, both 65+) by MARS
FILING_THRESHOLD_2015 = {
    1: (10300.0, 11850.0, 11850.0),
    2: (20600.0, 21850.0, 23100.0),
    3: (4000.0, 4000.0, 4000.0),
    4: (13250.0, 14800.0, 14800.0),
}
SELF_EMPLOYMENT_FILING_THRESHOLD = 400.0
# provisional-income bases for taxable social security, by MARS (first, second)
SS_BASES = {1: (25000.0, 34000.0), 2: (32000.0, 44000.0), 3: (0.0, 0.0), 4: (25000.0, 34000.0)}

CPS_COLUMNS = (
    "RECID", "s006", "MARS", "age_head", "age_spouse", "e00200", "e00300", "e00400",
    "e00600", "e00650", "e00800", "e00900", "e01100", "e01400", "e01500", "e01700",
    "e02100", "e02300", "e02400", "e03150", "e03210", "e03240", "e03270", "e03300",
)


PASSED_THROUGH = re.compile(r"^(MARS|XTOT|[ep]\d{5})$")


def taxable_social_security(mars: np.ndarray, benefits: np.ndarray, other_income: np.ndarray) -> np.ndarray:
    """Two-tier provisional-income rule (see the module docstring)."""
    base1 = np.array([SS_BASES[k][0] for k in range(1, 5)])[mars - 1]
    base2 = np.array([SS_BASES[k][1] for k in range(1, 5)])[mars - 1]
    provisional = other_income + 0.5 * benefits
    tier1 = np.minimum(0.5 * np.maximum(provisional - base1, 0.0), 0.5 * benefits)
    tier1 = np.minimum(tier1, 0.5 * (base2 - base1))
    tier2 = 0.85 * np.maximum(provisional - base2, 0.0)
    return np.minimum(tier1 + tier2, 0.85 * benefits)


def cps_to_soi(cps: pd.DataFrame) -> pd.DataFrame:
    """Map the CPS tax-unit table to the record table `goldstar build` reads."""
    missing = [c for c in CPS_COLUMNS if c not in cps.columns]
    if missing:
        raise InputError(f"CPS file lacks column(s): {', '.join(missing)}")
    mars = cps["MARS"].to_numpy()
    unknown = ~np.isin(mars, list(FILING_STATUS_BY_MARS))
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise InputError(f"CPS file: row {row} has MARS = {mars[row]!r}; expected 1, 2, 3 or 4")
    mars = mars.astype(np.int64)
    g = {c: cps[c].to_numpy(dtype=np.float64) for c in CPS_COLUMNS if c not in ("MARS", "RECID")}
    bad = ~(np.isfinite(g["s006"]) & (g["s006"] >= 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"CPS file: column 's006', row {row}: {g['s006'][row]!r} is not a weight "
                         f"(a finite number >= 0; {int(bad.sum())} such row(s))")

    adjustments = g["e03150"] + g["e03210"] + g["e03240"] + g["e03270"] + g["e03300"]
    income_before_ss = (
        g["e00200"] + g["e00300"] + g["e00600"] + g["e00800"] + g["e00900"] + g["e01100"]
        + g["e01400"] + g["e01700"] + g["e02100"] + g["e02300"]
    )
    taxable_ss = taxable_social_security(mars, g["e02400"], income_before_ss + g["e00400"])
    agi = income_before_ss + taxable_ss - adjustments

    gross_income = (
        np.maximum(g["e00200"], 0) + np.maximum(g["e00300"], 0) + np.maximum(g["e00600"], 0)
        + np.maximum(g["e00800"], 0) + np.maximum(g["e00900"], 0) + np.maximum(g["e01100"], 0)
        + np.maximum(g["e01400"], 0) + np.maximum(g["e01700"], 0) + np.maximum(g["e02100"], 0)
        + np.maximum(g["e02300"], 0) + taxable_ss
    )
    seniors = (g["age_head"] >= 65).astype(int) + ((mars == 2) & (g["age_spouse"] >= 65)).astype(int)
    threshold = np.array([FILING_THRESHOLD_2015[k] for k in range(1, 5)])[mars - 1, seniors]
    filer = (
        (gross_income >= threshold)
        | (g["e00900"] >= SELF_EMPLOYMENT_FILING_THRESHOLD)
        | (g["e00200"] > 0)
    )

    business = g["e00900"]
    passed = {c: cps[c].to_numpy() for c in cps.columns if PASSED_THROUGH.match(str(c))}
    return pd.DataFrame({
        "record_id": whole_numbers(cps["RECID"], "CPS file", "RECID"),
        "weight": g["s006"] / S006_PER_WEIGHT,
        "is_tax_filer": filer,
        "filing_status": [FILING_STATUS_BY_MARS[int(k)] for k in mars],
        "count": np.ones(len(cps)),
        "adjusted_gross_income": agi,
        "employment_income": g["e00200"],
        "business_net_profits": np.maximum(business, 0.0),
        "business_net_losses": np.maximum(-business, 0.0),
        "capital_gains_gross": np.maximum(g["e01100"], 0.0),
        "capital_gains_losses": np.zeros(len(cps)),
        "capital_gains_distributions": g["e01100"],
        "ordinary_dividends": g["e00600"],
        "qualified_dividends": g["e00650"],
        "partnership_and_s_corp_income": np.zeros(len(cps)),
        "partnership_and_s_corp_losses": np.zeros(len(cps)),
        "taxable_interest_income": g["e00300"],
        "exempt_interest": g["e00400"],
        "total_pension_income": g["e01500"],
        "taxable_pension_income": g["e01700"],
        "total_social_security": g["e02400"],
        "taxable_social_security": taxable_ss,
        "ira_distributions": g["e01400"],
        "unemployment_compensation": g["e02300"],
        **passed,
    })
