"""Tax-Calculator as the records engine: any Tax-Calculator input file -> the SOI-named record table.

The run is TMD's (`add_taxcalc_outputs`): `Records(data, start_year=data year,
gfactors, weights, adjust_ratios=None, exact_calculations=True)`, current-law
`Policy()`, `Calculator.advance_to_year(target year)`, `calc_all()`. With a
weights file the data are aged with the growfactors file (Tax-Calculator's own
when none is given) and the weights are the file's `WT<year>` / 100; without
one the amounts stay in the data year and the weights are the file's own
`s006` times `s006_scale` (0.01 for the vendored CPS file, whose `s006` is the
weight times 100; 1 for TMD's flat file, whose `s006` is the weight).

`MAPPING` is the one list of what each SOI variable is in Tax-Calculator's
names (TMD's `taxcalc_to_soi`, restricted to the variables the builder
targets); the table of docs/taxcalc.md is `mapping_markdown()`'s output.

Filers: records with `data_source == 1` (from the PUF) are filers, as in TMD.
Other records (CPS-only) file when
- gross income >= the filing threshold of their status and age (the IRS rule:
  standard deduction + the additional amount for each spouse 65 or over +
  personal exemptions, one per spouse; married filing separately: the
  exemption amount, or $5 once exemptions are zero), with the standard
  deduction, aged addition and exemption read from Tax-Calculator's policy
  parameters `STD`, `STD_Aged` and `II_em` for the target year; or
- self-employment income (e00900) is $400 or more; or
- they have wages (filing to get withholding back),
where gross income is the sum of the positive parts of the income items in
`GROSS_INCOME_ITEMS`. Dependent filers and blindness are not modelled.

Tax-Calculator is imported inside the functions that run it, never at module
import, so goldstar works without it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...store.tables import read_table, whole_numbers
from ...defaults import DEFAULT_RECORDS
from ...defaults import DEFAULT_YEAR, TAXCALC_PIN
from ...exceptions import InputError
from ...hashing import file_hash, frame_entry
from ..cps import FILING_STATUS_BY_MARS as CPS_FILING_STATUS_BY_MARS
from ..cps import S006_PER_WEIGHT, SELF_EMPLOYMENT_FILING_THRESHOLD
from .cache import CacheEntry, load_or_compute
from ...exceptions import EngineNotInstalled

PACKAGE = "taxcalc"
PIN = TAXCALC_PIN
INSTALL_HINT = (
    "the taxcalc engine needs Tax-Calculator: pip install 'goldstar[taxcalc]' "
    f"(it pins {PIN}), or `make install`"
)
DEFAULT_S006_SCALE = 1.0 / S006_PER_WEIGHT  # the vendored CPS file's (0.01)
# Married filing separately must file with gross income of $5 once exemptions are zero
# (IRS Publication 501, Table 1, 2018 on); before that the threshold is the exemption amount.
SEPARATE_MINIMUM = 5.0


@dataclass(frozen=True)
class Field:
    """One SOI variable of the record table and the Tax-Calculator variable it is.

    part: "value" (as is), "positive" (max(x, 0)) or "negative" (max(-x, 0)).
    """

    soi: str
    tc: str
    part: str = "value"
    note: str = ""

    def values(self, out: pd.DataFrame) -> np.ndarray:
        x = out[self.tc].to_numpy(dtype=np.float64)
        return PARTS[self.part](x)


PARTS = {
    "value": lambda x: x,
    "positive": lambda x: np.maximum(x, 0.0),
    "negative": lambda x: np.maximum(-x, 0.0),
}

MAPPING: tuple[Field, ...] = (
    Field("adjusted_gross_income", "c00100", note="AGI as Tax-Calculator computes it"),
    Field("employment_income", "e00200"),
    Field("business_net_profits", "e00900", "positive", "Schedule C"),
    Field("business_net_losses", "e00900", "negative", "Schedule C"),
    Field("capital_gains_gross", "c01000", "positive", "net capital gain in AGI (Schedule D, after the loss limit)"),
    Field("capital_gains_losses", "c01000", "negative", "net capital loss in AGI (at most $3,000)"),
    Field("capital_gains_distributions", "e01100"),
    Field("ordinary_dividends", "e00600"),
    Field("qualified_dividends", "e00650"),
    Field("partnership_and_s_corp_income", "e26270", "positive"),
    Field("partnership_and_s_corp_losses", "e26270", "negative"),
    Field("taxable_interest_income", "e00300"),
    Field("exempt_interest", "e00400"),
    Field("total_pension_income", "e01500"),
    Field("taxable_pension_income", "e01700"),
    Field("total_social_security", "e02400"),
    Field("taxable_social_security", "c02500", note="Tax-Calculator's provisional-income computation"),
    Field("ira_distributions", "e01400"),
    Field("unemployment_compensation", "e02300"),
)
# Columns of the derived table that are not a Field: how each is made.
OTHER_COLUMNS = {
    "record_id": "RECID",
    "weight": "s006 (x s006_scale without a weights file)",
    "filing_status": "MARS: 1 SINGLE, 2 JOINT, 3 SEPARATE, 4 HEAD_OF_HOUSEHOLD, 5 (surviving spouse) JOINT",
    "count": "1",
    "is_tax_filer": "data_source == 1, else the filing-requirement rule (module docstring)",
    "scope": "1 filer, 2 not: data_source when the records file has it (TMD's), else is_tax_filer",
}
# the CPS adapter's four, and Tax-Calculator's 5 (surviving spouse), who files as JOINT
FILING_STATUS_BY_MARS = {**CPS_FILING_STATUS_BY_MARS, 5: "JOINT"}
# What "what the weights mean in dollars" (goldstar impact) totals, kept in the derived table.
DOLLAR_COLUMNS = {"tc_iitax": "iitax", "tc_payrolltax": "payrolltax", "tc_c00100": "c00100", "tc_MARS": "MARS"}
# Tax-Calculator variables kept under their own names, for the area recipes (goldstar.areas.variables):
# TMD's state and district specs read these.
AREA_VARIABLES = (
    "MARS", "XTOT", "c00100", "c02500", "c18300", "c19200", "c19700", "ctc_total", "eitc",
    "e00200", "e00300", "e00600", "e00900", "e01400", "e01500", "e01700", "e02300", "e02400",
    "e18400", "e18500", "e26270", "p22250", "p23250",
)
GROSS_INCOME_ITEMS = (
    "e00200", "e00300", "e00600", "e00800", "e00900", "c01000", "e01400", "e01700",
    "e02000", "e02100", "e02300", "c02500",
)
TC_VARIABLES = tuple(sorted(
    {f.tc for f in MAPPING} | set(DOLLAR_COLUMNS.values()) | set(GROSS_INCOME_ITEMS) | set(AREA_VARIABLES)
    | {"RECID", "s006", "MARS", "age_head", "age_spouse", "data_source"}
))


def mapping_markdown() -> str:
    """The mapping as docs/taxcalc.md's Markdown table (one source: MAPPING and OTHER_COLUMNS)."""
    lines = ["| SOI variable | Tax-Calculator | part | note |", "|---|---|---|---|"]
    for f in MAPPING:
        lines.append(f"| {f.soi} | {f.tc} | {f.part} | {f.note} |")
    for soi, how in OTHER_COLUMNS.items():
        lines.append(f"| {soi} | {how} | | |")
    return "\n".join(lines)


def installed_version() -> str | None:
    """The installed Tax-Calculator's version, or None."""
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


def is_embedded_cps(path: Path) -> bool:
    """Whether `path` holds the embedded CPS file (by content: a copy counts, whatever its name)."""
    path = Path(path)
    return path.resolve() == DEFAULT_RECORDS.resolve() or (
        path.stat().st_size == DEFAULT_RECORDS.stat().st_size and file_hash(path) == _embedded_cps_hash())


@functools.cache
def _embedded_cps_hash() -> str:
    return file_hash(DEFAULT_RECORDS)


def own_cps_aging_files() -> dict[str, Path]:
    """Tax-Calculator's own weights and growfactors files for its CPS file (what cps_constructor uses)."""
    package = Path(require_taxcalc().__file__).parent
    return {"weights": package / "cps_weights.csv.gz", "growfactors": package / "growfactors.csv"}


def require_taxcalc() -> Any:
    """The taxcalc module, or an EngineNotInstalled naming how to install it."""

    try:
        import taxcalc
    except ImportError:
        raise EngineNotInstalled(INSTALL_HINT) from None
    return taxcalc


@dataclass(frozen=True)
class TaxcalcInputs:
    """What a Tax-Calculator run is made of (the cache key adds the version and this module's hash).

    `records` is a file or a DataFrame of its columns (TMD's flat file in memory: s006 the weight,
    so the default s006 scale is 1); a DataFrame is keyed by the hash of its values."""

    records: Path | pd.DataFrame = DEFAULT_RECORDS
    year: int = DEFAULT_YEAR
    weights: Path | None = None
    growfactors: Path | None = None
    data_year: int | None = None
    s006_scale: float | None = None

    def __post_init__(self) -> None:
        for role in ("records", "weights", "growfactors"):
            path = getattr(self, role)
            if path is not None and not isinstance(path, pd.DataFrame) and not Path(path).is_file():
                why = "not a regular file" if Path(path).exists() else "not found"
                raise InputError(f"Tax-Calculator {role} file {path}: {why}")
        if self.s006_scale is not None and self.weights is not None:
            raise InputError("--tc-s006-scale applies only without a weights file (--tc-weights, or --tc-aged's "
                             "own): with one, the weights are its WT<year> / 100")
        if self.s006_scale is not None and not (np.isfinite(self.s006_scale) and self.s006_scale > 0):
            raise InputError(f"--tc-s006-scale must be a finite number > 0, got {self.s006_scale}")
        if self.growfactors is not None and self.weights is None:
            raise InputError(
                "--tc-growfactors needs --tc-weights: Tax-Calculator ages the data only with both "
                "(without them the amounts stay in the data year)"
            )

    @property
    def scale(self) -> float:
        """The factor from the file's s006 to a weight, when no weights file is given."""
        if self.s006_scale is not None:
            return float(self.s006_scale)
        return DEFAULT_S006_SCALE if self.in_file and is_embedded_cps(self.records) else 1.0

    @property
    def in_file(self) -> bool:
        """Whether the records are a file (not a DataFrame)."""
        return not isinstance(self.records, pd.DataFrame)

    @property
    def label(self) -> str:
        """The records as error messages name them."""
        return str(self.records) if self.in_file else "the records DataFrame"

    def files(self) -> dict[str, Path]:
        """The input files by role (records only when they are a file)."""
        roles = {"records": self.records if self.in_file else None, "tc_weights": self.weights,
                 "tc_growfactors": self.growfactors}
        return {role: Path(p) for role, p in roles.items() if p is not None}

    def records_hash(self) -> str:
        """The records' hash: the file's bytes, or a DataFrame's values (goldstar.hashing.frame_entry)."""
        return file_hash(self.records) if self.in_file else frame_entry(self.records)["hash"]


Thresholds = dict[int, tuple[float, float, float]]


def filing_thresholds(year: int, policy: Any = None) -> Thresholds:
    """Gross-income filing thresholds by MARS: (no spouse 65+, one, two), from Tax-Calculator's
    STD, STD_Aged and II_em for `year` (the rule in the module docstring) of `policy`
    (default: current law, `taxcalc.Policy()`)."""
    if policy is None:
        policy = require_taxcalc().Policy()
    policy.set_year(year)
    std = np.asarray(policy.STD).ravel()
    aged = np.asarray(policy.STD_Aged).ravel()
    em = float(np.asarray(policy.II_em).ravel()[0])
    out = {}
    for mars in (1, 2, 4, 5):
        exemptions = em * (2 if mars == 2 else 1)
        base = float(std[mars - 1]) + exemptions
        second = 2 if mars == 2 else 1
        out[mars] = (base, base + float(aged[mars - 1]), base + second * float(aged[mars - 1]))
    separate = max(em, SEPARATE_MINIMUM)
    out[3] = (separate, separate, separate)
    return dict(sorted(out.items()))


def is_filer(out: pd.DataFrame, thresholds: Thresholds) -> np.ndarray:
    """TMD's filers (data_source 1) plus the CPS-only records the filing-requirement rule makes filers."""
    mars = out["MARS"].to_numpy().astype(np.int64)
    gross = sum(np.maximum(out[c].to_numpy(dtype=np.float64), 0.0) for c in GROSS_INCOME_ITEMS)
    seniors = (out["age_head"].to_numpy() >= 65).astype(int) + (
        (mars == 2) & (out["age_spouse"].to_numpy() >= 65)
    ).astype(int)
    table = np.array([thresholds[k] for k in range(1, 6)])
    threshold = table[mars - 1, seniors]
    return (
        (out["data_source"].to_numpy() == 1)
        | (gross >= threshold)
        | (out["e00900"].to_numpy(dtype=np.float64) >= SELF_EMPLOYMENT_FILING_THRESHOLD)
        | (out["e00200"].to_numpy(dtype=np.float64) > 0)
    )


def to_soi(out: pd.DataFrame, thresholds: Thresholds, weight_scale: float,
           has_data_source: bool = False) -> pd.DataFrame:
    """Tax-Calculator's output (TC_VARIABLES, one row a record) and the target year's filing
    thresholds -> the builder's record table, with AREA_VARIABLES under their own names.
    `has_data_source`: whether the records file carries TMD's data_source column (OTHER_COLUMNS,
    scope)."""
    missing = [c for c in TC_VARIABLES if c not in out.columns]
    if missing:
        raise InputError(f"Tax-Calculator output lacks variable(s): {', '.join(missing)}")
    mars = out["MARS"].to_numpy().astype(np.int64)
    table = {
        "record_id": out["RECID"].to_numpy().astype(np.int64),
        "weight": out["s006"].to_numpy(dtype=np.float64) * weight_scale,
        "is_tax_filer": is_filer(out, thresholds),
        "filing_status": [FILING_STATUS_BY_MARS[int(k)] for k in mars],
        "count": np.ones(len(out)),
    }
    table.update({f.soi: f.values(out) for f in MAPPING})
    table.update({name: out[tc].to_numpy() for name, tc in DOLLAR_COLUMNS.items()})
    table["data_source"] = out["data_source"].to_numpy().astype(np.int64)
    filer = table["data_source"] == 1 if has_data_source else table["is_tax_filer"]
    table["scope"] = np.where(filer, 1, 2)
    table.update({name: out[name].to_numpy() for name in AREA_VARIABLES})
    return pd.DataFrame(table)


def read_input(inputs: TaxcalcInputs) -> pd.DataFrame:
    """The records as a DataFrame: the file read (CSV, CSV.gz or Parquet), or a copy of the one given."""
    data = read_table(inputs.records, "Tax-Calculator records") if inputs.in_file else inputs.records.copy()
    if "RECID" not in data.columns:
        raise InputError(f"Tax-Calculator records {inputs.label}: no RECID column")
    whole_numbers(data["RECID"], f"Tax-Calculator records {inputs.label}", "RECID",
                  first_row=2 if inputs.in_file else 0)
    if not data["RECID"].is_unique:
        raise InputError(f"Tax-Calculator records {inputs.label}: RECID values repeat")
    return data


def data_year(inputs: TaxcalcInputs) -> int:
    """The data year: as given, else the file's largest FLPDYR (only that column is read)."""
    if inputs.data_year is not None:
        return int(inputs.data_year)
    if not inputs.in_file:
        return _largest_year(inputs.records.get("FLPDYR"), inputs.label)
    path = Path(inputs.records)
    try:
        if path.name.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            years = pd.read_parquet(path, columns=["FLPDYR"])["FLPDYR"] if "FLPDYR" in names else None
        else:
            header = pd.read_csv(path, nrows=0).columns
            years = pd.read_csv(path, usecols=["FLPDYR"])["FLPDYR"] if "FLPDYR" in header else None
    except Exception as exc:  # pandas and pyarrow raise many kinds for an unreadable file
        raise InputError(f"Tax-Calculator records file {path}: cannot be read ({exc})") from None
    return _largest_year(years, str(path))


def _largest_year(years: pd.Series | None, label: str) -> int:
    """The largest of a FLPDYR column, with errors naming the records by `label`."""
    if years is None:
        raise InputError(f"{label} has no FLPDYR column: give the data year (--tc-data-year, data_year=)")
    numbers = pd.to_numeric(years, errors="coerce")
    if numbers.isna().any() or len(numbers) == 0:
        raise InputError(f"{label}: column FLPDYR must hold years, found {years[numbers.isna()].iloc[0]!r}"
                         if len(numbers) else f"{label}: no records")
    return int(numbers.max())


def has_column(path: Path | pd.DataFrame, column: str) -> bool:
    """Whether records (a CSV, CSV.gz or Parquet file, read for its header only, or a DataFrame)
    have `column`."""
    if isinstance(path, pd.DataFrame):
        return column in path.columns
    path = Path(path)
    try:
        if path.name.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            return column in pq.read_schema(path).names
        return column in pd.read_csv(path, nrows=0).columns
    except Exception as exc:  # pandas and pyarrow raise many kinds for an unreadable file
        raise InputError(f"Tax-Calculator records file {path}: cannot be read ({exc})") from None


def _read_weights_file(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except Exception as exc:  # a Parquet or binary file, an empty one, a broken gzip stream
        raise InputError(f"Tax-Calculator weights file {path}: cannot be read as CSV ({exc})") from None


def run_taxcalc(inputs: TaxcalcInputs, data: pd.DataFrame | None = None) -> tuple[pd.DataFrame, Thresholds]:
    """Run Tax-Calculator the way TMD does (module docstring): TC_VARIABLES for the target year,
    and that year's filing thresholds from the same policy."""
    taxcalc = require_taxcalc()
    start = data_year(inputs)
    first, last = taxcalc.Policy.JSON_START_YEAR, taxcalc.Policy.LAST_BUDGET_YEAR
    for what, year in (("data year", start), ("target year", inputs.year)):
        if not first <= year <= last:
            raise InputError(f"{what} {year}: Tax-Calculator {installed_version()} models {first} to {last}")
    if inputs.year < start:
        raise InputError(f"target year {inputs.year} is before the data year {start}")
    data = read_input(inputs) if data is None else data
    gfactors = weights = None
    if inputs.weights is not None:
        weights = _read_weights_file(inputs.weights)
        for year in range(start, inputs.year + 1):
            if f"WT{year}" not in weights.columns:
                raise InputError(f"Tax-Calculator weights file {inputs.weights}: no column WT{year} "
                                 f"(it needs one for every year from the data year {start} to {inputs.year})")
        try:
            gfactors = (taxcalc.GrowFactors(growfactors_filename=str(inputs.growfactors))
                        if inputs.growfactors is not None else taxcalc.GrowFactors())
        except Exception as exc:  # Tax-Calculator raises ValueError and others for a malformed file
            raise InputError(f"Tax-Calculator growfactors file {inputs.growfactors}: rejected ({exc})") from None
    try:
        records = taxcalc.Records(
            data=data, start_year=start, gfactors=gfactors, weights=weights,
            adjust_ratios=None, exact_calculations=True,
        )
    except (ValueError, AssertionError) as exc:  # Tax-Calculator asserts, e.g. "no weights for start year"
        raise InputError(f"Tax-Calculator rejects {inputs.label} (data year {start}): {exc}") from None
    policy = taxcalc.Policy()
    calculator = taxcalc.Calculator(policy=policy, records=records, verbose=False)  # copies policy
    try:
        calculator.advance_to_year(inputs.year)
        calculator.calc_all()
    except (ValueError, AssertionError, KeyError) as exc:  # Tax-Calculator's checks of its inputs
        raise InputError(f"Tax-Calculator stops on {inputs.label} ({start} to {inputs.year}): {exc!r}") from None
    return calculator.dataframe(list(TC_VARIABLES)), filing_thresholds(inputs.year, policy)


def cache_key(inputs: TaxcalcInputs) -> dict[str, Any]:
    """What the derived table depends on: input file hashes, versions, years, scale, this module."""
    return {
        "engine": "taxcalc",
        "taxcalc": installed_version(),
        "files": {role: file_hash(p) for role, p in sorted(inputs.files().items())}
        | {"records": inputs.records_hash()},
        "year": inputs.year,
        "data_year": data_year(inputs),  # resolved, so that a given and a read year share the table
        "s006_scale": inputs.scale if inputs.weights is None else None,
        "mapping_code": file_hash(__file__),
    }


def derive(inputs: TaxcalcInputs) -> tuple[pd.DataFrame, CacheEntry]:
    """The SOI-named record table for `inputs`, from the cache or from a Tax-Calculator run.

    A cache hit does not import Tax-Calculator (seconds saved); it must still be installed,
    since its version is part of the key.
    """

    if installed_version() is None:
        raise EngineNotInstalled(INSTALL_HINT)

    def compute() -> pd.DataFrame:
        out, thresholds = run_taxcalc(inputs)
        return to_soi(out, thresholds, 1.0 if inputs.weights is not None else inputs.scale,
                      has_data_source=has_column(inputs.records, "data_source"))

    return load_or_compute("taxcalc", cache_key(inputs), compute)
