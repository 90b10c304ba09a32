"""Tax-Calculator as the records engine: same problem as the builder fed its output, the cache,
the version check in verify, and the install hint without the extra.

Tax-Calculator runs on a 2,000-record slice of the vendored CPS file without numba
(NOTAXCALCJIT): compiling its functions takes ~45 s, running them uncompiled on the
slice ~4 s. Tests that need Tax-Calculator are skipped where it is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goldstar.defaults import DEFAULT_RECORDS
from goldstar.cli import main
from goldstar.inputs.engines import taxcalc_
from goldstar.inputs.engines.cache import CACHE_ENV
from goldstar.exceptions import InputError

SLICE = 2000
README = Path(__file__).resolve().parent.parent / "README.md"
TAXCALC_DOC = Path(__file__).resolve().parent.parent / "docs" / "taxcalc.md"


@pytest.fixture(scope="session")
def taxcalc_module():
    os.environ.setdefault("NOTAXCALCJIT", "1")  # read when taxcalc is first imported
    return pytest.importorskip("taxcalc", reason="Tax-Calculator is not installed (extra `taxcalc`)")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One cache for the session, so that Tax-Calculator runs once per input."""
    path = tmp_path_factory.mktemp("goldstar-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(path))
        yield path


@pytest.fixture(scope="session")
def cps_slice(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("slice") / "cps_slice.csv"
    pd.read_csv(DEFAULT_RECORDS, nrows=SLICE).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def engine_problem(taxcalc_module, cache_dir, cps_slice, tmp_path_factory):
    out = tmp_path_factory.mktemp("engine") / "problem"
    argv = ["build", "--engine", "taxcalc", "--records", str(cps_slice), "--tc-data-year", "2014",
            "--tc-s006-scale", "0.01", "--out", str(out)]
    assert main(argv) == 0
    return out


def _problem_json(directory: Path) -> dict:
    return json.loads((directory / "problem.json").read_text())


def test_engine_gives_the_problem_of_the_builder_fed_taxcalc_directly(
    taxcalc_module, engine_problem, cps_slice, tmp_path
):
    tc = taxcalc_module
    data = pd.read_csv(cps_slice)
    records = tc.Records(data=data, start_year=2014, gfactors=None, weights=None,
                         adjust_ratios=None, exact_calculations=True)
    policy = tc.Policy()
    calc = tc.Calculator(policy=policy, records=records, verbose=False)
    calc.advance_to_year(2015)
    calc.calc_all()
    out = calc.dataframe(list(taxcalc_.TC_VARIABLES))
    table = taxcalc_.to_soi(out, taxcalc_.filing_thresholds(2015, policy), 0.01)
    # the mapping's key lines, checked against Tax-Calculator's own columns
    np.testing.assert_array_equal(table["adjusted_gross_income"], out["c00100"])
    np.testing.assert_array_equal(table["taxable_social_security"], out["c02500"])
    np.testing.assert_array_equal(table["capital_gains_gross"], np.maximum(out["c01000"], 0))
    np.testing.assert_array_equal(table["weight"], out["s006"] * 0.01)
    direct = tmp_path / "records.parquet"
    table.to_parquet(direct)
    assert main(["build", "--records", str(direct), "--out", str(tmp_path / "direct")]) == 0
    engine, fed = _problem_json(engine_problem), _problem_json(tmp_path / "direct")
    assert engine["problem_hash"] == fed["problem_hash"]
    assert engine["engine"]["name"] == "taxcalc"
    assert engine["engine"]["version"] == taxcalc_.installed_version() == "6.8.0"
    assert engine["inputs"]["records"]["adapter"] == "taxcalc"


def test_filing_thresholds_from_policy_equal_the_hand_table_for_2015(taxcalc_module):
    from goldstar.inputs.cps import FILING_THRESHOLD_2015

    policy = taxcalc_module.Policy()  # one (building one takes seconds); set_year moves it forward
    thresholds = taxcalc_.filing_thresholds(2015, policy)
    assert {k: thresholds[k] for k in FILING_THRESHOLD_2015} == FILING_THRESHOLD_2015
    assert thresholds[3] == (4000.0, 4000.0, 4000.0)
    assert taxcalc_.filing_thresholds(2021, policy)[3] == (5.0, 5.0, 5.0)  # no exemptions: the $5 rule


def test_cache_is_used_when_inputs_are_unchanged_and_rebuilt_on_one_byte(
    taxcalc_module, engine_problem, cps_slice, tmp_path, monkeypatch
):
    class Ran(Exception):
        pass

    def no_run(*args, **kwargs):
        raise Ran

    monkeypatch.setattr(taxcalc_, "run_taxcalc", no_run)
    inputs = taxcalc_.TaxcalcInputs(records=cps_slice, year=2015, data_year=2014, s006_scale=0.01)
    table, entry = taxcalc_.derive(inputs)  # would raise if it ran Tax-Calculator
    assert entry.hit and len(table) == SLICE
    assert entry.key_hash == _problem_json(engine_problem)["engine"]["cache_key"]

    changed = tmp_path / "cps_slice.csv"
    shutil.copy(cps_slice, changed)
    raw = bytearray(changed.read_bytes())
    position = raw.rindex(b",1,") + 1  # one digit of the last record
    raw[position:position + 1] = b"2"
    changed.write_bytes(bytes(raw))
    with pytest.raises(Ran):
        taxcalc_.derive(taxcalc_.TaxcalcInputs(records=changed, year=2015, data_year=2014))


@pytest.fixture(scope="session")
def engine_reference(taxcalc_module, cache_dir, cps_slice, engine_problem, tmp_path_factory):
    ref = tmp_path_factory.mktemp("ref") / "reference"
    argv = ["goldstar", "--engine", "taxcalc", "--records", str(cps_slice), "--tc-data-year", "2014",
            "--tc-s006-scale", "0.01", "--reference", str(ref), "--lbfgsb-maxiter", "50", "--quiet"]
    assert main(argv) == 0
    return ref


def test_verify_of_a_taxcalc_reference_passes_from_the_cache(engine_reference, monkeypatch, capsys):
    def no_run(*args, **kwargs):
        raise AssertionError("verify reran Tax-Calculator although nothing changed")

    monkeypatch.setattr(taxcalc_, "run_taxcalc", no_run)
    assert main(["verify", "--reference", str(engine_reference)]) == 0
    assert "engine taxcalc" in capsys.readouterr().out


def test_verify_fails_by_name_when_taxcalc_version_differs(engine_reference, monkeypatch, capsys):
    monkeypatch.setattr(taxcalc_, "installed_version", lambda: "6.9.0")
    assert main(["verify", "--reference", str(engine_reference), "--mode", "hash"]) == 1
    captured = capsys.readouterr()
    assert "taxcalc 6.9.0" in captured.out and "recorded taxcalc 6.8.0" in captured.out
    assert "taxcalc version changed" in captured.out
    assert "engine taxcalc" in captured.err


def test_without_the_extra_build_exits_2_with_the_install_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(taxcalc_, "installed_version", lambda: None)
    monkeypatch.setitem(sys.modules, "taxcalc", None)  # `import taxcalc` raises ImportError
    assert main(["build", "--engine", "taxcalc", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'goldstar[taxcalc]'" in err and "make install" in err
    assert not (tmp_path / "p").exists()
    assert main(["build", "--out", str(tmp_path / "default")]) == 0  # the default needs no Tax-Calculator
    assert "engine" not in _problem_json(tmp_path / "default")


@pytest.mark.parametrize("argv, message", [
    (["--engine", "taxcalc", "--tc-growfactors", str(DEFAULT_RECORDS)], "needs --tc-weights"),
    (["--tc-data-year", "2014"], "need --engine taxcalc"),
    (["--engine", "taxcalc", "--tc-weights", "nowhere.csv"], "not found"),
    (["--engine", "taxcalc", "--tc-aged", "--tc-weights", str(DEFAULT_RECORDS)], "leave out --tc-weights"),
    (["--engine", "taxcalc", "--tc-aged", "--records", str(README)], "embedded CPS file only"),
    (["--tc-aged"], "need --engine taxcalc"),
    (["--engine", "taxcalc", "--tc-s006-scale", "-1"], "must be a finite number > 0"),
    (["--engine", "taxcalc", "--tc-weights", "tests"], "not a regular file"),
])
def test_bad_engine_options_exit_2(tmp_path, capsys, argv, message):
    assert main(["build", *argv, "--out", str(tmp_path / "p")]) == 2
    assert message in capsys.readouterr().err


def test_tc_aged_takes_taxcalcs_own_cps_weights_and_growfactors(taxcalc_module):
    from goldstar.inputs.engines import ENGINES, taxcalc_inputs

    package = Path(taxcalc_module.__file__).parent
    own = {"weights": package / "cps_weights.csv.gz", "growfactors": package / "growfactors.csv"}
    inputs = taxcalc_inputs(None, 2015, {"aged": True})
    assert (inputs.records, inputs.weights, inputs.growfactors) == (DEFAULT_RECORDS, own["weights"],
                                                                     own["growfactors"])
    # the files a reference hashes are the ones the run reads
    assert ENGINES["taxcalc"].input_files(None, {"aged": True}) == {
        "records": DEFAULT_RECORDS, "tc_weights": own["weights"], "tc_growfactors": own["growfactors"]}
    assert taxcalc_.cache_key(inputs)["files"] != taxcalc_.cache_key(taxcalc_inputs(None, 2015, {}))["files"]
    with pytest.raises(InputError, match="applies only without a weights file"):  # --tc-aged gives one
        taxcalc_inputs(None, 2015, {"aged": True, "s006_scale": 0.01})


@pytest.mark.parametrize("argv, message", [
    (["--tc-data-year", "2014", "--year", "2100"], "target year 2100: Tax-Calculator"),
    (["--tc-data-year", "1999"], "data year 1999: Tax-Calculator"),
])
def test_years_tax_calculator_does_not_model_exit_2(taxcalc_module, cache_dir, cps_slice, tmp_path, capsys,
                                                     argv, message):
    assert main(["build", "--engine", "taxcalc", "--records", str(cps_slice), *argv,
                 "--out", str(tmp_path / "p")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_a_copy_of_the_embedded_cps_file_is_known_by_its_content(tmp_path):
    copy = tmp_path / "renamed.csv.gz"
    shutil.copyfile(DEFAULT_RECORDS, copy)
    assert taxcalc_.TaxcalcInputs(records=copy).scale == taxcalc_.DEFAULT_S006_SCALE  # s006 is weight x 100
    other = tmp_path / "other.csv"
    pd.read_csv(DEFAULT_RECORDS, nrows=5).to_csv(other, index=False)
    assert taxcalc_.TaxcalcInputs(records=other).scale == 1.0


def test_the_docs_list_the_mapping_as_the_code_has_it():
    assert taxcalc_.mapping_markdown() in TAXCALC_DOC.read_text()


def test_impact_totals_and_record_view(engine_reference, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from goldstar.present.impact import compute_impact, inputs_for, load_weights, totals
    from goldstar.store.reference import read_reference

    ref = read_reference(engine_reference)
    weight = ref.weight.copy()
    weight[7] *= 2.0
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"record_id": ref.record_id, "weight": weight}), other)
    sets = [load_weights(engine_reference), load_weights(other)]
    table, entry = taxcalc_.derive(inputs_for(sets, {}))
    assert entry.hit  # the reference's own derived table
    impact = compute_impact(table, sets, floors={})
    view = impact.record_view[0]
    assert (view["differ"], view["record_id"], view["largest"]) == (1, int(ref.record_id[7]), 1.0)
    row = table.set_index("record_id").loc[int(ref.record_id[7])]
    expected = row["tc_iitax"] * ref.weight[7] / 1e9
    diff = impact.totals.at["income tax/national", str(other)] - impact.totals.at["income tax/national",
                                                                                  str(engine_reference)]
    assert diff == pytest.approx(expected, rel=1e-9, abs=1e-12)
    by_status = sum(v for k, v in totals(table, ref.weight).items() if k.startswith("AGI/")
                    and not k.startswith("AGI/AGI") and k != "AGI/national")
    assert by_status == pytest.approx(impact.totals.at["AGI/national", str(engine_reference)], rel=1e-12)

    html = tmp_path / "impact.html"
    assert main(["impact", str(engine_reference), str(other), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "1 of 2,000 records' weights differ by more than 1%" in out
    assert "What the weights mean in dollars" in html.read_text()


def test_report_has_the_dollars_section(engine_reference, tmp_path):
    pytest.importorskip("matplotlib", reason="plots need the 'plots' extra")
    out = tmp_path / "report.html"
    assert main(["report", "--reference", str(engine_reference), "--out", str(out)]) == 0
    text = out.read_text()
    assert "What the weights mean in dollars" in text and "income tax/national" in text


def test_impact_without_the_extra_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(taxcalc_, "installed_version", lambda: None)
    assert main(["impact"]) == 2
    assert "pip install 'goldstar[taxcalc]'" in capsys.readouterr().err


def test_weights_and_growfactors_files_age_the_records(taxcalc_module, cache_dir, cps_slice, engine_problem):
    package = Path(taxcalc_module.__file__).parent
    aged, _ = taxcalc_.derive(taxcalc_.TaxcalcInputs(
        records=cps_slice, year=2015, data_year=2014,
        weights=package / "cps_weights.csv.gz", growfactors=package / "growfactors.csv",
    ))
    unaged, entry = taxcalc_.derive(taxcalc_.TaxcalcInputs(records=cps_slice, year=2015, data_year=2014,
                                                           s006_scale=0.01))
    assert entry.hit
    wt = pd.read_csv(package / "cps_weights.csv.gz", nrows=SLICE)["WT2015"].to_numpy()
    ratio = aged["weight"].to_numpy() / wt  # Tax-Calculator scales a sub-sample's weights by one factor
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert aged["employment_income"].sum() > unaged["employment_income"].sum()  # wages grew 2014 -> 2015


def test_tmd_state_spec_through_tax_calculator_names_its_empty_targets(taxcalc_module, cache_dir, cps_slice):
    """TMD's 175-cell state spec on a CPS slice through Tax-Calculator: every variable comes from
    the engine; e26270 and capgains_net are zero on every CPS record (the file has none of their
    inputs), so their 16 cells are `empty`, and an area counts kept + dropped + empty = 175."""
    from goldstar.areas.inputs import NationalWeights, load_national, read_soi_states
    from goldstar.areas.problem import AreaSettings, run_area
    from goldstar.areas.recipe import RECIPES, read_recipe
    from goldstar.areas.targets import make_areas

    records = pd.read_csv(cps_slice)
    weights = NationalWeights(records["RECID"].to_numpy(), records["s006"].to_numpy() / 100.0,
                              {"kind": "file", "file": str(cps_slice), "directory": "", "weights_hash": ""})
    national = load_national(weights, cps_slice, RECIPES["tmd-states"], engine="taxcalc", year=2015,
                             engine_options={"data_year": 2014, "s006_scale": 0.01})
    assert national.recipe_size == 175
    zero = [c.name for c in read_recipe(RECIPES["tmd-states"]) if c.varname in ("e26270", "capgains_net")]
    assert len(zero) == 16 and set(zero) <= set(national.dropped_cells)  # (a 2,000-record slice empties others too)
    assert national.population and national.population > 0  # XTOT came through
    spec = make_areas("AL", read_soi_states(), national)[0]
    row = run_area(national, spec, AreaSettings(), "h")
    assert row["targets"] == 175 and row["empty"] == len(national.dropped_cells)
    assert row["kept"] + len(row["dropped"]) + row["empty"] == 175
    assert row["status"] == "ok" and row["certified"]


def test_a_dataframe_of_the_records_gives_the_files_table_keyed_by_its_values(
    taxcalc_module, cache_dir, cps_slice, engine_problem, monkeypatch
):
    """TMD's flat file in memory: the DataFrame runs as its file does, the cache keyed by the values
    (a copy hits, one changed value misses), and goldstar.reweight takes it bit for bit."""
    import goldstar

    frame = pd.read_csv(cps_slice)
    from_file, _ = taxcalc_.derive(taxcalc_.TaxcalcInputs(records=cps_slice, year=2015, data_year=2014,
                                                          s006_scale=0.01))
    first, entry = taxcalc_.derive(taxcalc_.TaxcalcInputs(records=frame, year=2015, data_year=2014,
                                                          s006_scale=0.01))
    pd.testing.assert_frame_equal(first, from_file, check_exact=True)

    class Ran(Exception):
        pass

    def no_run(*args, **kwargs):
        raise Ran

    with monkeypatch.context() as mp:
        mp.setattr(taxcalc_, "run_taxcalc", no_run)
        again, hit = taxcalc_.derive(taxcalc_.TaxcalcInputs(records=frame.copy(), year=2015, data_year=2014,
                                                            s006_scale=0.01))
        assert hit.hit and hit.key_hash == entry.key_hash
        pd.testing.assert_frame_equal(again, first, check_exact=True)
        changed = frame.copy()
        changed.loc[len(changed) - 1, "e00200"] += 1.0
        with pytest.raises(Ran):
            taxcalc_.derive(taxcalc_.TaxcalcInputs(records=changed, year=2015, data_year=2014, s006_scale=0.01))

    options = {"year": 2015, "objective": "band", "engine": "taxcalc", "data_year": 2014, "s006_scale": 0.01}
    by_frame = goldstar.reweight(frame, None, **options)
    by_path = goldstar.reweight(cps_slice, None, **options)
    assert np.array_equal(by_frame.weights.to_numpy(), by_path.weights.to_numpy())
    assert by_frame.input_hashes["records"]["hash"] != by_path.input_hashes["records"]["hash"]  # values, bytes
    with pytest.raises(InputError, match="aged ages the embedded CPS file only"):
        goldstar.reweight(frame, None, year=2015, objective="band", engine="taxcalc", aged=True)
