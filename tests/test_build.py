"""The TMD-style builder: exact A on hand-made tables, real-file slices, hashes, bad input."""

from __future__ import annotations

import math
import re
import json

import numpy as np
import pandas as pd
import pytest

from goldstar import InputError, read_problem, solve
from goldstar.inputs.build import AGGREGATE_LEVEL_VARIABLES, AGI_LEVEL_VARIABLES, agi_label, build_problem
from goldstar.store.tables import read_table
from goldstar.defaults import DEFAULT_RECORDS, DEFAULT_TARGETS
from goldstar.cli import main
from goldstar.inputs.cps import cps_to_soi
from goldstar.solvers import CONVERGED

INF = math.inf


def hand_records() -> pd.DataFrame:
    """Five records; the fourth is not a filer; zero amounts everywhere not set."""
    df = pd.DataFrame({
        "weight": [10.0, 20.0, 30.0, 40.0, 50.0],
        "is_tax_filer": [True, True, True, False, True],
        "filing_status": ["SINGLE", "JOINT", "SINGLE", "SINGLE", "HEAD_OF_HOUSEHOLD"],
        "count": [1.0] * 5,
        "adjusted_gross_income": [-500.0, 7000.0, 12000.0, 8000.0, 4000.0],
    })
    for v in AGI_LEVEL_VARIABLES + AGGREGATE_LEVEL_VARIABLES:
        if v not in df:
            df[v] = 0.0
    df["employment_income"] = [0.0, 6000.0, 11000.0, 8000.0, 3000.0]
    df["ira_distributions"] = [0.0, 1000.0, 0.0, 0.0, 500.0]
    return df


def soi_row(variable, status, lower, upper, count, value, year=2015, taxable=False):
    return {
        "Year": year, "SOI table": "Table 1.1", "XLSX column": "A", "XLSX row": 1,
        "Variable": variable, "Filing status": status, "AGI lower bound": lower,
        "AGI upper bound": upper, "Count": count, "Taxable only": taxable,
        "Full population": lower == -INF and upper == INF, "Value": value,
    }


def hand_targets() -> pd.DataFrame:
    return pd.DataFrame([
        soi_row("count", "All", -INF, INF, True, 200.0),  # prescale row only (all-AGI, AGI-level)
        soi_row("count", "All", -INF, 5000.0, True, 90.0),
        soi_row("count", "All", 5000.0, INF, True, 100.0),
        soi_row("employment_income", "All", 5000.0, INF, False, 2.0e6),
        soi_row("employment_income", "Single", 5000.0, INF, True, 30.0),
        soi_row("employment_income", "All", 5000.0, INF, False, 9.9e9, taxable=True),  # skipped
        soi_row("ira_distributions", "All", -INF, INF, False, 80000.0),
        soi_row("ira_distributions", "All", 5000.0, INF, False, 1.0),  # aggregate-level: skipped
        soi_row("capital_gains_losses", "All", -INF, INF, False, 5.0),  # all zero: dropped
        soi_row("count", "All", -INF, INF, True, 1.0, year=2021),
    ])


def test_hand_made_tables_give_the_known_A():
    with pytest.warns(UserWarning, match="capital gains losses/total/AGI in \\(-inf, inf\\)"):
        problem, info = build_problem(hand_records(), hand_targets(), 2015)
    assert problem.target_names == (
        "count/count/AGI in (-inf, 5k)/all returns/All",
        "count/count/AGI in [5k, inf)/all returns/All",
        "employment income/total/AGI in [5k, inf)/all returns/All",
        "employment income/count/AGI in [5k, inf)/all returns/Single",
        "ira distributions/total/AGI in (-inf, inf)/all returns/All",
    )
    expected = np.array([
        # record 0: filer, AGI -500, single
        [1, 0, 0, 0, 0],
        # record 1: filer, AGI 7000, joint, wages 6000, IRA 1000
        [0, 1, 6000, 0, 1000],
        # record 2: filer, AGI 12000, single, wages 11000
        [0, 1, 11000, 1, 0],
        # record 3: not a filer: no target sees it
        [0, 0, 0, 0, 0],
        # record 4: filer, AGI 4000, head of household, wages 3000, IRA 500
        [1, 0, 0, 0, 500],
    ], dtype=float)
    np.testing.assert_array_equal(problem.A.toarray(), expected)
    np.testing.assert_array_equal(problem.t, [90.0, 100.0, 2.0e6, 30.0, 80000.0])
    # prescale: SOI all-returns count / weighted filers = 200 / (10 + 20 + 30 + 50)
    assert info.prescale == pytest.approx(200.0 / 110.0, rel=1e-15)
    np.testing.assert_allclose(problem.w0, hand_records()["weight"] * 200.0 / 110.0, rtol=1e-15)
    assert info.dropped_targets == [
        "capital gains losses/total/AGI in (-inf, inf)/all returns/All",
    ]


def test_agi_labels_follow_tmd():
    assert agi_label(-INF, 0.0) == "(-inf, 0)"
    assert agi_label(1.0, 5000.0) == "[1, 5k)"
    assert agi_label(1e6, 1.5e6) == "[1.0m, 1.5m)"
    assert agi_label(1e7, INF) == "[10.0m, inf)"


@pytest.fixture(scope="module")
def cps_slice() -> pd.DataFrame:
    return cps_to_soi(pd.read_csv(DEFAULT_RECORDS, nrows=4000))


def test_real_file_slice_builds_and_solves(cps_slice):
    targets = read_table(DEFAULT_TARGETS, "target")
    with pytest.warns(UserWarning, match="dropping"):
        problem, info = build_problem(cps_slice, targets, 2015)
    assert problem.n == 4000 and 100 < problem.J < 550
    # every kept column has a contributing record and its SOI value
    assert np.all(np.bincount(problem.A.indices, minlength=problem.J) > 0)
    assert {"count", "employment_income", "ira_distributions"} <= set(info.targets_by_variable)
    solution = solve(problem, "newton")
    assert solution.status == CONVERGED


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.drop(columns=["employment_income"]), "lacks column(s): employment_income"),
        (lambda r: r.assign(ordinary_dividends=["x", 0, 0, 0, 0]), "column 'ordinary_dividends', row 0"),
        (lambda r: r.assign(weight=[1.0, -2.0, 1.0, 1.0, 1.0]), "column 'weight', row 1: negative weight"),
        (lambda r: r.assign(filing_status=["SINGLE", "WIDOW", "SINGLE", "SINGLE", "SINGLE"]),
         "row 1: unknown filing status 'WIDOW'"),
        (lambda r: r.assign(adjusted_gross_income=[0.0, np.nan, 0.0, 0.0, 0.0]),
         "column 'adjusted_gross_income', row 1"),
    ],
)
def test_bad_record_tables_name_column_and_row(change, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_problem(change(hand_records()), hand_targets(), 2015)


def test_one_target_with_two_values_is_refused_naming_both_rows():
    """A target row repeated with its own Value is read once; repeated with another, neither
    silently wins (the first row used to, so the table's order chose the target)."""
    targets = hand_targets()
    again = pd.concat([targets, targets.iloc[[4]]], ignore_index=True)
    with pytest.warns(UserWarning, match="capital gains losses"):  # the table's all-zero target, as always
        problem, _ = build_problem(hand_records(), again, 2015)
        assert problem.J == build_problem(hand_records(), targets, 2015)[0].J
    clash = pd.concat([targets, targets.iloc[[4]].assign(Value=31.0)], ignore_index=True)
    with pytest.raises(InputError, match=r"rows 4, 10 are the same target \(.*\) with different Values \(30.0, 31.0\)"):
        build_problem(hand_records(), clash, 2015)


@pytest.mark.parametrize("edit, says", [
    (lambda t: t.assign(Count=t["Count"].astype(object).where(t.index != 2, "maybe")),
     "row 2, column 'Count': 'maybe' is not True or False"),
    (lambda t: t.assign(**{"AGI lower bound": t["AGI lower bound"].where(t.index != 1, 1e9)}),
     "row 1: AGI lower bound 1000000000.0 is not below its upper bound 5000.0"),
])
def test_a_target_row_that_cannot_mean_what_it_says_is_named(edit, says):
    """A Count that is neither true nor false, an AGI range upside down: refused by row, not read
    as true or as a range no record falls in."""
    with pytest.raises(InputError, match=re.escape(says)):
        build_problem(hand_records(), edit(hand_targets()), 2015)


def test_missing_year_names_the_years():
    with pytest.raises(InputError, match="no year 1999; it has 2015, 2021"):
        build_problem(hand_records(), hand_targets(), 1999)


def _write_inputs(tmp_path, records, fmt):
    targets_path = tmp_path / "soi.csv"
    hand_targets().to_csv(targets_path, index=False)
    path = tmp_path / f"records.{fmt}"
    if fmt == "csv":
        records.to_csv(path, index=False)
    else:
        records.to_parquet(path, index=False)
    return path, targets_path


def _build(tmp_path, records_path, targets_path, out, *extra):
    argv = ["build", "--records", str(records_path), "--targets", str(targets_path), "--out", str(tmp_path / out)]
    return main(argv + list(extra))


def test_hashes_csv_vs_parquet_and_one_changed_value(tmp_path):
    csv_path, targets_path = _write_inputs(tmp_path, hand_records(), "csv")
    pq_path, _ = _write_inputs(tmp_path, hand_records(), "parquet")
    assert _build(tmp_path, csv_path, targets_path, "a") == 0
    assert _build(tmp_path, csv_path, targets_path, "a2") == 0
    assert _build(tmp_path, pq_path, targets_path, "b") == 0
    meta = {k: json.loads((tmp_path / k / "problem.json").read_text()) for k in ("a", "a2", "b")}
    # same file, same file hashes, two builds
    assert meta["a"]["inputs"] == meta["a2"]["inputs"]
    assert meta["a"]["inputs"]["records"]["hash"].startswith("xxh3_128:")
    # CSV and Parquet differ in bytes, not in the problem
    assert meta["a"]["inputs"]["records"]["hash"] != meta["b"]["inputs"]["records"]["hash"]
    assert meta["a"]["problem_hash"] == meta["b"]["problem_hash"]
    # one value changed -> both the file hash and the problem hash change
    changed = hand_records()
    changed.loc[2, "employment_income"] = 11001.0
    c_path = tmp_path / "changed.csv"
    changed.to_csv(c_path, index=False)
    assert _build(tmp_path, c_path, targets_path, "c") == 0
    meta_c = json.loads((tmp_path / "c" / "problem.json").read_text())
    assert meta_c["problem_hash"] != meta["a"]["problem_hash"]
    assert meta_c["inputs"]["records"]["hash"] != meta["a"]["inputs"]["records"]["hash"]
    # a build option changes the problem hash
    assert _build(tmp_path, csv_path, targets_path, "d", "--upper", "5") == 0
    assert json.loads((tmp_path / "d" / "problem.json").read_text())["problem_hash"] != meta["a"]["problem_hash"]


@pytest.mark.parametrize("year, message", [("1999", "no year 1999"), ("2015", None)])
def test_cli_bad_input_writes_nothing(tmp_path, capsys, year, message):
    records = hand_records().assign(filing_status=["SINGLE", "WIDOW", "SINGLE", "SINGLE", "SINGLE"]) \
        if message is None else hand_records()
    path, targets_path = _write_inputs(tmp_path, records, "csv")
    assert _build(tmp_path, path, targets_path, "out", "--year", year) == 2
    err = capsys.readouterr().err
    assert (message or "unknown filing status 'WIDOW'") in err
    assert not (tmp_path / "out").exists()


def test_cli_report_and_printout(tmp_path, capsys):
    path, targets_path = _write_inputs(tmp_path, hand_records(), "csv")
    assert _build(tmp_path, path, targets_path, "out", "--report", str(tmp_path / "r.csv")) == 0
    out = capsys.readouterr()
    for word in ("n = 5", "J = 5", "nonzeros", "L0", "lam", "employment_income"):
        assert word in out.out
    assert "WARNING: dropping 1 target(s)" in out.err
    report = pd.read_csv(tmp_path / "r.csv")
    assert list(report.columns) == ["name", "target", "initial", "rel_error", "dropped"]
    problem = read_problem(tmp_path / "out")
    np.testing.assert_allclose(report["initial"], problem.fitted(np.ones(problem.n)))


def test_taxable_social_security_rule():
    from goldstar.inputs.cps import taxable_social_security

    mars = np.array([1, 1, 1, 2, 3])
    benefits = np.array([20000.0, 20000.0, 20000.0, 30000.0, 10000.0])
    other = np.array([10000.0, 20000.0, 100000.0, 20000.0, 0.0])
    # single, provisional 20,000 < 25,000: none taxable
    # single, provisional 30,000: half of the excess over 25,000 = 2,500
    # single, provisional 110,000: capped at 85% of benefits = 17,000
    # joint, provisional 35,000: half of the excess over 32,000 = 1,500
    # separate, provisional 5,000: 85% of it = 4,250
    np.testing.assert_allclose(
        taxable_social_security(mars, benefits, other), [0.0, 2500.0, 17000.0, 1500.0, 4250.0]
    )


def test_cps_adapter_maps_the_raw_columns(cps_slice):
    raw = pd.read_csv(DEFAULT_RECORDS, nrows=4000)
    np.testing.assert_array_equal(cps_slice["weight"], raw["s006"] / 100.0)
    np.testing.assert_array_equal(cps_slice["employment_income"], raw["e00200"])
    assert set(cps_slice["filing_status"]) <= {"SINGLE", "JOINT", "SEPARATE", "HEAD_OF_HOUSEHOLD"}
    assert cps_slice.loc[raw["e00200"] > 0, "is_tax_filer"].all()
    assert 0.5 < cps_slice["is_tax_filer"].mean() < 1.0


@pytest.mark.parametrize("bad", [np.nan, 5.5, "x"])
def test_a_record_id_that_is_no_whole_number_is_named(bad):
    """RECID with a gap, a fraction or text is refused by row, never cast (a NaN used to become
    -2**63, a fraction its integer part, and the run went on)."""
    cps = pd.read_csv(DEFAULT_RECORDS, nrows=50)
    cps["RECID"] = cps["RECID"].astype(object)
    cps.loc[5, "RECID"] = bad
    with pytest.raises(InputError, match=r"CPS file: row 5, column RECID: .* is not a whole number"):
        cps_to_soi(cps)


def test_a_records_file_with_a_fractional_recid_exits_2(tmp_path, capsys):
    cps = pd.read_csv(DEFAULT_RECORDS, nrows=50)
    cps["RECID"] = cps["RECID"] + 0.5
    path = tmp_path / "cps.csv"
    cps.to_csv(path, index=False)
    assert main(["build", "--engine", "cps", "--records", str(path), "--out", str(tmp_path / "p")]) == 2
    assert "column RECID: 1.5 is not a whole number (50 such row(s))" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_an_engine_input_file_given_as_the_record_table_points_at_the_engine():
    """The CPS file itself (RECID, s006, ...) where the builder's table is expected: the missing
    columns are named and the engine option suggested."""
    raw = pd.read_csv(DEFAULT_RECORDS, nrows=50)
    with pytest.raises(InputError, match="lacks column.*it holds RECID and s006.*give --engine cps or --engine taxcalc"):
        build_problem(raw, hand_targets(), 2015)
