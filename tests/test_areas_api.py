"""goldstar.reweight_areas: the areas batch from Python gives the command's weights, writes
nothing, and takes recipes and TMD's target files alike."""

from __future__ import annotations

import importlib.util

import os

import numpy as np
import pandas as pd
import pytest

import goldstar
from goldstar.cli import main
from tests.areas_helpers import small_records


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    with Client(LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")) as c:
        yield c


@pytest.fixture(scope="module")
def records():
    return small_records()


def files_under(path) -> set[str]:
    return {os.path.join(d, f) for d, _, names in os.walk(path) for f in names}


def test_the_api_gives_the_commands_weights_bit_for_bit_and_writes_nothing(tmp_path, client, records, monkeypatch):
    monkeypatch.chdir(tmp_path)
    national = pd.Series(records["weight"].to_numpy(), index=records["record_id"].to_numpy())
    before = files_under(tmp_path)
    result = goldstar.reweight_areas(records, national, "goldstar-77", areas=["AL", "WY"], client=client)
    assert files_under(tmp_path) == before  # nothing written
    assert [a.name for a in result] == ["AL", "WY"] and result.all_certified
    al = result["AL"]
    assert al.status == "ok" and al.certified and al.weights.index.name == "record_id"
    np.testing.assert_array_equal(al.weights.to_numpy(), al.pop_share * records["weight"].to_numpy()
                                  * al.multipliers.to_numpy())
    assert set(al.dual.index) == set(result.targets)
    # the command on the same inputs
    records.to_parquet(tmp_path / "records.parquet")
    records[["record_id", "weight"]].to_parquet(tmp_path / "weights.parquet")
    from goldstar.areas import batch
    from dask.distributed import Client, LocalCluster
    monkeypatch.setattr(batch, "make_client", lambda scheduler=None, workers=None: Client(
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")))
    assert main(["areas", "--records", str(tmp_path / "records.parquet"), "--national-weights",
                 str(tmp_path / "weights.parquet"), "--areas", "AL,WY", "--out", str(tmp_path / "out"),
                 "--quiet", "--no-tmd-weights"]) == 0
    for area in ("AL", "WY"):
        m = pd.read_parquet(tmp_path / "out" / "m" / f"{area}.parquet")["m"].to_numpy()
        assert np.array_equal(m, result[area].multipliers.to_numpy())  # bit for bit
        summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("area").loc[area]
        assert len(result[area].dropped) == summary["n_dropped"]
        assert result[area].rho_cap == summary["rho_cap"] and result.summary().set_index("area").loc[
            area, "rho_cap"] == summary["rho_cap"]


def test_target_files_go_in_as_a_directory(tmp_path, client, records):
    w = records["weight"].to_numpy()
    population = float(records["XTOT"].to_numpy() @ w)
    agi = records["adjusted_gross_income"].to_numpy()
    filer = records["is_tax_filer"].to_numpy()
    rows = ["varname,count,scope,agilo,agihi,fstatus,target", f"XTOT,0,0,-9e99,9e99,0,{0.4 * population!r}"]
    for lo, hi in ((-9e99, 5e4), (5e4, 9e99)):
        inside = filer & (agi >= lo) & (agi < hi)
        rows.append(f"c00100,1,1,{lo!r},{hi!r},0,{float(0.4 * 1.05 * w[inside].sum())!r}")
    (tmp_path / "zz_targets.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = goldstar.reweight_areas(records, records[["record_id", "weight"]], tmp_path, client=client)
    assert list(result.areas) == ["ZZ"] and result["ZZ"].certified
    assert result["ZZ"].pop_share == pytest.approx(0.4, rel=1e-12)
    assert len(result.targets) == 3


def test_the_areas_solved_jointly_under_a_cap(client, records):
    """max_exhaustion=E: the separate areas, then the joint answer (`.joint`), certified, every
    record's joint weights within E times its national weight."""
    national = records[["record_id", "weight"]]
    areas = ["AL", "CA", "NY", "TX", "WY"]
    separate = goldstar.reweight_areas(records, national, areas=areas, client=client)
    assert separate.joint is None
    sums = sum(separate[a].weights.to_numpy() for a in areas) / records["weight"].to_numpy()
    cap = 0.98 * float(sums.max())
    result = goldstar.reweight_areas(records, national, areas=areas, client=client, max_exhaustion=cap)
    joint = result.joint
    assert joint.coupling == f"max-exhaustion {cap:g}" and joint.certified, joint.message
    assert joint.certificate["passed"] and not joint.conflicts and list(joint.weights) == areas
    total = sum(joint.weights[a].to_numpy() for a in areas)
    assert np.all(total <= cap * records["weight"].to_numpy() * (1 + 1e-12))
    assert joint.weights["CA"].index.name == "record_id"
    for a in areas:  # the separate answers stand beside the joint one, unchanged
        assert np.array_equal(result[a].weights.to_numpy(), separate[a].weights.to_numpy())
    low = goldstar.reweight_areas(records, national, areas=areas, client=client, max_exhaustion=0.285)
    assert not low.joint.certified and low.joint.conflicts and low.joint.weights == {}
    assert low.joint.message.endswith("nothing joint was solved")


@pytest.mark.parametrize("kwargs,message", [
    ({"additive": True}, "additive: the 1 areas' population shares sum to"),
    ({"additive": True, "max_exhaustion": 2.0}, "give additive=True or max_exhaustion=E, not both"),
    ({"max_exhaustion": 0.001}, "max_exhaustion 0.001: must be a finite number of at least"),
    ({"max_exhaustion": True}, "max_exhaustion True: must be a finite number"),
    ({"joint_time_limit": 5}, "joint_time_limit limits the joint solve"),
    ({"max_exhaustion": 2.0, "joint_time_limit": -1}, "`joint_time_limit` must be > 0"),
    ({"joint_device": "cpu"}, "reweight_areas: joint_device 'cpu' factors the joint solve's Newton systems: give additive=True"),
    pytest.param({"max_exhaustion": 2.0, "joint_device": "tpu9"}, "reweight_areas: joint_device 'tpu9' is not a torch "
                 "device", marks=pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                                    reason="torch is not installed")),
    ({"max_exhaustion": 2.0, "joint_device": 1.5}, "reweight_areas: joint_device must be a device's name "
     "(cpu, cuda, cuda:N or auto), got float"),  # said with or without torch
    ({"national_weights": pd.DataFrame({"id": [1]})}, "lacks column(s) record_id, weight"),
    ({"national_weights": 3.5}, "national_weights: give a goldstar Result"),
    ({"engine": "taxcalc"}, "a DataFrame of records is taken as the record table itself"),
    ({"recipe_or_targets": "no-such-recipe"}, "not a shipped recipe"),
    ({"areas": ["ZZ"]}, "unknown area(s) ZZ"),
    # types and ranges, named as the call names them, before anything is read
    ({"areas": 5}, "areas must be an area set's name"),
    ({"recipe_or_targets": 77}, "recipe_or_targets must be a shipped recipe's name"),
    ({"client": "tcp://127.0.0.1:1"}, "client must be a dask.distributed.Client (for a scheduler's address"),
    ({"workers": "2"}, "reweight_areas: workers must be a whole number, got '2'"),
    ({"workers": 0}, "workers must be from 1 to"),
    ({"seed": -1}, "seed must be from 0 to"),
    ({"seed": "x"}, "seed must be a whole number"),
    ({"year": 1900}, "year must be from 1913 to 2100"),
    ({"year": "2015"}, "year must be a whole number"),
    ({"upper": "x"}, "reweight_areas: `upper` must be a number"),
    ({"engine_options": [1]}, "engine_options must be a dict"),
    ({"engine_options": {"bogus": 1}}, "engine_options has no bogus; known: aged, data_year"),
    ({"records": 5}, "records must be None, a path or a DataFrame, got int"),
    ({"eps": -1}, "reweight_areas: `eps` must be"),
    ({"national_weights": pd.Series(["x", 1.0], index=[1, 2])}, "national_weights: record_id 1: weight 'x' is not a "
                                                                 "finite number >= 0"),
    ({"national_weights": "no/such/weights.csv"}, "national_weights file no/such/weights.csv: not found"),
    ({"national_weights": "reference"}, "national_weights reference: "),
    ({"slack_units": "dollars"}, "reweight_areas: `slack_units` must be one of"),
])
def test_bad_input_raises_input_error_by_name(records, kwargs, message):
    kwargs = dict(kwargs)
    given = kwargs.pop("records", records)
    args = {"national_weights": records[["record_id", "weight"]], "recipe_or_targets": "goldstar-77",
            "areas": ["AL"], **kwargs}
    with pytest.raises(goldstar.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        goldstar.reweight_areas(given, **args)


def test_the_local_cluster_it_makes_is_closed_with_its_worker_processes(records):
    """client=None: reweight_areas makes a local cluster of worker processes and closes it at the
    end, processes and all (closing only its client used to leave a worker a call running)."""
    import multiprocessing
    import time

    before = set(multiprocessing.active_children())
    national = records[["record_id", "weight"]]
    result = goldstar.reweight_areas(records, national, areas=["WY"], workers=1)
    assert result.all_certified
    deadline = time.monotonic() + 10.0
    while set(multiprocessing.active_children()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not set(multiprocessing.active_children()) - before
