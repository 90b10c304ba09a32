"""goldstar.testing (assertions for downstream test suites) and its pytest plugin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

import goldstar
from goldstar.defaults import DEFAULT_RECORDS
from goldstar.store.reference import read_reference
from goldstar.testing import assert_certified, assert_weights_match

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A 2,000-record CPS slice, its API result and its reference (read-only)."""
    base = tmp_path_factory.mktemp("testing")
    pd.read_csv(DEFAULT_RECORDS, nrows=2000).to_csv(base / "cps.csv", index=False)
    result = goldstar.reweight(base / "cps.csv", None, year=2015, objective="penalized")
    result.to_reference(base / "ref", lbfgsb_options={"maxiter": 50})
    return base, result


def test_the_result_matches_its_reference_every_way_it_can_be_given(made):
    base, result = made
    reference = read_reference(base / "ref")
    for weights in (result, result.weights, base / "ref", str(base / "ref")):
        for ref in (base / "ref", reference):
            assert_weights_match(weights, ref)
    assert_certified(result)
    assert_certified(result.weights, result.problem)


def test_one_weight_off_by_1e_8_is_named_by_its_record_id(made):
    base, result = made
    weights = result.weights.copy()
    record_id = int(weights.index[1234])
    weights.iloc[1234] *= 1 + 1e-8
    with pytest.raises(AssertionError) as caught:
        assert_weights_match(weights, base / "ref")
    message = str(caught.value)
    assert f"record_id {record_id}:" in message
    assert "1 of 2,000 weights" in message
    assert re.search(r"relative difference 1(\.0+\d*)?e-08", message)
    assert_weights_match(weights, base / "ref", rtol=1e-7)  # within a looser tolerance


@pytest.mark.parametrize("misuse, error, says", [
    (lambda r, ref: assert_weights_match(r.weights.to_frame(), ref), TypeError, "got DataFrame"),
    (lambda r, ref: assert_weights_match(r.weights.to_numpy(), ref), TypeError, "got ndarray"),
    (lambda r, ref: assert_weights_match(r, None), TypeError, "reference directory or a loaded Reference, got NoneType"),
    (lambda r, ref: assert_weights_match(r, r), TypeError, "got Result"),
    (lambda r, ref: assert_weights_match(r, ref, rtol=float("nan")), ValueError, "rtol must be a finite number >= 0"),
    (lambda r, ref: assert_weights_match(r, ref, rtol=-1), ValueError, "rtol must be a finite number >= 0"),
    (lambda r, ref: assert_weights_match(r, ref, rtol="1e-9"), ValueError, "rtol must be a finite number >= 0"),
    (lambda r, ref: assert_weights_match(r.weights.set_axis(r.weights.index.astype(str)), ref), TypeError,
     "index must hold the record ids as whole numbers, found dtype "),
    (lambda r, ref: assert_certified(pd.concat([r.weights, r.weights.iloc[:1]]), r.problem), AssertionError,
     "the weights' record ids repeat"),
])
def test_a_misused_helper_says_what_it_takes(made, misuse, error, says):
    """Wrong types, a tolerance that is no tolerance, ids as text, ids twice: said by the helper,
    not by pathlib or pandas, and never a pass (a NaN rtol used to fail every record as off by 0)."""
    base, result = made
    with pytest.raises(error, match=re.escape(says)):
        misuse(result, base / "ref")


def test_changed_inputs_are_named_by_role_and_hash(made, tmp_path):
    base, result = made
    frame = pd.read_csv(base / "cps.csv")
    frame.loc[3, "e00200"] += 1000.0
    frame.to_csv(tmp_path / "cps.csv", index=False)
    changed = goldstar.reweight(tmp_path / "cps.csv", None, year=2015, objective="penalized")
    with pytest.raises(AssertionError) as caught:
        assert_weights_match(changed, base / "ref")
    message = str(caught.value)
    recorded = read_reference(base / "ref").metadata["inputs"]["records"]["hash"]
    assert "input records" in message and recorded in message and changed.input_hashes["records"]["hash"] in message
    assert "input targets" not in message  # the targets did not change
    assert "problem hash" in message


def test_missing_records_are_named(made):
    base, result = made
    with pytest.raises(AssertionError, match=r"1 record\(s\) of the reference missing"):
        assert_weights_match(result.weights.iloc[1:], base / "ref")


def test_uncertified_weights_fail_naming_the_check(made):
    _, result = made
    weights = result.weights.copy()
    weights.iloc[10] *= 1.01
    with pytest.raises(AssertionError, match="certificate"):
        assert_certified(weights, result.problem)


def test_the_plugin_is_declared_as_a_pytest11_entry_point():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"goldstar": "goldstar.pytest_plugin"}


PLUGIN_TEST = '''
from goldstar.testing import assert_weights_match

def test_reference(goldstar_reference):
    assert goldstar_reference.weight.size == {n}
    assert_weights_match(goldstar_reference.directory, goldstar_reference)
'''


@pytest.mark.parametrize("how", ["option", "ini"])
def test_the_fixture_loads_the_reference_named_by_option_or_ini(made, tmp_path, how):
    """A fresh pytest in a temporary directory, the plugin loaded with -p and entry-point plugins
    off: the same run whether or not the installed goldstar declares the entry point yet."""
    base, result = made
    (tmp_path / "test_downstream.py").write_text(PLUGIN_TEST.format(n=len(result.weights)))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "goldstar.pytest_plugin"]
    if how == "option":
        args += [f"--goldstar-reference={base / 'ref'}"]  # as the docs give it
        (tmp_path / "pytest.ini").write_text("[pytest]\n")
    else:
        shutil.copytree(base / "ref", tmp_path / "ref")
        (tmp_path / "pytest.ini").write_text("[pytest]\ngoldstar_reference = ref\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_fixture_without_a_reference_says_how_to_name_one(tmp_path):
    (tmp_path / "test_downstream.py").write_text(PLUGIN_TEST.format(n=1))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                           "goldstar.pytest_plugin"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "--goldstar-reference=PATH" in done.stdout and "goldstar_reference" in done.stdout


def test_the_fixture_with_a_path_that_is_no_reference_fails_naming_it(tmp_path):
    """A named directory without a reference: the test fails with the reader's message, the path
    in it, not a traceback from the fixture's set-up."""
    (tmp_path / "test_downstream.py").write_text(PLUGIN_TEST.format(n=1))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                           "goldstar.pytest_plugin", f"--goldstar-reference={tmp_path / 'empty'}"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"goldstar_reference: {tmp_path / 'empty'}" in done.stdout and "Traceback" not in done.stdout
