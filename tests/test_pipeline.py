"""`goldstar goldstar` and `goldstar verify`: every fault gets its message and exit code, nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from goldstar.cli import main
from goldstar.hashing import file_hash
from goldstar.store.layout import RECORDS, read_problem, write_problem
from goldstar.store.reference import METADATA_KEY, read_reference
from goldstar.inputs.synth import synth_problem

REPO = Path(__file__).resolve().parent.parent
FAST_LBFGSB = ["--lbfgsb-maxiter", "200", "--quiet"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A synthetic problem directory and the reference made from it (module-wide, read-only)."""
    base = tmp_path_factory.mktemp("made")
    write_problem(synth_problem(4000, 100, seed=21), base / "problem")
    assert main(["goldstar", "--problem", str(base / "problem"), "--reference", str(base / "ref")] + FAST_LBFGSB) == 0
    return base


@pytest.fixture
def work(made, tmp_path):
    """A private copy of the problem and the reference, free to damage."""
    import shutil

    shutil.copytree(made / "problem", tmp_path / "problem")
    shutil.copytree(made / "ref", tmp_path / "ref")
    meta = read_reference(tmp_path / "ref").metadata
    meta["problem"]["source"]["path"] = str(tmp_path / "problem")
    _set_metadata(tmp_path / "ref", meta)
    return tmp_path


def _set_metadata(ref: Path, meta: dict) -> None:
    table = pq.read_table(ref / "weights.parquet")
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    pq.write_table(table, ref / "weights.parquet")


def _verify(ref: Path, *extra: str) -> int:
    return main(["verify", "--reference", str(ref), *extra])


def test_reference_files_and_metadata(made):
    ref = read_reference(made / "ref")
    meta = ref.metadata
    for key in ("schema_version", "inputs", "weights_hash", "solver_chain", "certificate", "versions",
                "platform", "created"):
        assert key in meta
    assert [s["method"] for s in meta["solver_chain"]] == ["lbfgsb", "newton"]
    assert "distance_from_optimum" in meta["solver_chain"][0]
    assert meta["certificate"]["passed"] is True
    assert set(meta["versions"]) >= {"python", "numpy", "scipy", "pyarrow", "goldstar"}
    np.testing.assert_array_equal(ref.weight, ref.w0 * ref.m)
    targets = ref.targets
    assert targets.column_names == ["name", "target", "fitted", "rel_error", "dual"]
    manifest = json.loads((made / "ref" / "MANIFEST.json").read_text())
    assert list(manifest) == sorted(manifest)
    assert set(manifest["weight_fingerprint"]) == {
        "n", "total", "mean", "sdev", "min", "p25", "p50", "p75", "max", "sum_sq"}
    assert manifest["weights_hash"] == meta["weights_hash"]


def test_verify_passes_on_a_fresh_reference(work, capsys):
    assert _verify(work / "ref") == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out
    for word in ("hash", "certificate", "recompute numpy", "fixed-point error", "duality gap"):
        assert word in out


def test_changed_input_fails_hash_naming_the_input(work, capsys):
    problem = read_problem(work / "problem")
    w0 = problem.w0.copy()
    w0[17] *= 1.0001
    table = pq.read_table(work / "problem" / RECORDS)
    table = table.set_column(0, "w0", pa.array(w0))
    pq.write_table(table, work / "problem" / RECORDS)
    assert _verify(work / "ref", "--mode", "hash") == 1
    captured = capsys.readouterr()
    assert "input records.parquet" in captured.err
    assert "FAIL" in captured.out
    # the certificate sees the changed problem too
    assert _verify(work / "ref", "--mode", "certificate") == 1
    assert "problem hash" in capsys.readouterr().err


def test_weight_moved_by_1e7_fails_certificate_naming_the_record(work, capsys):
    table = pq.read_table(work / "ref" / "weights.parquet")
    m = table.column("m").to_numpy().copy()
    ids = table.column("record_id").to_numpy()
    free = np.flatnonzero((m > 0.1) & (m < 10.0))
    i = free[len(free) // 3]
    m[i] *= 1 + 1e-7
    table = table.set_column(2, "m", pa.array(m)).set_column(3, "weight", pa.array(table.column("w0").to_numpy() * m))
    pq.write_table(table, work / "ref" / "weights.parquet")
    assert _verify(work / "ref", "--mode", "certificate") == 1
    out = capsys.readouterr().out
    assert f"record_id {ids[i]}" in out
    assert "fixed-point error" in out
    # the weights no longer hash to their recorded hash either
    assert _verify(work / "ref", "--mode", "hash") == 1


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda r: (r / "weights.parquet").write_bytes((r / "weights.parquet").read_bytes()[:-200]),
         "truncated or not a Parquet file"),
        (lambda r: (r / "weights.parquet").write_bytes(
            (r / "weights.parquet").read_bytes()[:-4] + b"XXXX"), "truncated or not a Parquet file"),
        (lambda r: (r / "targets.parquet").unlink(), "targets.parquet: missing"),
        (lambda r: (r / "MANIFEST.json").write_text("{"), "MANIFEST.json: not valid JSON"),
        ("drop certificate", "metadata lacks key(s): certificate"),
        ("schema 99", "schema version 99 is not one this goldstar knows"),
        (lambda r: pq.write_table(pq.read_table(r / "weights.parquet").replace_schema_metadata({}),
                                  r / "weights.parquet"), "no goldstar metadata"),
    ],
)
def test_unreadable_reference_exits_2(work, capsys, damage, message):
    ref = work / "ref"
    if damage == "drop certificate":
        meta = read_reference(ref).metadata
        del meta["certificate"]
        _set_metadata(ref, meta)
    elif damage == "schema 99":
        meta = read_reference(ref).metadata
        meta["schema_version"] = 99
        _set_metadata(ref, meta)
    else:
        damage(ref)
    assert _verify(ref) == 2
    assert message in capsys.readouterr().err


def test_missing_reference_exits_2(tmp_path, capsys):
    assert _verify(tmp_path / "nothing") == 2
    assert "no reference here" in capsys.readouterr().err


def test_refuses_to_replace_a_reference_from_other_inputs(work, capsys):
    other = work / "other"
    write_problem(synth_problem(4000, 100, seed=22), other)
    argv = ["goldstar", "--problem", str(other), "--reference", str(work / "ref")] + FAST_LBFGSB
    before = file_hash(work / "ref" / "weights.parquet")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "made from other inputs" in err and "input records.parquet" in err and "--force" in err
    assert file_hash(work / "ref" / "weights.parquet") == before
    assert main(argv + ["--force"]) == 0
    assert read_reference(work / "ref").metadata["problem"]["source"]["path"] == str(other)


def test_recompute_of_reordered_records_matches_by_record_id(work, capsys):
    problem = read_problem(work / "problem")
    rng = np.random.default_rng(5)
    write_problem(problem.permuted(rng.permutation(problem.n), rng.permutation(problem.J)), work / "shuffled")
    assert _verify(work / "ref", "--problem", str(work / "shuffled"), "--mode", "recompute",
                   "--mode", "certificate") == 0
    assert "max rel diff" in capsys.readouterr().out


def test_recompute_with_torch_backend(work, capsys):
    pytest.importorskip("torch")
    assert _verify(work / "ref", "--mode", "recompute", "--backend", "torch", "--device", "cpu") == 0
    assert "recompute torch on cpu: weights" in capsys.readouterr().out


def test_recompute_with_lbfgsb_reports_its_distance(small_reference, capsys):
    code = _verify(small_reference / "ref", "--mode", "recompute", "--backend", "lbfgsb")
    out = capsys.readouterr().out
    assert "recompute lbfgsb: weights" in out and "max rel diff" in out
    assert "fingerprint" in out
    assert code in (0, 1)  # the fingerprint may or may not hold; the figures are the point


# -- interruption: the old reference survives a kill at any point of the write ------

CHILD = textwrap.dedent("""
    import os, sys, time
    import goldstar.store.atomic as atomic
    import goldstar.store.reference as reference
    from goldstar.cli import main

    where = sys.argv[1]
    if where == "write":
        real = reference.pq.write_table
        def slow_write(*args, **kwargs):
            real(*args, **kwargs)
            print("PAUSED", flush=True)
            time.sleep(120)
        reference.pq.write_table = slow_write
    else:  # between the two renames of the directory swap
        real_replace = atomic.os.replace
        calls = []
        def slow_replace(src, dst):
            real_replace(src, dst)
            calls.append(dst)
            if len(calls) == 1 and str(dst).endswith(tuple(f".old-{os.getpid()}" for _ in [0])):
                print("PAUSED", flush=True)
                time.sleep(120)
        atomic.os.replace = slow_replace
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.parametrize("where", ["write", "swap"])
def test_killed_goldstar_run_leaves_the_old_reference_whole(work, where):
    before = {p.name: file_hash(p) for p in (work / "ref").iterdir()}
    argv = ["goldstar", "--problem", str(work / "problem"), "--reference", str(work / "ref"),
            "--force"] + FAST_LBFGSB
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, where, *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=work)
    try:
        for line in child.stdout:
            if line.strip() == "PAUSED":
                break
        else:
            pytest.fail(f"the child never reached the write: {child.stderr.read()}")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    survivors = [p for p in work.iterdir() if p.name == "ref" or p.name.startswith(".ref.old-")]
    assert survivors, "no reference left at all"
    after = {p.name: file_hash(p) for p in survivors[0].iterdir()}
    assert after == before
    assert _verify(work / "ref") == 0


def test_every_verify_check_can_fail_and_figures_are_reported_apart(work):
    from goldstar.verify import verify

    report = verify(work / "ref", ("hash", "certificate"))
    assert report.passed
    # a row that cannot fail is no check: figures that are only shown live in `reported`
    assert all("(reported)" not in c.threshold for c in report.checks)
    assert {name for _, name, _ in report.reported} >= {"proven weight bound", "projected gradient"}
    # the certificate owns its pass/fail: verify shows exactly the certificate's checks
    names = {c.name for c in report.checks if c.mode == "certificate"}
    assert {"fixed-point error", "duality gap", "bound violation"} <= names
