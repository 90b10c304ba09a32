"""goldstar.reweight: the Python API, on the same path as `goldstar build` + `goldstar solve`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import goldstar
from goldstar.cli import main
from goldstar.defaults import DEFAULT_RECORDS
from goldstar.exceptions import InputError
from goldstar.store.layout import read_problem

SLICE = 3000


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The first 3,000 CPS rows as a CSV, and the CLI's penalized and band weights on it (read-only)."""
    base = tmp_path_factory.mktemp("api")
    pd.read_csv(DEFAULT_RECORDS, nrows=SLICE).to_csv(base / "cps.csv", index=False)
    for objective in ("penalized", "band"):
        assert main(["build", "--records", str(base / "cps.csv"), "--engine", "cps", "--objective", objective,
                     "--out", str(base / f"problem-{objective}")]) == 0
        assert main(["solve", str(base / f"problem-{objective}"), "--out", str(base / f"{objective}.parquet"),
                     "--quiet"]) == 0
    return base


@pytest.fixture(scope="module")
def penalized(made):
    return goldstar.reweight(made / "cps.csv", None, year=2015, objective="penalized")


@pytest.fixture(scope="module")
def band(made):
    return goldstar.reweight(made / "cps.csv", None, year=2015, objective="band")


def _cli_weights(made: Path, objective: str) -> pd.Series:
    table = pq.read_table(made / f"{objective}.parquet").to_pandas()
    return pd.Series(table["weight"].to_numpy(), index=pd.Index(table["record_id"].to_numpy(), name="record_id"))


@pytest.mark.parametrize("objective", ["penalized", "band"])
def test_the_weights_are_the_clis_bit_for_bit(made, penalized, band, objective):
    result = {"penalized": penalized, "band": band}[objective]
    cli = _cli_weights(made, objective)
    assert result.weights.index.equals(cli.index)
    assert np.array_equal(result.weights.to_numpy(), cli.to_numpy())  # exact, not close
    problem = read_problem(made / f"problem-{objective}")
    assert result.problem_hash == problem.content_hash()


def test_a_dataframe_gives_the_same_weights_as_its_file(made, penalized):
    frame = pd.read_csv(made / "cps.csv")
    result = goldstar.reweight(frame, None, year=2015, objective="penalized")
    assert np.array_equal(result.weights.to_numpy(), penalized.weights.to_numpy())
    assert result.problem_hash == penalized.problem_hash
    assert result.input_hashes["records"]["hash"].startswith("xxh3_128:")
    assert result.input_hashes["records"]["hash"] != penalized.input_hashes["records"]["hash"]  # by value, not bytes
    assert result.input_hashes["targets"] == penalized.input_hashes["targets"]


def test_every_field_agrees_with_the_certificate(penalized, band):
    for result in (penalized, band):
        cert = result.certificate
        assert cert.passed
        assert result.weights.index.name == "record_id"
        assert result.multipliers.index.equals(result.weights.index)
        m = result.multipliers.to_numpy()
        assert np.all(m >= 0.1) and np.all(m <= 10.0)
        assert cert.n == len(result.weights)
        assert list(result.dual.index) == list(result.problem.target_names)
        # a dual for every kept target; a dropped band target has none (NaN)
        assert set(result.dual.index[result.dual.isna()]) == set(result.dropped["name"])
        assert result.seconds > 0
        assert set(result.input_hashes) == {"records", "targets"}
        assert isinstance(result.warnings, tuple)
        assert list(result.dropped.columns) == ["name", "reason", "low", "high", "distance_in_band_widths"]
        assert "record_id" not in repr(result) and "passed" in repr(result)  # a summary, not the arrays
    # the penalized certificate's loss is the objective at the weights returned
    assert penalized.certificate.loss == pytest.approx(float(penalized.problem.loss(penalized.multipliers.to_numpy())),
                                                       rel=1e-12)
    assert penalized.dropped.empty
    assert not band.dropped.empty  # the CPS slice leaves targets the box cannot reach
    assert set(band.dropped["name"]) == set(band.problem.objective.dropped)
    assert (band.dropped["distance_in_band_widths"] > 0).all()
    # the weights are w0 x multipliers, exactly as the solve writes them
    for result in (penalized, band):
        assert np.array_equal(result.weights.to_numpy(), result.problem.w0 * result.multipliers.to_numpy())


@pytest.mark.parametrize("column", ["s006", "e00200", "MARS"])
def test_a_missing_column_names_it(made, column):
    frame = pd.read_csv(made / "cps.csv", nrows=200).drop(columns=[column])
    with pytest.raises(InputError, match=column):
        goldstar.reweight(frame, None, year=2015, objective="penalized")


def test_a_negative_s006_names_the_column_and_the_row(made):
    frame = pd.read_csv(made / "cps.csv", nrows=200)
    frame.loc[7, "s006"] = -1.0
    with pytest.raises(InputError, match=r"s006.*row 7"):
        goldstar.reweight(frame, None, year=2015, objective="penalized")


@pytest.mark.parametrize("bad, message", [
    ({"objective": "least-squares"}, "least-squares"),
    ({"objective": "penalized", "engine": "spreadsheet"}, "spreadsheet"),
    ({"objective": "band", "slack_units": "dollars"}, "slack_units"),
    ({"objective": "penalized", "solver": "band-newton"}, "band-newton"),
    ({"objective": "penalized", "year": "2015"}, "reweight: year must be a whole number .*, got '2015'"),
    ({"objective": "penalized", "solver_options": [1, 2]}, "reweight: solver_options must be a dict, got list"),
])
def test_bad_settings_raise_input_error_naming_them(made, bad, message):
    with pytest.raises(InputError, match=message):
        goldstar.reweight(made / "cps.csv", None, **{"year": 2015, **bad})


def test_the_objective_has_no_default(made):
    with pytest.raises(TypeError):
        goldstar.reweight(made / "cps.csv", None, year=2015)


def test_a_dataframe_through_taxcalc_without_recid_is_named(made, tmp_path, monkeypatch):
    """A DataFrame runs through Tax-Calculator as its file would (tests/test_taxcalc_engine.py);
    one without RECID is refused naming the column and the DataFrame, before Tax-Calculator runs."""
    pytest.importorskip("taxcalc", reason="Tax-Calculator is not installed (extra `taxcalc`)")
    monkeypatch.setenv("GOLDSTAR_CACHE_DIR", str(tmp_path / "cache"))
    frame = pd.read_csv(made / "cps.csv", nrows=50).drop(columns=["RECID"])
    with pytest.raises(InputError, match="records DataFrame: no RECID column"):
        goldstar.reweight(frame, None, year=2015, objective="penalized", engine="taxcalc", data_year=2014)


def _snapshot(*roots: Path) -> set[str]:
    return {os.path.join(d, f) for root in roots for d, _, files in os.walk(root) for f in files}


def test_nothing_is_written_and_nothing_printed(made, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GOLDSTAR_CACHE_DIR", str(cache))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    frame = pd.read_csv(made / "cps.csv", nrows=1500)
    before = _snapshot(work, tmp_path, made)
    result = goldstar.reweight(frame, None, year=2015, objective="band")
    after = _snapshot(work, tmp_path, made)
    assert {p for p in after - before if not p.startswith(str(cache))} == set()
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert result.certificate.passed


def test_progress_prints_and_warnings_are_collected(made, capsys):
    frame = pd.read_csv(made / "cps.csv", nrows=1500)
    result = goldstar.reweight(frame, None, year=2015, objective="penalized", progress=True)
    err = capsys.readouterr().err
    assert result.warnings  # the CPS slice drops targets no record contributes to
    assert any("dropping" in w for w in result.warnings)
    assert "WARNING: dropping" in err


def test_to_reference_writes_what_verify_passes(made, tmp_path, capsys):
    result = goldstar.reweight(made / "cps.csv", None, year=2015, objective="penalized")
    ref = tmp_path / "ref"
    result.to_reference(ref, lbfgsb_options={"maxiter": 50})
    assert capsys.readouterr().out == ""
    assert main(["verify", "--reference", str(ref)]) == 0
    from goldstar.store.reference import read_reference

    reference = read_reference(ref)
    assert reference.metadata["problem"]["problem_hash"] == result.problem_hash
    assert {k: v["hash"] for k, v in reference.metadata["inputs"].items()} == {
        k: v["hash"] for k, v in result.input_hashes.items()}
    # the polish reaches the same optimum the API's solve did
    assert np.allclose(reference.weight, result.weights.to_numpy(), rtol=1e-9, atol=0)
    with pytest.raises(goldstar.GoldstarError):  # an existing reference is replaced only with force
        other = goldstar.reweight(made / "cps.csv", None, year=2015, objective="penalized", penalty=0.02)
        other.to_reference(ref, lbfgsb_options={"maxiter": 50})


def test_to_reference_of_a_dataframe_asks_for_paths(made, tmp_path):
    frame = pd.read_csv(made / "cps.csv", nrows=500)
    result = goldstar.reweight(frame, None, year=2015, objective="penalized")
    with pytest.raises(InputError, match="path"):
        result.to_reference(tmp_path / "ref")
    assert not (tmp_path / "ref").exists()


HEAVY = ("torch", "dask", "distributed", "taxcalc", "matplotlib", "clarabel", "osqp", "highspy")


@pytest.mark.parametrize("statement", [
    "import goldstar",
    "import goldstar.api",
    "import goldstar.testing",
    "import goldstar; goldstar.reweight",
])
def test_importing_loads_no_heavy_package(statement):
    import subprocess
    import sys

    code = f"{statement}\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cache_false_neither_reads_nor_writes_the_engine_cache(tmp_path, monkeypatch):
    from goldstar.inputs.engines.cache import cache_disabled, load_or_compute

    monkeypatch.setenv("GOLDSTAR_CACHE_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [1.0]})

    with cache_disabled():
        assert not load_or_compute("t", {"k": 1}, compute)[1].hit
    assert list(tmp_path.iterdir()) == [] and len(calls) == 1
    load_or_compute("t", {"k": 1}, compute)  # on again: written
    assert load_or_compute("t", {"k": 1}, compute)[1].hit and len(calls) == 2
    with cache_disabled():  # off: the written table is not read
        assert not load_or_compute("t", {"k": 1}, compute)[1].hit
    assert len(calls) == 3


@pytest.mark.slow
def test_on_the_default_problem_the_weights_are_the_clis_bit_for_bit(tmp_path):
    """The whole embedded CPS file (280,005 records), penalized: `goldstar build` + `goldstar solve`
    and goldstar.reweight give the same weights to the last bit."""
    assert main(["build", "--out", str(tmp_path / "problem")]) == 0
    assert main(["solve", str(tmp_path / "problem"), "--out", str(tmp_path / "w.parquet"), "--quiet"]) == 0
    table = pq.read_table(tmp_path / "w.parquet").to_pandas()
    result = goldstar.reweight(None, None, year=2015, objective="penalized")
    assert np.array_equal(result.weights.index.to_numpy(), table["record_id"].to_numpy())
    assert np.array_equal(result.weights.to_numpy(), table["weight"].to_numpy())  # exact, not close
    assert result.problem_hash == read_problem(tmp_path / "problem").content_hash()
    assert result.certificate.passed


def test_to_reference_after_an_input_file_changed_writes_nothing(made, tmp_path):
    """The records file edited between reweight and to_reference: the reference would be made
    from other inputs than these weights', so nothing is written and the file is named."""
    records = tmp_path / "cps.csv"
    pd.read_csv(made / "cps.csv", nrows=1500).to_csv(records, index=False)
    result = goldstar.reweight(records, None, year=2015, objective="penalized")
    edited = pd.read_csv(records)
    edited["e00200"] *= 2
    edited.to_csv(records, index=False)
    with pytest.raises(InputError, match=r"to_reference: the records file .*cps.csv changed since these weights "
                                         r"were made .* nothing written"):
        result.to_reference(tmp_path / "ref")
    assert not (tmp_path / "ref").exists()
