"""Every bad input is an `ERROR:` line and exit 2, never a traceback."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from goldstar import InputError, solve
from goldstar.cli import main
from goldstar.store.reference import METADATA_KEY
from goldstar.solvers import SOLVERS, Option, SolverSpec


@pytest.fixture
def work(small_reference, tmp_path):
    shutil.copytree(small_reference / "problem", tmp_path / "problem")
    shutil.copytree(small_reference / "ref", tmp_path / "ref")
    return tmp_path


def _edit_metadata(ref, edit) -> None:
    table = pq.read_table(ref / "weights.parquet")
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    meta = edit(meta)
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}), ref / "weights.parquet")


def _set(path: str, value):
    def edit(meta):
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
        return meta
    return edit


@pytest.mark.parametrize("edit, message", [
    (lambda meta: [meta], "goldstar metadata must be a JSON object, found list"),
    (_set("problem", "reference/default"), "`problem` must be a JSON object, found 'reference/default'"),
    (_set("problem", [1, 2]), "`problem` must be a JSON object"),
    (_set("certificate", []), "`certificate` must be a JSON object"),
    (_set("solver_chain", {"method": "newton"}), "`solver_chain` must be a JSON list"),
    (_set("solver_chain.0", "lbfgsb"), "`solver_chain.0` must be a JSON object"),
    (lambda meta: {**meta, "inputs": {**meta["inputs"], "records.parquet": "x"}},
     "`inputs.records.parquet` must be a JSON object, found 'x'"),
    (_set("problem.source", "somewhere"), "`problem.source` must be a JSON object"),
    (_set("problem.penalty", True), "`problem.penalty` must be a number, found True"),
    (_set("problem.problem_hash", 7), "`problem.problem_hash` must be a string"),
    (_set("certificate.passed", "yes"), "`certificate.passed` must be true or false"),
    (_set("schema_version", True), "schema version True is not one this goldstar knows"),
    (_set("problem.source.penalty", True), "`penalty` must be int or float, found True"),
    (_set("problem.source.year", "2015"), "`year` must be int, found '2015'"),
])
def test_reference_metadata_of_the_wrong_type_exits_2(work, capsys, edit, message):
    _edit_metadata(work / "ref", edit)
    code = main(["verify", "--reference", str(work / "ref"), "--mode", "hash"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("ERROR: ") and message in err


def test_a_manifest_that_is_not_an_object_exits_2(work, capsys):
    (work / "ref" / "MANIFEST.json").write_text("[1, 2]")
    assert main(["verify", "--reference", str(work / "ref"), "--mode", "hash"]) == 2
    assert "MANIFEST.json: must hold a JSON object" in capsys.readouterr().err


@pytest.mark.parametrize("key, value", [("lower", "0.1"), ("upper", None)])
def test_problem_json_parameters_must_be_numbers(work, capsys, key, value):
    path = work / "problem" / "problem.json"
    settings = json.loads(path.read_text())
    settings[key] = value
    path.write_text(json.dumps(settings))
    assert main(["solve", str(work / "problem"), "--out", str(work / "w.parquet")]) == 2
    assert f"{key!r} must be a number, found {value!r}" in capsys.readouterr().err


@pytest.mark.parametrize("value", [True, "0.01", None, -1.0])
def test_the_objectives_parameters_must_be_numbers_in_range(work, capsys, value):
    path = work / "problem" / "problem.json"
    settings = json.loads(path.read_text())
    settings["objective"]["penalty"] = value
    path.write_text(json.dumps(settings))
    assert main(["solve", str(work / "problem"), "--out", str(work / "w.parquet")]) == 2
    assert "`penalty` must be" in capsys.readouterr().err


# -- the option specs ------------------------------------------------------------------------------


def test_every_solver_option_has_a_type_and_its_default_passes_its_own_check():
    for name, spec in SOLVERS.items():
        assert set(spec.options) == set(spec.defaults), name
        for option, opt in spec.options.items():
            assert isinstance(opt, Option)
            assert opt.check(name, option, opt.default) == opt.default, (name, option)


def test_a_bare_default_still_registers_and_is_checked_by_its_type():
    spec = SolverSpec(name="x", module="nowhere", description="", defaults={"a": 1, "b": 0.5, "c": None, "d": True,
                                                                             "e": Option(3, "int", low=1)})
    assert spec.defaults == {"a": 1, "b": 0.5, "c": None, "d": True, "e": 3}
    assert spec.check_options({"a": 2.0, "b": 1, "c": [1], "d": False, "e": 1}) == {
        "a": 2, "b": 1.0, "c": [1], "d": False, "e": 1}
    for bad in ({"a": "2"}, {"a": True}, {"b": "x"}, {"d": 1}, {"e": 0}):
        with pytest.raises(InputError, match="solver 'x': option"):
            spec.check_options(bad)


@pytest.mark.parametrize("method, option, value, allowed", [
    ("newton", "rebuild_fraction", 1.5, "a finite number >= 0 and <= 1"),
    ("newton", "time_limit", 0, "null (None) or a finite number > 0"),
    ("newton-torch", "device", 3, "a string"),
    ("lbfgsb", "ftol", -1e-3, ">= 0"),
    ("lbfgsb", "m0", "ones", "a list of numbers"),
    ("torch-lbfgs", "seed", -1, "an integer >= 0"),
    ("osqp", "polish", "yes", "true or false"),
    ("clarabel", "tol_feas", 0.0, "> 0"),
])
def test_options_are_checked_before_anything_runs(tiny, method, option, value, allowed):
    # checked before the solver's package is imported: runs without torch, OSQP or Clarabel
    with pytest.raises(InputError) as info:
        solve(tiny, method, **{option: value})
    assert f"solver {method!r}: option `{option}` = {value!r} is not allowed" in str(info.value)
    assert allowed in str(info.value)
