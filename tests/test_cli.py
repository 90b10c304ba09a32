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


def test_not_converged_writes_nothing_and_keeps_the_old_file(problem_dir, tmp_path, capsys):
    out = tmp_path / "w.parquet"
    assert main(["solve", str(problem_dir), "--out", str(out), "--quiet"]) == 0
    before = out.read_bytes()
    code = main(["solve", str(problem_dir), "--out", str(out), "--option", "max_iter=1", "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "did not converge" in err and f"Nothing written to {out}" in err and "--write-unconverged" in err
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p", "w.parquet"]


def test_write_unconverged_writes_and_says_so(problem_dir, tmp_path, capsys):
    import json

    out = tmp_path / "w.parquet"
    code = main(["solve", str(problem_dir), "--out", str(out), "--option", "max_iter=1", "--quiet",
                 "--write-unconverged"])
    assert code == 1
    assert "WARNING: wrote UNCONVERGED weights" in capsys.readouterr().err
    status = json.loads(pq.read_schema(out).metadata[b"goldstar_solve"])
    assert status["converged"] is False and status["certificate_passed"] is False


def test_an_answer_that_fails_its_certificate_is_not_written(problem_dir, tmp_path, capsys):
    out = tmp_path / "w.parquet"
    # L-BFGS-B converges by its own loose rule, far from the optimum the certificate asks for
    assert main(["solve", str(problem_dir), "--solver", "lbfgsb", "--option", "gtol=1e-1", "--out", str(out),
                 "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "fails the certificate" in err and "Nothing written" in err and "did not converge" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["solve", "{tmp}/nowhere", "--out", "{tmp}/w.parquet"], "no such problem directory"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "nope=1"], "unknown option"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "tol"], "key=value"),
        (["solve", "{problem}", "--solver", "simplex", "--out", "{tmp}/w.parquet"], "invalid choice"),
        (["synth", "--records", "5", "--targets", "3", "--out", "{tmp}/q"], "`records` must be at least 10"),
        (["solve", "{problem}", "--out", "{tmp}"], "is a directory"),
        (["solve", "{problem}", "--out", "{problem}/problem.json/w.parquet"], "is a file, not a directory"),
        # refused before Tax-Calculator runs: no weights read, no extra needed
        (["impact", "{tmp}/nowhere", "--html", "{tmp}"], "is a directory; give the path of an HTML file"),
        (["report", "--out", "{problem}/problem.json/r.html"], "is a file, not a directory"),
        (["build", "--out", "{problem}/problem.json/p"], "problem.json is a file, not a directory"),
        (["build", "--out", "{tmp}/new", "--report", "{tmp}"], "is a directory; give the path of a CSV file"),
        (["synth", "--records", "20", "--targets", "3", "--out", "{problem}/problem.json/p"], "is a file, not"),
        (["goldstar", "--problem", "{problem}", "--reference", "{problem}/problem.json/r"], "is a file, not"),
        (["areas", "--areas", "WY", "--out", "{problem}/problem.json/a"], "is a file, not a directory"),
        (["synth", "--records", "20", "--targets", "3", "--out", "/proc/goldstar-x"], "nothing can be written"),
        (["report", "--out", "/proc/goldstar-x.html"], "nothing can be written in /proc"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "max_iter=abc"],
         "solver 'newton': option `max_iter` = 'abc' is not allowed; it must be an integer >= 1"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "max_iter=0"],
         "option `max_iter` = 0 is not allowed"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "max_iter=2.5"],
         "option `max_iter` = 2.5 is not allowed"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "tol=-1"],
         "option `tol` = -1 is not allowed; it must be a finite number > 0"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "tol=NaN"], "option `tol` = nan"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "tol=true"], "option `tol` = True"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "time_limit=fast"],
         "option `time_limit` = 'fast' is not allowed; it must be null (None) or a finite number > 0"),
        (["solve", "{problem}", "--out", "{tmp}/w.parquet", "--option", "y0=3"], "option `y0` = 3"),
        (["solve", "{problem}", "--solver", "lbfgsb", "--out", "{tmp}/w.parquet", "--option", "maxcor=0"],
         "solver 'lbfgsb': option `maxcor` = 0"),
        (["goldstar", "--problem", "{problem}", "--reference", "{tmp}/r", "--lbfgsb-maxiter", "-5"],
         "solver 'lbfgsb': option `maxiter` = -5 is not allowed"),
        (["goldstar", "--problem", "{problem}", "--reference", "{tmp}/r", "--lbfgsb-gtol", "nan"],
         "solver 'lbfgsb': option `gtol` = nan is not allowed"),
    ],
)
def test_bad_input_exits_2_with_a_message(problem_dir, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, problem=problem_dir) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w.parquet").exists() and not (tmp_path / "new").exists()


def test_an_interrupted_solve_exits_130_and_leaves_the_old_output(problem_dir, tmp_path, capsys, monkeypatch):
    """Ctrl-C while solving or while writing: exit 130 with one line, the --out written before
    left byte for byte, and no temporary file beside it (goldstar.store.atomic)."""
    import pyarrow.parquet

    from goldstar import workflow

    out = tmp_path / "w.parquet"
    assert main(["solve", str(problem_dir), "--out", str(out), "--quiet"]) == 0
    before = out.read_bytes()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    real_write = pyarrow.parquet.write_table

    def half_then_interrupt(table, where, *args, **kwargs):
        real_write(table.slice(0, 10), where, *args, **kwargs)  # something is on disk when the key is hit
        raise KeyboardInterrupt

    for target, name, stop in ((workflow, "solve_certified", interrupt),
                               (pyarrow.parquet, "write_table", half_then_interrupt)):
        with monkeypatch.context() as patch:
            patch.setattr(target, name, stop)
            assert main(["solve", str(problem_dir), "--out", str(out), "--quiet"]) == 130
        err = capsys.readouterr().err
        assert err.strip() == "ERROR: interrupted; nothing was half-written", (name, err)
        assert out.read_bytes() == before, name
        assert sorted(p.name for p in tmp_path.iterdir()) == ["p", "w.parquet"], name
