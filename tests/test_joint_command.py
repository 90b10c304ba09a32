"""`goldstar areas --max-exhaustion E` and `--additive` (goldstar.areas.joint_run): the joint
solve after the separate batch, on small national data and real state shares, written to
OUT/joint and, certified, as a compact reference that `goldstar verify --areas` checks."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("dask.distributed")

from goldstar.areas.joint_run import JOINT_DIR, JOINT_JSON, read_joint  # noqa: E402
from goldstar.areas.output import read_m  # noqa: E402
from goldstar.cli import main  # noqa: E402
from goldstar.store.outputs import DUALS  # noqa: E402
from goldstar.verify import RECOMPUTE_RTOL, multiplier_difference  # noqa: E402
from tests import areas_helpers  # noqa: E402
from tests.areas_helpers import areas_cli, load_script  # noqa: E402

AREAS = "AL,CA,NY,TX,WY"
HAS_TORCH = importlib.util.find_spec("torch") is not None
TORCH_CUDA = HAS_TORCH and __import__("torch").cuda.is_available()


# the batch on a thread cluster in this process (real areas, no worker processes to start)
small_files, threads = areas_helpers.small_files, areas_helpers.in_process


def separate_sums(out) -> tuple[np.ndarray, np.ndarray]:
    """Each record's sum over the areas of pop_share x m (the batch's), and the shares."""
    shares = np.array([json.loads((out / "areas" / f"{a}.json").read_text())["pop_share"] for a in AREAS.split(",")])
    m = np.column_stack([read_m(out, a) for a in AREAS.split(",")])
    return m @ shares, shares


def small_joint_problem(small_files, cap: float):
    """The national data and the joint problem of AREAS under `cap`, as the command builds them."""
    import argparse

    from goldstar.areas import command
    from goldstar.areas.joint import joint_problem

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--areas", AREAS, "--records", str(small_files / "records.parquet"),
                              "--national-weights", str(small_files / "weights.parquet")])
    national, areas, settings, hashes = command.batch_inputs(args, AREAS)[:4]
    return national, joint_problem(national, areas, settings, hashes, max_exhaustion=cap)


@pytest.fixture(scope="module")
def capped(tmp_path_factory, small_files):
    """The separate batch, then the joint solve at a cap 2% below the largest of the records' sums,
    with its reference: (out, reference, exit code, stdout, the cap, the separate sums)."""
    from dask.distributed import Client, LocalCluster

    from goldstar.areas import batch

    root = tmp_path_factory.mktemp("capped")
    mp = pytest.MonkeyPatch()
    mp.setattr(batch, "make_client", lambda scheduler=None, workers=None: Client(
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")))
    try:
        first = root / "first"
        assert areas_cli(small_files, first, "--areas", AREAS, "--no-tmd-weights") == 0
        sums, shares = separate_sums(first)
        cap = 0.98 * float(sums.max())
        assert cap > shares.sum() and (sums > cap).sum() >= 2  # it binds, and records that feed no target meet it
        out, reference = root / "out", root / "ref"
        import contextlib
        import io

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = areas_cli(small_files, out, "--areas", AREAS, "--no-tmd-weights", "--max-exhaustion", repr(cap),
                             "--write-reference", str(reference))
    finally:
        mp.undo()
    return out, reference, code, buffer.getvalue(), cap, sums


def test_the_capped_joint_solve_is_certified_and_holds_the_cap(capped):
    out, _, code, printed, cap, sums = capped
    assert code == 0, printed
    record, m = read_joint(out)
    assert record["certified"] and record["failures"] == [] and record["coupling"] == f"max-exhaustion {cap:g}"
    assert record["max_exhaustion"] == cap
    shares = np.array([json.loads((out / "areas" / f"{a}.json").read_text())["pop_share"] for a in AREAS.split(",")])
    joint = np.column_stack([m[a] for a in AREAS.split(",")]) @ shares
    # the coupling held per record to the certificate's 1e-12 of its national weight
    assert joint.max() <= cap * (1 + 1e-12) and sums.max() > cap
    assert record["sums"]["joint"]["max"] == pytest.approx(float(joint.max()), rel=1e-12)
    assert record["sums"]["separate"]["max"] == pytest.approx(float(sums.max()), rel=1e-12)
    # records without a national weight keep 0, as the batch writes them
    weight = pq.read_table(out / "records.parquet").column("weight").to_numpy()
    assert np.all(np.column_stack(list(m.values()))[weight == 0] == 0)
    assert "certificate  passed" in printed and f"wrote        {out / JOINT_DIR}" in printed


def test_the_joint_duals_reproduce_the_stored_multipliers(capped, small_files):
    """x from the stored duals, every record's coupling multiplier solved exactly, is the stored
    joint multipliers to the rounding of the products that make it."""
    from goldstar.areas.joint import kept_duals
    from goldstar.areas.joint_run import national_multipliers
    from goldstar.solvers.additive_core import multipliers_of_dual

    out, _, _, _, cap, _ = capped
    table = pq.read_table(out / JOINT_DIR / "duals.parquet").to_pandas()
    assert list(table.columns) == ["area", "target", "y"] and set(table["area"]) == set(AREAS.split(","))
    national, problem = small_joint_problem(small_files, cap)
    ys = {a: g["y"].to_numpy() for a, g in table.groupby("area", sort=False)}
    m = national_multipliers(national, problem, multipliers_of_dual(problem.data, kept_duals(problem, ys, "joint")))
    _, stored = read_joint(out)
    for a, area in enumerate(problem.areas):
        assert np.max(np.abs(m[:, a] - stored[area])) <= 1e-12


def test_a_long_joint_solve_shows_progress_between_its_outer_iterations(capped, small_files, monkeypatch, capsys):
    """The command's progress (joint_run._Progress) prints each outer iteration's end and, between
    them, the latest state every PROGRESS_EVERY seconds: at 0, a line for every state solve_joint
    computes, numbered in order, ending at the solve's floor."""
    import re

    from goldstar.areas import joint_run
    from goldstar.areas.joint_run import row_duals, solve_joint

    out, _, _, _, cap, _ = capped
    national, problem = small_joint_problem(small_files, cap)
    rows = [json.loads((out / "areas" / f"{a}.json").read_text()) for a in AREAS.split(",")]
    monkeypatch.setattr(joint_run, "PROGRESS_EVERY", 0.0)
    capsys.readouterr()
    answer = solve_joint(national, problem, row_duals(problem, rows), progress=joint_run._Progress())
    printed = capsys.readouterr().err.splitlines()
    states = [int(m.group(1)) for m in (re.match(r"joint +state (\d+): \|G\| ", line) for line in printed) if m]
    outers = [line for line in printed if re.match(r"joint +step \d+ \(outer \d+\)", line)]
    assert answer.certificate.passed and len(outers) == answer.result.outer
    # a state for each Newton step at least (and each outer iteration's first), in order
    assert states == list(range(1, len(states) + 1)) and len(states) >= answer.result.inner
    assert printed[-1] == outers[-1]  # the solve ends with its last outer iteration's line


def test_the_joint_reference_verifies_and_a_changed_dual_fails(capped, small_files, tmp_path, capsys):
    import shutil

    import pyarrow as pa

    _, reference, _, _, _, _ = capped
    capsys.readouterr()
    # `goldstar verify --areas DIR` with the small national files the reference was made from
    from goldstar.areas.command import add_arguments, verify
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def run(ref, *extra) -> int:
        args = parser.parse_args(["--verify", str(ref), "--records", str(small_files / "records.parquet"),
                                  "--national-weights", str(small_files / "weights.parquet"), "--quiet", *extra])
        return verify(args)

    from goldstar.exceptions import InputError

    with pytest.raises(InputError, match="areas were solved together: it is verified whole"):
        run(reference, "--areas", "AL,CA")
    with pytest.raises(InputError, match="--mode recompute .* is not offered for it"):
        verify(parser.parse_args(["--verify", str(reference), "--records", str(small_files / "records.parquet"),
                                  "--national-weights", str(small_files / "weights.parquet"), "--quiet"]),
               ("hash", "certificate", "recompute"))
    assert run(reference, "--areas", "wy,tx,ny,ca,al") == 0  # the same set in another order
    assert run(reference) == 0
    said = capsys.readouterr().out
    assert "joint      ok" in said and "verified     5 of 5 areas and MANIFEST.json and the joint certificate" in said
    # the largest dual moved by a part in a million: the joint certificate fails it
    edited = tmp_path / "edited"
    shutil.copytree(reference, edited)
    table = pq.read_table(edited / DUALS)
    y = table.column("y").to_numpy(zero_copy_only=False).copy()
    largest = int(np.nanargmax(np.abs(y)))
    y[largest] *= 1 + 1e-6
    pq.write_table(table.set_column(2, "y", pa.array(y, pa.float64(), from_pandas=True))
                   .replace_schema_metadata(table.schema.metadata), edited / DUALS)
    assert run(edited) == 1
    assert "joint      FAIL" in capsys.readouterr().out


def test_a_joint_reference_is_not_read_as_the_separate_solves(capped, small_files):
    from goldstar.areas.joint import separate_duals
    from goldstar.areas.reference import read_reference
    from goldstar.exceptions import InputError

    _, reference, _, _, cap, _ = capped
    _, info = read_reference(reference)
    assert info["joint"]["coupling"] == f"max-exhaustion {cap:g}" and info["joint"]["certificate"]["passed"]
    _, problem = small_joint_problem(small_files, cap)
    with pytest.raises(InputError, match=f"holds a joint solve \\(max-exhaustion {cap:g}\\), not the separate"):
        separate_duals(problem, reference)


@pytest.mark.parametrize("extra, says", [
    (["--additive"], "--additive: the 5 areas' population shares sum to"),
    (["--max-exhaustion", "0.1"], "--max-exhaustion 0.1: must be a finite number of at least 0.28"),
    (["--max-exhaustion", "nan"], "`--max-exhaustion` must be a finite number"),
    (["--joint-time-limit", "5"], "--joint-time-limit limits the joint solve"),
    (["--additive", "--max-exhaustion", "2"], "argument --max-exhaustion: not allowed with argument --additive"),
    (["--joint-device", "cpu"], "--joint-device 'cpu' factors the joint solve's Newton systems: give --additive"),
    pytest.param(["--max-exhaustion", "2", "--joint-device", "tpu9"], "--joint-device 'tpu9' is not a torch device",
                 marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")),
    pytest.param(["--max-exhaustion", "2", "--joint-device", "meta"], "goldstar runs on cpu or cuda",
                 marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")),
    pytest.param(["--max-exhaustion", "2", "--joint-device", "cuda"], "--joint-device 'cuda' was asked for, but torch "
                 "sees no CUDA device",
                 marks=pytest.mark.skipif(TORCH_CUDA or not HAS_TORCH, reason="torch sees a GPU here, or no torch")),
])
def test_bad_couplings_exit_2_before_anything_is_written(small_files, tmp_path, threads, capsys, extra, says):
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", AREAS, *extra) == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_a_joint_solve_short_of_the_optimum_fails_loudly_and_writes_no_reference(capped, small_files, tmp_path,
                                                                               threads, capsys):
    """Stopped by --joint-time-limit after its first Newton step (the limit is checked between
    steps), the solve of the fixture's cap is short of the optimum: exit 1, the certificate's
    failures named, the answer kept in OUT/joint marked uncertified, and no reference."""
    *_, cap, _ = capped
    out, reference = tmp_path / "out", tmp_path / "ref"
    assert areas_cli(small_files, out, "--areas", AREAS, "--no-tmd-weights", "--max-exhaustion", repr(cap),
                     "--joint-time-limit", "1e-6", "--write-reference", str(reference)) == 1
    err = capsys.readouterr().err
    assert "ERROR: joint certificate: fixed-point error" in err and "not written, the joint solve is not certified" in err
    record, _ = read_joint(out)
    assert record["certified"] is False and record["failures"] and "time limit" in record["solve"]["message"]
    assert not reference.exists()


def test_bands_the_cap_puts_out_of_reach_are_named_and_nothing_is_solved(small_files, tmp_path, threads, capsys):
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", AREAS, "--no-tmd-weights", "--max-exhaustion", "0.285") == 1
    err = capsys.readouterr().err
    assert "bands the coupling makes unreachable together" in err and "nothing joint was solved" in err
    assert not (out / JOINT_DIR).exists() and (out / "summary.csv").is_file()  # the batch stands


def test_a_cap_that_puts_a_cell_less_its_parts_out_of_reach_is_named(capped, small_files, tmp_path, threads,
                                                                     capsys):
    """A tenth below the largest sum every cell alone adds up under the cap, but the two states
    that keep the $500K-$1M returns of every filing status and of single, joint and head-of-
    household filers need, together, more returns of the other statuses (about 52,500) than the
    capped records give (about 48,800): named as that cell less its family, nothing solved."""
    *_, sums = capped
    out = tmp_path / "out"
    cap = 0.9 * float(sums.max())
    assert areas_cli(small_files, out, "--areas", AREAS, "--no-tmd-weights", "--max-exhaustion", repr(cap)) == 1
    err = capsys.readouterr().err
    named = [line for line in err.splitlines() if "bands the coupling makes unreachable together" in line]
    assert len(named) == 1 and "agi=[500000.0,1000000.0)/fs=0 less c00100/cnt=1/scope=1/agi=[500000.0," in named[0]
    assert "the bands of its 2 areas add up to" in named[0] and "nothing joint was solved" in err
    assert not (out / JOINT_DIR).exists()


def test_a_cap_above_every_separate_sum_gives_the_separate_weights(capped, small_files, tmp_path, threads):
    """Where the cap binds nowhere the joint problem is the areas side by side: the joint solve
    ends where it starts, at the separate solves, to 1e-9 of each multiplier."""
    *_, sums = capped
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", AREAS, "--no-tmd-weights",
                     "--max-exhaustion", repr(1.01 * float(sums.max()))) == 0
    record, m = read_joint(out)
    assert record["certified"]
    for area in AREAS.split(","):
        separate = read_m(out, area)
        assert multiplier_difference(m[area], separate) <= RECOMPUTE_RTOL  # 1e-9


def test_the_joint_newton_systems_factored_by_torch_give_the_same_certified_weights(capped, small_files, tmp_path,
                                                                                    threads, capsys):
    """--joint-device cpu: the same joint solve with its Newton systems factored by torch, said and
    recorded; the multipliers are numpy's as a recompute must match (tests/test_additive_torch.py's reason)."""
    pytest.importorskip("torch")
    on_numpy, _, _, _, cap, _ = capped
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", AREAS, "--no-tmd-weights", "--max-exhaustion", repr(cap),
                     "--joint-device", "cpu") == 0
    assert "Newton systems factored by torch, cpu" in capsys.readouterr().out
    record, m = read_joint(out)
    assert record["certified"] and record["solve"]["factored_on"] == "torch, cpu"
    assert not (out / "tmd").exists()  # --no-tmd-weights: no TMD-layout folder, not an empty one
    numpy_record, numpy_m = read_joint(on_numpy)
    assert numpy_record["solve"]["factored_on"] == "numpy"
    for area in AREAS.split(","):
        assert multiplier_difference(m[area], numpy_m[area]) <= RECOMPUTE_RTOL


def test_the_areas_report_puts_the_joint_solve_beside_the_separate_batch(capped, tmp_path):
    from goldstar.areas.report import render

    out, _, _, _, cap, sums = capped
    page = render(out)
    assert f"The joint solve (max-exhaustion {cap:g})" in page and "; certified.</p>" in page
    assert f"<td>{sums.max():.4g}</td>" in page  # the separate max, in the table's first row
    assert f"<td>{cap:.4g}</td>" in page  # the joint max: the records above the cap brought to it


def test_the_benchmark_section_is_read_from_the_joint_solve(capped, tmp_path, capsys):
    out, _, _, _, cap, sums = capped
    script = load_script("bench_joint")
    bench = tmp_path / "B.md"
    bench.write_text("# Benchmarks\n\nkept\n")
    command = f"goldstar areas --areas {AREAS} --max-exhaustion {cap:g} --out {out}"
    assert script.main([str(out), "--command", command, "--out", str(bench)]) == 0
    text = bench.read_text()
    record, _ = read_joint(out)
    assert text.startswith("# Benchmarks\n\nkept\n") and "<!-- joint:start -->" in text
    assert f"## The areas solved jointly (max-exhaustion {cap:g})" in text
    assert f"| {sums.max():.4f} | {cap:.4f} |" in text and "Joint certificate passed" in text
    assert f"`goldstar areas --areas {AREAS} --max-exhaustion {cap:g} --out {out}`" in text
    with pytest.raises(SystemExit):
        script.main([str(tmp_path), "--command", command, "--out", str(bench)])  # no joint solve there


def test_a_users_file_at_out_joint_is_refused_before_any_work_and_kept(capped, small_files, tmp_path, threads, capsys):
    import shutil

    out, *_, cap, _ = capped
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "joint").write_text("my notes")
    assert areas_cli(small_files, mine, "--areas", AREAS, "--max-exhaustion", repr(cap)) == 2
    assert "joint: exists and is not a folder goldstar wrote" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["joint"] and (mine / "joint").read_text() == "my notes"
    # a file of the user's put inside an earlier joint solve: named, and nothing deleted
    extended = tmp_path / "extended"
    shutil.copytree(out, extended)
    (extended / JOINT_DIR / "analysis.csv").write_text("a,b\n")
    before = (extended / "summary.csv").read_bytes()
    assert areas_cli(small_files, extended, "--areas", AREAS, "--no-tmd-weights", "--max-exhaustion", repr(cap)) == 2
    assert "holds analysis.csv, which a joint solve does not write" in capsys.readouterr().err
    assert (extended / JOINT_DIR / "analysis.csv").read_text() == "a,b\n"
    assert (extended / "summary.csv").read_bytes() == before  # the batch did not run either


def test_a_joint_solve_from_other_inputs_is_not_shown_as_the_batchs(capped, tmp_path):
    import shutil

    from goldstar.areas.report import render

    out, *_ = capped
    stale = tmp_path / "stale"
    shutil.copytree(out, stale)
    record = json.loads((stale / JOINT_DIR / JOINT_JSON).read_text())
    record["input_hashes"]["CA"] = "0" * 32
    (stale / JOINT_DIR / JOINT_JSON).write_text(json.dumps(record))
    page = render(stale)
    assert "made from other inputs than the batch now in this directory (area CA" in page
    assert "; certified.</p>" not in page


@pytest.mark.parametrize("edit, field", [
    (lambda r: r.pop("solve"), "solve"),
    (lambda r: r.pop("coupling"), "coupling"),
    (lambda r: r["solve"].update(seconds="fast"), "solve.seconds"),
    (lambda r: r.update(failures=None), "failures"),
    (lambda r: r.update(areas="AL"), "areas"),
])
def test_a_malformed_joint_record_is_named_not_a_traceback(capped, tmp_path, capsys, edit, field):
    import shutil

    out, *_ = capped
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    record = json.loads((broken / JOINT_DIR / JOINT_JSON).read_text())
    edit(record)
    (broken / JOINT_DIR / JOINT_JSON).write_text(json.dumps(record))
    assert main(["report", "--areas", str(broken), "--out", str(tmp_path / "r.html")]) == 2
    assert f"`{field}` is missing or malformed" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_the_joint_weights_come_in_tmds_layout_too(capped, small_files, tmp_path, threads):
    """Without --no-tmd-weights OUT/joint/tmd/ holds each area's joint weights in TMD's file layout,
    rounded to 5 decimals as the batch's tmd/ files are."""
    import pandas as pd

    *_, sums = capped
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", AREAS, "--max-exhaustion", repr(0.98 * float(sums.max()))) == 0
    _, m = read_joint(out)
    weight = pq.read_table(out / "records.parquet").column("weight").to_numpy()
    for area in AREAS.split(","):
        share = json.loads((out / "areas" / f"{area}.json").read_text())["pop_share"]
        joint = pd.read_csv(out / JOINT_DIR / "tmd" / f"{area.lower()}_tmd_weights.csv.gz")
        separate = pd.read_csv(out / "tmd" / f"{area.lower()}_tmd_weights.csv.gz")
        assert list(joint.columns) == list(separate.columns) and len(joint) == weight.size
        assert np.max(np.abs(joint["WT2015"].to_numpy() - share * weight * m[area])) <= 0.5e-5 * (1 + 1e-9)
