"""The command line: outputs, printed figures and exit codes (0 ok, 1 not converged, 2 bad input)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from goldstar import read_problem
from goldstar.cli import main


@pytest.fixture
def problem_dir(tmp_path):
    assert main(["synth", "--records", "800", "--targets", "40", "--seed", "5", "--out", str(tmp_path / "p")]) == 0
    return tmp_path / "p"


def test_synth_then_solve_writes_weights_in_record_order(problem_dir, tmp_path, capsys):
    out = tmp_path / "w.parquet"
    assert main(["solve", str(problem_dir), "--solver", "newton", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    for word in ("loss", "pg", "gap", "iterations", "seconds"):
        assert word in printed
    table = pq.read_table(out)
    problem = read_problem(problem_dir)
    assert table.num_rows == problem.n
    assert {"m", "weight"} <= set(table.column_names)
    m = table.column("m").to_numpy()
    np.testing.assert_array_equal(table.column("weight").to_numpy(), problem.w0 * m)
    np.testing.assert_array_equal(table.column("record_id").to_numpy(), problem.record_ids)


def test_synth_is_deterministic(tmp_path):
    for name in ("a", "b"):
        main(["synth", "--records", "500", "--targets", "30", "--seed", "9", "--out", str(tmp_path / name)])
    assert read_problem(tmp_path / "a").content_hash() == read_problem(tmp_path / "b").content_hash()


def test_not_converged_exits_1_and_still_writes(problem_dir, tmp_path, capsys):
    out = tmp_path / "w.parquet"
    code = main(["solve", str(problem_dir), "--out", str(out), "--option", "max_iter=1", "--quiet"])
    assert code == 1
    assert "did not converge" in capsys.readouterr().err
    assert out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["solve", "{tmp}/nowhere", "--out", "{tmp}/w.parquet"], "no such problem directory"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "nope=1"], "unknown option"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "tol"], "key=value"),
        (["solve", "{problem}", "--solver", "simplex", "--out", "{tmp}/w.parquet"], "invalid choice"),
        (["synth", "--records", "5", "--targets", "3", "--out", "{tmp}/q"], "`records` must be at least 10"),
    ],
)
def test_bad_input_exits_2_with_a_message(problem_dir, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, problem=problem_dir) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w.parquet").exists()
