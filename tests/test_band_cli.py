"""The band objective through the commands: build, solve, goldstar, verify, report."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from goldstar.defaults import DEFAULT_RECORDS
from goldstar.cli import main
from goldstar.inputs.cps import cps_to_soi
from goldstar.store.layout import read_problem
from goldstar.store.reference import METADATA_KEY, read_reference

FAST = ["--lbfgsb-maxiter", "100", "--quiet"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A 3,000-record slice of the CPS file, its band problem and its band reference (read-only)."""
    base = tmp_path_factory.mktemp("band")
    cps_to_soi(pd.read_csv(DEFAULT_RECORDS, nrows=3000)).to_csv(base / "records.csv", index=False)
    assert main(["build", "--records", str(base / "records.csv"), "--objective", "band",
                 "--out", str(base / "problem")]) == 0
    assert main(["goldstar", "--records", str(base / "records.csv"), "--objective", "band",
                 "--reference", str(base / "ref")] + FAST) == 0
    return base


def test_build_records_the_objective_and_the_dropped_targets(made, capsys):
    problem = read_problem(made / "problem")
    assert problem.objective.name == "band" and problem.objective.slack_units == "target"
    settings = json.loads((made / "problem" / "problem.json").read_text())
    recorded = [d["name"] for d in settings["prepass"]["dropped"]]
    assert tuple(sorted(recorded)) == problem.objective.dropped and recorded
    assert settings["objective"]["dropped"] == list(problem.objective.dropped)


def test_solve_with_band_newton_and_a_solver_that_does_not_fit(made, tmp_path, capsys):
    assert main(["solve", str(made / "problem"), "--solver", "band-newton", "--out", str(tmp_path / "w.parquet"),
                 "--quiet"]) == 0
    assert pq.read_table(tmp_path / "w.parquet").num_rows == 3000
    assert main(["solve", str(made / "problem"), "--solver", "newton", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "solvers for 'band'" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


def test_solve_without_a_solver_takes_the_exact_one_of_the_objective(made, tmp_path, capsys):
    assert main(["solve", str(made / "problem"), "--out", str(tmp_path / "w.parquet"), "--quiet"]) == 0
    assert "solver      band-newton" in capsys.readouterr().out
    meta = json.loads(pq.read_schema(tmp_path / "w.parquet").metadata[b"goldstar_solve"])
    assert meta["method"] == "band-newton" and meta["certificate_passed"]


def test_build_prints_a_summary_of_the_dropped_targets_and_reports_each(made, tmp_path, capsys):
    assert main(["build", "--records", str(made / "records.csv"), "--objective", "band",
                 "--out", str(tmp_path / "p"), "--report", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    dropped = json.loads((tmp_path / "p" / "problem.json").read_text())["prepass"]["dropped"]
    shown = [line for line in out.splitlines() if line.startswith("  ") and "band widths away" in line]
    assert len(shown) == min(len(dropped), 10)
    if len(dropped) > 10:
        assert f"... and {len(dropped) - 10} more (every one in {tmp_path / 'r.csv'}" in out
    report = pd.read_csv(tmp_path / "r.csv", keep_default_na=False)
    assert dict(zip(report["name"], report["dropped"])) == {
        **{name: "" for name in report["name"]}, **{d["name"]: d["reason"] for d in dropped}}


def test_the_band_reference_verifies_and_records_its_band_status(made, capsys):
    ref = read_reference(made / "ref")
    assert ref.metadata["problem"]["objective"]["name"] == "band"
    assert [s["method"] for s in ref.metadata["solver_chain"]] == ["lbfgsb", "band-newton"]
    status = ref.targets.column("status").to_pylist()
    assert status.count("dropped") == len(ref.metadata["problem"]["objective"]["dropped"])
    assert main(["verify", "--reference", str(made / "ref")]) == 0
    out = capsys.readouterr().out
    for check in ("hard bands met", "dropped: out of reach alone", "dropped set = pre-pass", "stored dual"):
        assert check in out


def _copy(made, tmp_path):
    import shutil

    shutil.copytree(made / "ref", tmp_path / "ref")
    shutil.copy(made / "records.csv", tmp_path / "records.csv")
    return tmp_path / "ref"


def _edit_metadata(ref, edit):
    table = pq.read_table(ref / "weights.parquet")
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    edit(meta)
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}), ref / "weights.parquet")


def test_a_dropped_set_that_was_changed_fails_verify(made, tmp_path, capsys):
    ref = _copy(made, tmp_path)
    kept = read_reference(ref).targets.to_pandas().query("status == 'kept'")["name"].iloc[0]

    def drop_one_more(meta):
        meta["problem"]["objective"]["dropped"].append(kept)
        meta["problem"]["objective"]["dropped"].sort()

    _edit_metadata(ref, drop_one_more)
    assert main(["verify", "--reference", str(ref), "--mode", "certificate"]) == 1
    err = capsys.readouterr().err
    assert "dropped set = pre-pass" in err or "problem hash" in err


def test_unreachable_error_policy_exits_1_naming_the_targets(made, tmp_path, capsys):
    assert main(["build", "--records", str(made / "records.csv"), "--objective", "band", "--unreachable", "error",
                 "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    first = json.loads((made / "problem" / "problem.json").read_text())["prepass"]["dropped"][0]["name"]
    assert "cannot be met" in err and first in err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("flags, message", [
    (["--objective", "band", "--eps", "-0.1"], "`eps` must be > 0"),
    (["--objective", "band", "--slack-penalty", "0"], "`slack_penalty` must be > 0"),
    (["--eps", "0.01"], "belong to --objective band"),
])
def test_bad_band_flags_exit_2(made, tmp_path, capsys, flags, message):
    assert main(["build", "--records", str(made / "records.csv"), "--out", str(tmp_path / "p"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_the_report_shows_each_targets_band_status(made, tmp_path):
    assert main(["report", "--reference", str(made / "ref"), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "Band status" in page and "Dropped targets" in page and "hard bands met" in page


def test_the_band_report_shows_kept_and_dropped_targets_apart(made, tmp_path):
    out = tmp_path / "band.html"
    assert main(["report", "--reference", str(made / "ref"), "--out", str(out)]) == 0
    page = out.read_text()
    ref = read_reference(made / "ref")
    prepass = {d["name"]: d for d in ref.metadata["problem"]["prepass"]["dropped"]}
    fitted, dropped = page.split("<h2>Dropped targets</h2>")
    dropped = dropped.split("<h2>")[0]
    for name, proof in prepass.items():
        assert f"<td>{name}</td><td>" in dropped and f"<td>{proof['reason']}</td>" in dropped
        assert name not in fitted.split("Worst-fitted targets")[1]  # never among the fitted ones
    assert "(not recorded)" not in dropped and "nan" not in dropped
    assert "TMD's Q" not in page
