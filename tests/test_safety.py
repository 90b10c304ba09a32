"""Nothing of the user's is overwritten or lost: refused outputs, interrupted swaps, leftovers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from goldstar import InputError, read_problem, write_problem
from goldstar.cli import main
from goldstar.defaults import DEFAULT_RECORDS
from goldstar.hashing import file_hash
from goldstar.store.outputs import PROBLEM, REFERENCE, output_kind
from goldstar.inputs.synth import synth_problem

REPO = Path(__file__).resolve().parent.parent
FAST = ["--lbfgsb-maxiter", "30", "--quiet"]


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): file_hash(p) for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def work(small_reference, tmp_path):
    """A private copy of the small problem and its reference."""
    shutil.copytree(small_reference / "problem", tmp_path / "problem")
    shutil.copytree(small_reference / "ref", tmp_path / "ref")
    return tmp_path


@pytest.fixture
def vendored(tmp_path):
    """A directory of the user's own files, like reference/inputs."""
    d = tmp_path / "reference"
    (d / "inputs").mkdir(parents=True)
    (d / "inputs" / "cps.csv.gz").write_bytes(b"precious")
    (d / "README.md").write_text("provenance\n")
    return d


# -- item 1: an existing directory is replaced only if it is a goldstar output of the same kind ----


def test_kinds_are_recognised_by_content(work, vendored):
    assert output_kind(work / "problem") == PROBLEM
    assert output_kind(work / "ref") == REFERENCE
    assert output_kind(vendored) is None
    assert output_kind(work / "absent") is None


@pytest.mark.parametrize("argv", [
    ["synth", "--records", "50", "--targets", "5", "--out", "{out}"],
    ["synth", "--records", "50", "--targets", "5", "--out", "{out}", "--force"],
    ["build", "--out", "{out}"],
    ["build", "--out", "{out}", "--force"],
    ["goldstar", "--problem", "{problem}", "--reference", "{out}", "--quiet"],
    ["goldstar", "--problem", "{problem}", "--reference", "{out}", "--force", "--quiet"],
])
def test_a_directory_goldstar_did_not_write_is_never_replaced(work, vendored, capsys, argv):
    before = snapshot(vendored)
    argv = [a.format(out=vendored, problem=work / "problem") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and str(vendored) in err and "files goldstar did not write" in err
    assert snapshot(vendored) == before


def test_an_output_of_the_other_kind_is_refused(work, capsys):
    before = snapshot(work / "ref")
    assert main(["synth", "--records", "50", "--targets", "5", "--out", str(work / "ref"), "--force"]) == 2
    assert "holds a goldstar reference" in capsys.readouterr().err
    assert snapshot(work / "ref") == before
    before = snapshot(work / "problem")
    assert main(["goldstar", "--problem", str(work / "problem"), "--reference", str(work / "problem"),
                 "--force", "--quiet"]) == 2
    assert "holds a goldstar problem" in capsys.readouterr().err
    assert snapshot(work / "problem") == before


def test_replacing_a_problem_needs_force(work, capsys):
    argv = ["synth", "--records", "50", "--targets", "5", "--out", str(work / "problem")]
    before = snapshot(work / "problem")
    assert main(argv) == 2
    assert "pass --force to replace it" in capsys.readouterr().err
    assert snapshot(work / "problem") == before
    assert main(argv + ["--force"]) == 0
    assert read_problem(work / "problem").n == 50


def test_an_empty_directory_or_a_new_path_may_be_written(tmp_path):
    (tmp_path / "empty").mkdir()
    for name in ("empty", "new/deeper"):
        assert main(["synth", "--records", "50", "--targets", "5", "--out", str(tmp_path / name)]) == 0
        assert output_kind(tmp_path / name) == PROBLEM


def test_report_out_naming_a_directory_exits_2(work, capsys):
    assert main(["report", "--reference", str(work / "ref"), "--out", str(work / "problem")]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_a_file_where_a_directory_belongs_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("mine")
    assert main(["synth", "--records", "50", "--targets", "5", "--out", str(tmp_path / "f"), "--force"]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert (tmp_path / "f").read_text() == "mine"


def test_the_library_writer_refuses_too(vendored):
    with pytest.raises(InputError, match="never replaces"):
        write_problem(synth_problem(50, 5, seed=0), vendored, replace=True)
    assert (vendored / "inputs" / "cps.csv.gz").read_bytes() == b"precious"


# -- item 3: a missing reference is an error, unless an interrupted swap is rolled back -------------


def test_verify_rolls_back_an_interrupted_swap_and_says_so(work, capsys):
    pid = dead_pid()
    before = snapshot(work / "ref")
    (work / "ref").rename(work / f".ref.old-{pid}")  # killed between the two renames
    (work / f".ref.{pid}-abc123.tmp").mkdir()  # its complete new directory
    assert main(["verify", "--reference", str(work / "ref"), "--mode", "hash"]) == 0
    err = capsys.readouterr().err
    assert f"replacement by process {pid} was interrupted" in err and "Rolled it back" in err
    assert snapshot(work / "ref") == before
    assert not (work / f".ref.old-{pid}").exists()


def test_a_stale_aside_is_not_read_in_place_of_a_missing_reference(work, capsys):
    pid = dead_pid()
    shutil.copytree(work / "ref", work / f".ref.old-{pid}")
    shutil.rmtree(work / "ref")
    (work / "ref").mkdir()  # the reference is there (empty, broken): the aside must not stand in for it
    assert main(["verify", "--reference", str(work / "ref"), "--mode", "hash"]) == 2
    assert "weights.parquet: missing" in capsys.readouterr().err


def test_a_swap_in_progress_is_not_touched(work, capsys):
    import os

    (work / "ref").rename(work / f".ref.old-{os.getpid()}")  # a live writer between its renames
    assert main(["verify", "--reference", str(work / "ref")]) == 2
    assert f"being replaced right now by process {os.getpid()}" in capsys.readouterr().err
    assert (work / f".ref.old-{os.getpid()}").is_dir() and not (work / "ref").exists()


def test_the_next_write_removes_dead_writers_leftovers_only(work):
    import os

    dead = dead_pid()
    leftovers = [work / f".problem.{dead}-x1y2.tmp", work / f".problem.old-{dead}"]
    live = [work / f".problem.{os.getpid()}-keep.tmp", work / ".problem.old-keep"]
    for d in leftovers + live:
        d.mkdir()
    (work / f".w.parquet.{dead}-zz.tmp").write_bytes(b"half")
    write_problem(synth_problem(50, 5, seed=0), work / "problem", replace=True)
    assert not any(d.exists() for d in leftovers)
    assert all(d.exists() for d in live)
    assert main(["solve", str(work / "problem"), "--out", str(work / "w.parquet"), "--quiet"]) == 0
    assert not (work / f".w.parquet.{dead}-zz.tmp").exists()


def test_temporaries_asides_and_locks_are_git_ignored():
    names = [".default.12-ab_c.tmp", ".default.old-12", ".default.lock", "reference/.default.old-7"]
    out = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=REPO, capture_output=True, text=True)
    assert sorted(out.stdout.split()) == sorted(names)


# -- item 4: one goldstar run at a time on a reference ---------------------------------------------

PAUSE_AFTER_LOCKING = """
import sys, time
import goldstar.pipeline as pipeline
from goldstar.cli import main

real = pipeline.prepare_output
def paused(*args, **kwargs):
    real(*args, **kwargs)
    print("PAUSED", flush=True)
    time.sleep(120)
pipeline.prepare_output = paused
sys.exit(main(sys.argv[1:]))
"""


def test_a_second_run_on_a_locked_reference_exits_2_naming_the_holder(work, capsys):
    import os
    import signal

    from goldstar.store.lock import lock_path

    argv = ["goldstar", "--problem", str(work / "problem"), "--reference", str(work / "ref")] + FAST
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", PAUSE_AFTER_LOCKING, *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=work)
    try:
        assert child.stdout.readline().strip() == "PAUSED", child.stderr.read()
        before = snapshot(work / "ref")
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"is locked by another `goldstar goldstar` run: process {child.pid}" in err
        assert str(lock_path(work / "ref")) in err
        assert snapshot(work / "ref") == before
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    # the holder was killed: its lock is stale, the next run removes it and goes on
    assert lock_path(work / "ref").exists()
    assert main(argv + ["--force"]) == 0  # --force: the copy recorded the original problem's path
    assert f"removed the stale lock {lock_path(work / 'ref')} of process {child.pid}" in capsys.readouterr().err
    assert not lock_path(work / "ref").exists()


def test_a_lock_of_another_host_is_respected(work, capsys):
    import json

    from goldstar.store.lock import lock_path

    lock_path(work / "ref").write_text(json.dumps({"pid": 1, "host": "elsewhere", "created": "t"}))
    argv = ["goldstar", "--problem", str(work / "problem"), "--reference", str(work / "ref")] + FAST
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "process 1 on elsewhere" in err and "if that run is gone, remove" in err


# -- item 10: --problem with build flags is refused; a relative --problem is recorded relative to the reference


@pytest.mark.parametrize("extra, named", [
    (["--penalty", "0.5"], "--penalty"),
    (["--lower", "0.2", "--upper", "5"], "--lower, --upper"),
    (["--year", "2015"], "--year"),
    (["--records", "r.csv"], "--records"),
])
def test_problem_with_build_flags_is_refused(work, capsys, extra, named):
    argv = ["goldstar", "--problem", str(work / "problem"), "--reference", str(work / "new"), *extra] + FAST
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--problem {work / 'problem'} cannot be combined with {named}" in err
    assert not (work / "new").exists()


def test_a_relative_problem_path_is_recorded_relative_to_the_reference(work, monkeypatch, capsys):
    from goldstar.store.reference import read_reference

    monkeypatch.chdir(work)
    assert main(["goldstar", "--problem", "problem", "--reference", "refs/mine"] + FAST) == 0
    source = read_reference(work / "refs" / "mine").metadata["problem"]["source"]
    assert source["path"] == "../../problem"
    (work / "elsewhere").mkdir()
    monkeypatch.chdir(work / "elsewhere")
    assert main(["verify", "--reference", "../refs/mine", "--mode", "hash", "--mode", "certificate"]) == 0
    # the same run again is not "made from other inputs": the recorded source is the same
    monkeypatch.chdir(work)
    assert main(["goldstar", "--problem", "./problem", "--reference", "refs/mine"] + FAST) == 0
    capsys.readouterr()


# -- single-file outputs: replaced only when goldstar wrote them as that kind ---------------


def test_a_users_file_is_never_replaced_by_a_single_file_output(work, capsys):
    mine = work / "mine.txt"
    mine.write_text("the user's notes\n")
    weights = work / "ref" / "weights.parquet"
    before = file_hash(weights)
    refused = [
        ["report", "--reference", str(work / "ref"), "--out", str(mine)],
        ["report", "--reference", str(work / "ref"), "--out", str(weights)],  # the run's own input
        ["solve", str(work / "problem"), "--out", str(mine), "--quiet"],
        ["build", "--out", str(work / "new"), "--report", str(mine)],
        ["impact", str(work / "ref"), "--html", str(weights)],  # refused before Tax-Calculator is needed
    ]
    for argv in refused:
        assert main(argv) == 2, argv
        assert "goldstar never replaces such a file" in capsys.readouterr().err
    assert mine.read_text() == "the user's notes\n" and file_hash(weights) == before
    assert not (work / "new").exists()


def test_goldstar_replaces_its_own_single_file_outputs(work):
    records = work / "cps.csv"  # a slice of the embedded CPS file: the build's outputs, in a second
    pd.read_csv(DEFAULT_RECORDS, nrows=3000).to_csv(records, index=False)
    runs = {
        work / "report.html": ["report", "--reference", str(work / "ref"), "--out", str(work / "report.html")],
        work / "w.parquet": ["solve", str(work / "problem"), "--out", str(work / "w.parquet"), "--quiet"],
        work / "build.csv": ["build", "--records", str(records), "--engine", "cps", "--out", str(work / "b"), "--force",
                             "--report", str(work / "build.csv")],
    }
    for path, argv in runs.items():
        assert main(argv) == 0
        first = path.stat().st_ino
        assert main(argv) == 0
        assert path.stat().st_ino != first  # a new file renamed onto the old one (goldstar.store.atomic)


def test_links_devices_and_pipes_are_not_output_files(work, capsys):
    target = work / "target.html"
    target.write_text("kept\n")
    link = work / "link.html"
    link.symlink_to(target)
    pipe = work / "pipe.html"
    os.mkfifo(pipe)
    for path, message in ((link, "is a symbolic link"), (pipe, "is not a regular file"),
                          (Path("/dev/null"), "is not a regular file")):
        assert main(["report", "--reference", str(work / "ref"), "--out", str(path)]) == 2
        assert message in capsys.readouterr().err
    assert target.read_text() == "kept\n" and link.is_symlink() and Path("/dev/null").is_char_device()
