"""The Dask batch and `goldstar areas`: rows for failures, reruns, versions, output safety."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")

from dask.distributed import Client, LocalCluster  # noqa: E402

from goldstar.areas import batch  # noqa: E402
from goldstar.areas.inputs import read_soi_states  # noqa: E402
from goldstar.areas.problem import AreaSettings, area_input_hash, run_area, settings_for  # noqa: E402
from goldstar.areas.targets import make_areas  # noqa: E402
from goldstar.cli import main  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402
from tests import areas_helpers  # noqa: E402
from tests.areas_helpers import small_national, small_records, standin_area, standin_solve  # noqa: E402


@pytest.fixture(scope="module")
def national():
    return small_national()


@pytest.fixture(scope="module")
def soi():
    return read_soi_states()


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster) as c:
            yield c


def batch_inputs(national, soi, text):
    areas = make_areas(text, soi, national)
    settings = [settings_for(a, AreaSettings(), None) for a in areas]
    hashes = [area_input_hash("test", a, s, national.cell_names) for a, s in zip(areas, settings)]
    return areas, settings, hashes


def test_failed_and_infeasible_areas_are_rows(tmp_path, client, national, soi):
    from goldstar.areas.output import prepare_out

    prepare_out(tmp_path, {})
    areas, settings, hashes = batch_inputs(national, soi, "AL,NY,TX,CA")
    from goldstar.areas.years import WeightYears

    rows = batch.run_batch(client, national, areas, settings, hashes, tmp_path, area_fn=standin_area,
                           tmd_years=WeightYears(2015, (1.0,)), progress=False)
    status = {r["area"]: r["status"] for r in rows}
    assert status == {"AL": "ok", "NY": "failed", "TX": "infeasible", "CA": "ok"}
    assert "stand-in failure for NY" in rows[1]["message"]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["area"]) == ["AL", "NY", "TX", "CA"]
    assert summary.loc[2, "dropped"] == "e00200/cnt=0/scope=1/agi=[1000000.0,9e+99)/fs=0[range]"
    tmd = pd.read_csv(tmp_path / "tmd" / "al_tmd_weights.csv.gz")
    assert list(tmd.columns) == ["WT2015"] and len(tmd) == national.n
    np.testing.assert_array_equal(tmd["WT2015"], np.round(areas[0].pop_share * national.weight, 5))
    # the file is made on the worker, timed apart from the area's own seconds; none for an area without m
    assert summary.loc[0, "seconds_weights_file"] > 0 and np.isnan(summary.loc[2, "seconds_weights_file"])
    assert "tmd_weights_csv_gz" not in rows[0]  # the bytes are written, not kept in the row


def test_rerun_skips_areas_done_with_matching_hashes(tmp_path, client, national, soi):
    from goldstar.areas.output import prepare_out

    prepare_out(tmp_path, {})
    areas, settings, hashes = batch_inputs(national, soi, "AL,CA,WY")
    areas_helpers.CALLS.clear()
    batch.run_batch(client, national, areas, settings, hashes, tmp_path, area_fn=standin_area, progress=False)
    assert sorted(areas_helpers.CALLS) == ["AL", "CA", "WY"]
    areas_helpers.CALLS.clear()
    hashes[2] = "xxh3_128:changed"
    rows = batch.run_batch(client, national, areas, settings, hashes, tmp_path, area_fn=standin_area, progress=False)
    assert areas_helpers.CALLS == ["WY"]  # AL and CA skipped, WY's inputs changed
    assert [bool(r.get("skipped")) for r in rows] == [True, True, False]


def test_mixed_cluster_is_refused_naming_the_worker(tmp_path, client, national, soi, monkeypatch):
    areas, settings, hashes = batch_inputs(national, soi, "AL")
    monkeypatch.setattr(batch, "client_versions", lambda: {**batch.local_versions(), "numpy": "0.0.1"})
    with pytest.raises(InputError, match=r"worker .* runs numpy"):
        batch.run_batch(client, national, areas, settings, hashes, tmp_path, area_fn=standin_area, progress=False)


def test_process_cluster_runs_real_areas_with_drops_and_error_policy(tmp_path, national, soi):
    """Two worker processes, the real run_area with a stand-in solver only if band-newton is absent."""
    from goldstar.areas.output import prepare_out
    from goldstar.solvers import SOLVERS

    areas, settings, hashes = batch_inputs(national, soi, "AL,AK,WY-drop")[:3] if False else \
        batch_inputs(national, soi, "AL,AK,WY")
    prepare_out(tmp_path, {})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as c:
            fn = run_area if "band-newton" in SOLVERS else _run_area_standin
            rows = batch.run_batch(c, national, areas, settings, hashes, tmp_path, area_fn=fn, progress=False)
    assert all(r["status"] == "ok" for r in rows), [r["message"] for r in rows]
    assert len({r["worker"] for r in rows}) >= 1 and all(r["rss_peak_mb"] > 0 for r in rows)


def _run_area_standin(national, spec, settings, input_hash):
    return run_area(national, spec, settings, input_hash, solve_fn=standin_solve)


def test_error_policy_reports_infeasible(national, soi):
    import dataclasses

    # a tight cap makes targets unreachable: with `error` the area is reported, not solved
    spec = make_areas("CA", soi, national)[0]
    s = dataclasses.replace(settings_for(spec, AreaSettings(), None), upper=1.0, unreachable="error")
    row = run_area(national, spec, s, "h", solve_fn=standin_solve)
    assert row["status"] == "infeasible" and row["dropped"] and row["m"] is None
    s = dataclasses.replace(s, unreachable="drop")
    row = run_area(national, spec, s, "h", solve_fn=standin_solve)
    assert row["status"] == "ok" and row["dropped"] and row["kept"] == row["targets"] - row["empty"] - len(row["dropped"])


# -- the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("national")
    records = small_records()
    records.to_parquet(d / "records.parquet")
    (d / "ref").mkdir()
    records[["record_id", "weight"]].to_parquet(d / "ref" / "weights.parquet")
    return d


def cli(small_files, out, *extra):
    return main(["areas", "--records", str(small_files / "records.parquet"), "--national-weights",
                 str(small_files / "ref" / "weights.parquet"), "--out", str(out), "--quiet", *extra])


@pytest.fixture
def inprocess(monkeypatch):
    areas_helpers.use_standins(monkeypatch)


def test_cli_exit_1_when_an_area_fails(tmp_path, small_files, inprocess, capsys):
    assert cli(small_files, tmp_path / "out", "--areas", "AL,NY") == 1
    err = capsys.readouterr().err
    assert "ERROR: area NY: failed" in err
    marker = json.loads((tmp_path / "out" / "AREAS.json").read_text())
    assert marker["kind"] == "goldstar-areas"
    assert cli(small_files, tmp_path / "out", "--areas", "AL,CA") == 0


def test_cli_refuses_a_foreign_directory(tmp_path, small_files, inprocess, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    assert cli(small_files, foreign, "--areas", "AL") == 2
    assert "not a goldstar areas output" in capsys.readouterr().err
    assert (foreign / "thesis.tex").read_text() == "keep me" and len(list(foreign.iterdir())) == 1


@pytest.mark.parametrize("extra", [["--areas", "ZZ"], ["--areas", "synthetic:0"], ["--areas", "AL", "--time-limit", "0"]])
def test_cli_bad_input_exits_2(tmp_path, small_files, extra, capsys):
    assert cli(small_files, tmp_path / "o", *extra) == 2
    assert "ERROR:" in capsys.readouterr().err


def test_scheduler_address_reaches_an_existing_cluster(tmp_path, national, soi):
    from goldstar.areas.output import prepare_out

    areas, settings, hashes = batch_inputs(national, soi, "AL,CA")
    prepare_out(tmp_path, {})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        c = batch.make_client(cluster.scheduler_address)
        try:
            rows = batch.run_batch(c, national, areas, settings, hashes, tmp_path, area_fn=standin_area, progress=False)
        finally:
            c.close()
    assert [r["status"] for r in rows] == ["ok", "ok"]
    with pytest.raises(InputError, match="--workers"):
        batch.make_client("tcp://127.0.0.1:1", workers=2)


def test_batch_record_and_areas_report(tmp_path, small_files, inprocess, capsys):
    """batch.json records the run; `goldstar report --areas` sums pop_share x m over the ok areas."""
    from goldstar.areas.report import weight_sums, read_summary

    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "AL,CA,NY") == 1  # NY fails in the stand-in
    record = json.loads((out / "batch.json").read_text())
    assert record["areas"] == "AL,CA,NY" and record["solved"] == 3 and record["status"] == {"ok": 2, "failed": 1}
    assert record["wall_seconds"] > 0 and record["workers"] == 1
    summary = read_summary(out)
    sums = weight_sums(out, summary)
    shares = summary.set_index("area")["pop_share"]
    assert sums.areas == ["AL", "CA"]
    np.testing.assert_allclose(sums.ratio, shares["AL"] + shares["CA"], rtol=1e-15)  # the stand-in's m is 1
    html = tmp_path / "areas.html"
    assert main(["report", "--areas", str(out), "--out", str(html)]) == 0
    page = html.read_text()
    assert "<td>AL</td>" in page and "<td>NY</td><td>failed</td>" in page and "records above 2x" in page
    assert main(["report", "--areas", str(tmp_path), "--out", str(tmp_path / "x.html")]) == 2
    assert main(["report", "--areas", str(out), "--reference", "reference/band", "--out", str(tmp_path / "y.html")]) == 2
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "y.html").exists()
