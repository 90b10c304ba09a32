"""`goldstar areas --areas districts:ST --within DIR` (goldstar.areas.within): a state's districts
solved within its weights from a states batch; with --additive each record's district weights
add up to its state weight, certified, on small national data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("dask.distributed")

from goldstar.areas.joint_run import read_joint  # noqa: E402
from goldstar.areas.output import read_m  # noqa: E402
from goldstar.areas.targets import parse_area_set  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402
from tests.areas_helpers import areas_cli, load_script, write_small_files  # noqa: E402

STATE = "NH"  # two districts
DISTRICTS = ["NH01-SYN", "NH02-SYN"]


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    return write_small_files(tmp_path_factory.mktemp("national"))


def _threads(mp: pytest.MonkeyPatch) -> None:
    """The batch on a thread cluster in this process (no worker processes to start)."""
    from dask.distributed import Client, LocalCluster

    from goldstar.areas import batch

    mp.setattr(batch, "make_client", lambda scheduler=None, workers=None: Client(
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_files):
    """A separate states batch of NH and VT, then NH's districts within it, additive:
    (states out, districts out, the districts' exit code); and the same states solved jointly,
    capped at 1, with NH's districts within that: (joint states out, districts out)."""
    root = tmp_path_factory.mktemp("within")
    mp = pytest.MonkeyPatch()
    _threads(mp)
    try:
        states, districts = root / "states", root / "districts"
        assert areas_cli(small_files, states, "--areas", f"{STATE},VT", "--no-tmd-weights") == 0
        code = areas_cli(small_files, districts, "--areas", f"districts:{STATE}", "--within", str(states),
                         "--additive", "--no-tmd-weights")
        joint_states, joint_districts = root / "joint-states", root / "joint-districts"
        assert areas_cli(small_files, joint_states, "--areas", f"{STATE},VT", "--no-tmd-weights",
                         "--max-exhaustion", "1") == 0
        assert areas_cli(small_files, joint_districts, "--areas", f"districts:{STATE}", "--within",
                         str(joint_states), "--no-tmd-weights") == 0
    finally:
        mp.undo()
    return states, districts, code, joint_states, joint_districts


def state_weight(states) -> np.ndarray:
    share = json.loads((states / "areas" / f"{STATE}.json").read_text())["pop_share"]
    national = pq.read_table(states / "records.parquet").column("weight").to_numpy()
    return share * national * read_m(states, STATE)


def test_districts_set_names_every_district_of_the_states():
    assert parse_area_set(f"districts:{STATE.lower()}") == ("list", DISTRICTS)
    assert len(parse_area_set("districts:CA,TX")[1]) == 52 + 38
    for bad in ("districts:", "districts:XX"):
        with pytest.raises(InputError, match="districts:ST"):
            parse_area_set(bad)


def test_the_districts_add_up_to_their_states_weights_certified(runs):
    states, districts, code = runs[:3]
    assert code == 0
    record, m = read_joint(districts)
    assert record["certified"] and record["coupling"] == "additive"
    W = state_weight(states)
    # the batch's own weights are the state's: records.parquet holds W
    assert np.array_equal(pq.read_table(districts / "records.parquet").column("weight").to_numpy(), W)
    shares = [json.loads((districts / "areas" / f"{d}.json").read_text())["pop_share"] for d in DISTRICTS]
    assert abs(sum(shares) - 1.0) <= 1e-15
    total = sum(s * W * m[d] for s, d in zip(shares, DISTRICTS))
    # the certificate's coupling threshold: 1e-12 of the record's (here: state) weight
    assert np.all(np.abs(total - W) <= 1e-12 * W)
    marker = json.loads((districts / "AREAS.json").read_text())
    assert marker["national"]["within"] == {"directory": str(states), "state": STATE, "source": "separate"}


def test_the_districts_targets_share_out_the_states_weighted_totals(small_files, runs):
    import argparse

    from goldstar.areas import command

    states = runs[0]
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--areas", f"districts:{STATE}", "--within", str(states), "--records",
                              str(small_files / "records.parquet"), "--national-weights",
                              str(small_files / "weights.parquet")])
    parent, areas = command.batch_inputs(args, args.areas)[:2]
    W = state_weight(states)
    assert np.array_equal(parent.weight, W)
    totals = parent.A.T @ W
    summed = np.sum([a.targets for a in areas], axis=0)
    assert np.allclose(summed, totals, rtol=1e-13, atol=0)  # a sum of two roundings per cell


@pytest.mark.parametrize("extra, says", [
    (("--areas", "NH01-SYN"), "must all be solved together"),
    (("--areas", "NH,VT"), "the districts of a state"),
    (("--areas", "districts:ME"), "summary.csv has no row for ME"),
    (("--areas", "districts:NH,ME"), "summary.csv has no row for ME"),
    (("--areas", "districts:NH,VT", "--additive", "--max-exhaustion", "2"), "not allowed with argument"),
])
def test_districts_not_of_solved_states_exit_2_and_write_nothing(small_files, runs, tmp_path, capsys, extra, says):
    states = runs[0]
    out = tmp_path / "out"
    assert areas_cli(small_files, out, *extra, "--within", str(states), "--no-tmd-weights") == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_a_states_batch_from_other_national_weights_is_refused(small_files, runs, tmp_path, capsys):
    states = runs[0]
    other = tmp_path / "weights.parquet"
    table = pq.read_table(small_files / "weights.parquet").to_pandas()
    table["weight"] *= 1.01
    table.to_parquet(other)
    from goldstar.cli import main

    out = tmp_path / "out"
    code = main(["areas", "--records", str(small_files / "records.parquet"), "--national-weights", str(other),
                 "--out", str(out), "--quiet", "--areas", f"districts:{STATE}", "--within", str(states)])
    assert code == 2
    assert "other records or national weights" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("extra, says", [
    (("--within", "{tmp}/nowhere"), "not a directory"),
    (("--within", "{tmp}/plain"), "not a goldstar areas output"),
    (("--within", "{tmp}"), "must not contain each other"),
    (("--within", "{states}", "--targets-dir", "{tmp}"), "--targets-dir does not apply"),
])
def test_bad_within_arguments_exit_2(small_files, runs, tmp_path, capsys, extra, says):
    states = runs[0]
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "stray.txt").write_text("a user's file\n")
    extra = [e.format(tmp=tmp_path, states=states) for e in extra]
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", f"districts:{STATE}", *extra) == 2
    assert says in capsys.readouterr().err
    assert not out.exists() and (tmp_path / "plain" / "stray.txt").read_text() == "a user's file\n"


def test_without_within_a_states_districts_are_a_subset_of_the_nation(small_files, tmp_path, capsys):
    assert areas_cli(small_files, tmp_path / "out", "--areas", f"districts:{STATE}", "--additive") == 2
    assert "not 1" in capsys.readouterr().err


def test_a_states_joint_solve_gives_the_state_weights(runs):
    """A states batch with a joint solve (here capped at 1): the districts sit within its joint
    weights, not its separate ones."""
    states, _, _, joint_states, districts = runs
    record, m = read_joint(joint_states)
    share = json.loads((joint_states / "areas" / f"{STATE}.json").read_text())["pop_share"]
    national = pq.read_table(joint_states / "records.parquet").column("weight").to_numpy()
    W = pq.read_table(districts / "records.parquet").column("weight").to_numpy()
    assert np.array_equal(W, share * national * m[STATE])
    assert not np.array_equal(W, state_weight(states))
    assert json.loads((districts / "AREAS.json").read_text())["national"]["within"]["source"] == "joint"


def test_several_joint_solves_make_one_benchmark_table(runs, tmp_path):
    _, districts, _, joint_states, _ = runs
    script = load_script("bench_joint")
    bench = tmp_path / "B.md"
    bench.write_text("# Benchmarks\n")
    argv = [str(districts), str(joint_states), "--command", "goldstar areas ...", "--out", str(bench),
            "--section", "within"]
    with pytest.raises(SystemExit):
        script.main(argv)  # a table needs its title
    assert script.main([*argv, "--title", "Districts within"]) == 0
    text = bench.read_text()
    assert "<!-- within:start -->\n## Districts within" in text and text.rstrip().endswith("<!-- within:end -->")
    rows = [line for line in text.splitlines() if line.startswith(f"| {districts.root}")]  # the directories
    assert len(rows) == 2 and all("| passed (fixed point" in r for r in rows)
    record, _ = read_joint(districts)
    assert f"| {record['sums']['joint']['max']:.4f} |" in rows[0]


@pytest.mark.parametrize("damage, says", [
    (lambda d: (d / "records.parquet").write_bytes(b"PAR1 cut short"), "records.parquet cannot be read"),
    (lambda d: (d / "m" / f"{STATE}.parquet").write_bytes((d / "m" / "VT.parquet").read_bytes()),
     "changed since the batch wrote it"),
    (lambda d: (d / "summary.csv").unlink(), "no summary.csv"),
    (lambda d: (d / "AREAS.json").write_text("{"), "not a goldstar areas output (no readable AREAS.json)"),
])
def test_a_damaged_states_batch_is_named_and_nothing_is_written(small_files, runs, tmp_path, capsys, damage, says):
    import shutil

    states = shutil.copytree(runs[0], tmp_path / "states")
    damage(states)
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", f"districts:{STATE}", "--within", str(states)) == 2
    err = capsys.readouterr().err
    assert says in err and f"--within {states}" in err
    assert not out.exists()


@pytest.fixture(scope="module")
def several(tmp_path_factory, small_files, runs):
    """NH's and VT's districts within the separate states batch in one command, additive:
    (out, exit code, what it printed), and the exit code of the same command run again."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("several") / "out"
    argv = ("--areas", "districts:NH,VT", "--within", str(runs[0]), "--additive", "--no-tmd-weights")
    mp = pytest.MonkeyPatch()
    _threads(mp)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = areas_cli(small_files, out, *argv)
        again = areas_cli(small_files, out, *argv)
    finally:
        mp.undo()
    return out, code, printed.getvalue(), again


def test_several_states_districts_each_within_their_state_in_one_command(runs, several):
    """Each state in OUT/<ST> as the one-state command writes it; NH's joint weights those of the
    one-state run (the same problem solved again: rtol 1e-9, the batches' reproducibility
    standard); VT's one district has its state's weights (x = 1, the only point the coupling
    leaves) and a certificate that says so."""
    out, code, printed, again = several
    assert code == 0 and again == 0
    assert json.loads((out / "WITHIN.json").read_text())["states"] == ["NH", "VT"]
    record, m = read_joint(out / "NH")
    _, alone = read_joint(runs[1])
    assert record["certified"]
    for d in DISTRICTS:
        assert np.allclose(m[d], alone[d], rtol=1e-9, atol=1e-9)
    vt, m_vt = read_joint(out / "VT")
    assert vt["certified"] and len(m_vt) == 1
    (only,) = m_vt.values()
    W = pq.read_table(out / "VT" / "records.parquet").column("weight").to_numpy()
    assert np.all(np.abs(only - 1.0)[W > 0] <= 1e-12)
    assert "state  districts  ok  joint" in printed
    assert [line.split()[0] for line in printed.splitlines() if line.startswith(("NH ", "VT "))
            and "certified," in line] == ["NH", "VT"]
    for state in ("NH", "VT"):  # each state's report, whole, with its name before each line
        assert f"{state}  certificate  passed" in printed


def test_a_rerun_of_several_states_skips_their_finished_districts(several):
    out = several[0]
    for state in ("NH", "VT"):
        batch = json.loads((out / state / "batch.json").read_text())
        assert batch["skipped"] == batch["solved"] + batch["skipped"] > 0


@pytest.mark.parametrize("prepare, says", [
    (lambda out, states: (out.mkdir(), (out / "notes.txt").write_text("mine\n")),
     "not a goldstar districts-within output"),
    (lambda out, states: (out.mkdir(), (out / "WITHIN.json").write_text(json.dumps(
        {"kind": "goldstar-areas-within", "within": str(states)})), (out / "NH").mkdir(),
        (out / "NH" / "notes.txt").write_text("mine\n")),
     "not a goldstar areas output"),
])
def test_several_states_refuse_an_out_of_someone_elses(small_files, runs, tmp_path, capsys, prepare, says):
    out = tmp_path / "out"
    prepare(out, runs[0])
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert areas_cli(small_files, out, "--areas", "districts:NH,VT", "--within", str(runs[0]), "--additive") == 2
    assert says in capsys.readouterr().err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_several_states_write_nothing_when_the_cluster_cannot_be_had(small_files, runs, tmp_path, capsys,
                                                                     monkeypatch):
    from goldstar.areas import batch

    def refuse(scheduler=None, workers=None):
        raise InputError("--scheduler tcp://nowhere:1: cannot connect")

    monkeypatch.setattr(batch, "make_client", refuse)
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", "districts:NH,VT", "--within", str(runs[0]), "--additive") == 2
    assert "cannot connect" in capsys.readouterr().err
    assert not out.exists()


def test_the_report_points_from_several_states_to_one_of_them(several, tmp_path, capsys):
    from goldstar.cli import main

    out = several[0]
    assert main(["report", "--areas", str(out), "--out", str(tmp_path / "r.html")]) == 2
    assert f"give one of them, e.g. --areas {out / 'NH'}" in capsys.readouterr().err
    assert main(["report", "--areas", str(out / "NH"), "--out", str(tmp_path / "r.html")]) == 0


def test_two_joint_solves_of_the_same_districts_compare_and_others_are_refused(runs, several, capsys):
    script = load_script("compare_joint")
    out = several[0]
    assert script.main([str(runs[1]), str(out / "NH")]) == 0
    said = capsys.readouterr().out
    worst = float(said.split("multipliers within ")[1].split()[0])
    assert worst <= 1e-9  # the same unique optimum, each solve certified
    assert script.main([str(out / "NH"), str(out / "VT")]) == 2
    assert "hold other areas" in capsys.readouterr().err


def test_a_rerun_with_fewer_states_keeps_the_others_in_the_marker_and_another_within_is_refused(
        small_files, runs, tmp_path, capsys):
    out = tmp_path / "out"
    mp = pytest.MonkeyPatch()
    _threads(mp)
    try:
        assert areas_cli(small_files, out, "--areas", "districts:NH,VT", "--within", str(runs[0]),
                         "--no-tmd-weights") == 0
        assert areas_cli(small_files, out, "--areas", "districts:VT,NH", "--within", str(runs[0]),
                         "--no-tmd-weights") == 0
        assert json.loads((out / "WITHIN.json").read_text())["states"] == ["NH", "VT"]
        before = sorted(p.relative_to(out) for p in out.rglob("*"))
        assert areas_cli(small_files, out, "--areas", "districts:NH,VT", "--within", str(runs[3]),
                         "--no-tmd-weights") == 2
        assert "were solved within" in capsys.readouterr().err
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
        # one state's command into the directory of several is pointed to OUT/<ST>
        assert areas_cli(small_files, out, "--areas", "districts:NH", "--within", str(runs[0])) == 2
        assert "give one of them as --out" in capsys.readouterr().err
    finally:
        mp.undo()


def test_a_directory_left_with_only_lock_files_is_taken(small_files, runs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    import socket

    # a lock whose process is gone, as a kill of an older run could leave it (a pid no process has)
    (out / ".NH.lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname(), "token": "x"}))
    assert areas_cli(small_files, out, "--areas", "districts:NH,VT", "--within", str(runs[0]), "--workers", "1",
                     "--no-tmd-weights") == 0


def test_several_states_name_their_areas_that_are_not_ok(small_files, runs, tmp_path, capsys, monkeypatch):
    from goldstar.areas import batch

    def failing(national, spec, settings, input_hash):
        return {"area": spec.name, "kind": spec.kind, "synthetic": spec.synthetic, "state": spec.state,
                "status": "failed", "message": "a stand-in that fails", "dropped": [], "input_hash": input_hash,
                "pop_share": spec.pop_share}

    monkeypatch.setattr(batch, "AREA_FN", failing)
    _threads(monkeypatch)
    out = tmp_path / "out"
    assert areas_cli(small_files, out, "--areas", "districts:NH,VT", "--within", str(runs[0]),
                     "--no-tmd-weights") == 1
    err = capsys.readouterr().err
    assert "ERROR: area NH01-SYN: failed: a stand-in that fails" in err and "ERROR: area VT" in err


def test_the_python_api_solves_a_states_districts_within_it_as_the_command_does(small_files, runs, tmp_path):
    """goldstar.areas.api.reweight_areas(..., within=DIR): the same joint optimum as the command's
    (rtol 1e-9, the batches' reproducibility standard), as weights that share out the state's."""
    from dask.distributed import Client, LocalCluster

    from goldstar.areas.api import reweight_areas

    states, districts = runs[0], runs[1]
    with Client(LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")) as client:
        result = reweight_areas(small_files / "records.parquet", small_files / "weights.parquet",
                                areas=f"districts:{STATE}", within=states, additive=True, client=client)
        with pytest.raises(InputError, match="not a directory"):
            reweight_areas(small_files / "records.parquet", small_files / "weights.parquet",
                           areas=f"districts:{STATE}", within=tmp_path / "nowhere", client=client)
        with pytest.raises(InputError, match="must be a directory's path, got int"):
            reweight_areas(small_files / "records.parquet", small_files / "weights.parquet",
                           areas=f"districts:{STATE}", within=123, client=client)
        with pytest.raises(InputError, match="one state a call"):
            reweight_areas(small_files / "records.parquet", small_files / "weights.parquet",
                           areas="districts:NH,VT", within=states, client=client)
    assert result.joint.certified
    _, m = read_joint(districts)
    W = state_weight(states)
    for d in DISTRICTS:
        share = json.loads((districts / "areas" / f"{d}.json").read_text())["pop_share"]
        assert np.allclose(result.joint.weights[d].to_numpy(), share * W * m[d], rtol=1e-9, atol=1e-9)
    total = sum(result.joint.weights[d].to_numpy() for d in DISTRICTS)
    assert np.all(np.abs(total - W) <= 1e-12 * W)


@pytest.fixture(scope="module")
def references(tmp_path_factory, small_files):
    """The states of `runs` again, each writing its compact reference: separate (NH, VT) and
    joint (capped at 1): (separate batch, separate reference, joint batch, joint reference)."""
    root = tmp_path_factory.mktemp("within-refs")
    mp = pytest.MonkeyPatch()
    _threads(mp)
    try:
        out = {}
        for name, extra in (("separate", ()), ("joint", ("--max-exhaustion", "1"))):
            assert areas_cli(small_files, root / name, "--areas", f"{STATE},VT", "--no-tmd-weights",
                             "--write-reference", str(root / f"{name}-ref"), *extra) == 0
            out[name] = (root / name, root / f"{name}-ref")
    finally:
        mp.undo()
    return (*out["separate"], *out["joint"])


@pytest.mark.parametrize("which", ["separate", "joint"])
def test_districts_within_a_states_reference_sit_on_the_batchs_state_weights(small_files, references, which):
    """--within a compact states reference: the state's weights rebuilt from its duals (a joint
    reference's with every record's coupling multiplier solved again) are the batch's own, to
    rounding (1e-13 of each weight), and the marker says where they came from."""
    import argparse

    from goldstar.areas import command

    batch_dir, reference = references[:2] if which == "separate" else references[2:]
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    weights = []
    for within in (batch_dir, reference):
        args = parser.parse_args(["--areas", f"districts:{STATE}", "--within", str(within), "--records",
                                  str(small_files / "records.parquet"), "--national-weights",
                                  str(small_files / "weights.parquet")])
        parent = command.batch_inputs(args, args.areas)[0]
        weights.append(parent.weight)
        source = parent.hashes["within"]["source"]
    assert source == f"{which} reference"
    assert np.all(np.abs(weights[1] - weights[0]) <= 1e-13 * weights[0])


def test_a_districts_reference_within_a_states_reference_verifies_and_says_when_they_part(
        small_files, references, tmp_path, capsys):
    """--write-reference with --within: the districts' joint reference records the states'
    source and verifies, rebuilding the state weights from it; once the states reference there
    holds other duals, verify names both weights' hashes and exits 1. Several states' districts
    with --write-reference exit 2."""
    import argparse
    import shutil

    from goldstar.areas import command
    from goldstar.exceptions import EXIT_FAILED

    states_ref = Path(shutil.copytree(references[3], tmp_path / "states-ref"))
    ref = tmp_path / "districts-ref"
    mp = pytest.MonkeyPatch()
    _threads(mp)
    try:
        assert areas_cli(small_files, tmp_path / "out", "--areas", f"districts:{STATE}", "--within", str(states_ref),
                         "--additive", "--no-tmd-weights", "--write-reference", str(ref)) == 0
        assert areas_cli(small_files, tmp_path / "two", "--areas", f"districts:{STATE},VT", "--within",
                         str(states_ref), "--additive", "--no-tmd-weights", "--write-reference",
                         str(tmp_path / "two-ref")) == 2
    finally:
        mp.undo()
    assert "writes one state's districts" in capsys.readouterr().err and not (tmp_path / "two-ref").exists()
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = ["--verify", str(ref), "--records", str(small_files / "records.parquet"), "--national-weights",
            str(small_files / "weights.parquet"), "--quiet"]
    assert command.verify(parser.parse_args(args)) == 0
    assert "and the joint certificate" in capsys.readouterr().out
    # the states reference replaced by the separate one: other state weights
    shutil.rmtree(states_ref)
    shutil.copytree(references[1], states_ref)
    assert command.verify(parser.parse_args(args)) == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"its districts were solved within {STATE}'s weights from {states_ref} (joint reference" in err
    assert "but the weights found now hash" in err
    assert f"verify within the states they were solved within with `goldstar areas --verify {ref} --within {states_ref}`" in err


def test_a_reference_verified_from_elsewhere_names_the_paths_it_was_made_with(small_files, references, tmp_path,
                                                                               monkeypatch, capsys):
    """A districts reference made with --within a relative path records that path, from the
    directory it was made in; verified from another directory it names the path and the option
    that says where it is (exit 2, before any work), and verifies with that option."""
    import argparse
    import shutil

    from goldstar.areas import command

    made = tmp_path / "made"
    shutil.copytree(references[3], made / "states-ref")
    monkeypatch.chdir(made)
    _threads(monkeypatch)
    assert areas_cli(small_files, Path("out"), "--areas", f"districts:{STATE}", "--within", "states-ref",
                     "--additive", "--no-tmd-weights", "--write-reference", "ref") == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = ["--verify", str(made / "ref"), "--records", str(small_files / "records.parquet"), "--national-weights",
            str(small_files / "weights.parquet"), "--quiet"]
    with pytest.raises(InputError, match=r"made from the states at states-ref \(paths from the directory it was "
                                         r"made in\), not found from here; .*--within DIR`"):
        command.verify(parser.parse_args(args))
    capsys.readouterr()
    assert command.verify(parser.parse_args(args + ["--within", str(made / "states-ref")])) == 0
    assert "and the joint certificate" in capsys.readouterr().out


def test_the_python_api_solves_districts_within_a_states_reference(small_files, references):
    """reweight_areas(..., within=REFERENCE) with the national weights as a DataFrame: the state
    weights rebuilt from the joint states reference on those weights, the districts certified and
    adding up to them (the certificate's 1e-12 of a record's state weight)."""
    import pandas as pd
    from dask.distributed import Client, LocalCluster

    from goldstar.areas.api import reweight_areas

    national = pd.read_parquet(small_files / "weights.parquet")
    with Client(LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")) as client:
        result = reweight_areas(small_files / "records.parquet", national, areas=f"districts:{STATE}",
                                within=references[3], additive=True, client=client)
    assert result.joint.certified, result.joint.message
    _, m = read_joint(references[2])
    share = json.loads((references[2] / "areas" / f"{STATE}.json").read_text())["pop_share"]
    W = share * national["weight"].to_numpy() * m[STATE]
    total = sum(result.joint.weights[d].to_numpy() for d in DISTRICTS)
    assert np.all(np.abs(total - W) <= 1e-12 * W + 1e-12)


def test_several_states_districts_within_a_states_reference(small_files, references, tmp_path):
    """districts:NH,VT --within a joint states reference: the states rebuilt from it once, each
    state's districts into OUT/<ST>, additive and certified, within the reference's weights."""
    mp = pytest.MonkeyPatch()
    _threads(mp)
    try:
        assert areas_cli(small_files, tmp_path / "out", "--areas", f"districts:{STATE},VT", "--within",
                         str(references[3]), "--additive", "--no-tmd-weights") == 0
    finally:
        mp.undo()
    for state in (STATE, "VT"):
        record, _ = read_joint(tmp_path / "out" / state)
        assert record["certified"]
        marker = json.loads((tmp_path / "out" / state / "AREAS.json").read_text())
        assert marker["national"]["within"] == {"directory": str(references[3]), "state": state,
                                                "source": "joint reference"}
