"""Real band solves of small areas, and the compact reference of their duals."""

from __future__ import annotations

import dataclasses

import pytest

from goldstar.areas.inputs import read_soi_states
from goldstar.areas.problem import AreaSettings, area_input_hash, run_area, settings_for
from goldstar.areas.reference import read_reference, verify_reference, write_reference
from goldstar.areas.targets import make_areas
from goldstar.solvers import SOLVERS
from tests.areas_helpers import small_national

pytestmark = [pytest.mark.skipif("band-newton" not in SOLVERS, reason="needs the band-newton solver"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture(scope="module")
def solved():
    national = small_national()
    areas = make_areas("CA,WY", read_soi_states(), national)
    settings = [settings_for(a, AreaSettings(), None) for a in areas]
    hashes = [area_input_hash("t", a, s, national.cell_names) for a, s in zip(areas, settings)]
    rows = [run_area(national, a, s, h) for a, s, h in zip(areas, settings, hashes)]
    return national, areas, settings, hashes, rows


def test_areas_solve_exactly_and_certify(solved):
    national, areas, settings, hashes, rows = solved
    for row in rows:
        assert row["status"] == "ok", row["message"]
        assert row["certified"] and list(row["y"]) == list(national.cell_names)  # each dual by its target
        # every target the pre-pass kept is met inside its band (hard bands)
        assert row["max_band_violation_widths"] <= 1e-6


def test_reference_round_trip_and_tamper(tmp_path, solved):
    national, areas, settings, hashes, rows = solved
    rows = [dict(r) for r in rows]
    weights = {r["area"]: r["pop_share"] * national.weight * r["m"] for r in rows}
    write_reference(tmp_path / "ref", rows, national.cell_names, {}, weights, "CA,WY")
    assert all(ok for _, ok, _ in verify_reference(tmp_path / "ref", national, areas, settings, hashes))
    ys, info = read_reference(tmp_path / "ref")
    assert set(ys) == {"CA", "WY"} and ys["CA"].size == len(national.cells)
    # a changed input is caught by its hash; a moved dual by the certificate
    other = list(hashes)
    other[0] = "xxh3_128:other"
    assert not verify_reference(tmp_path / "ref", national, areas, settings, other)[0][1]
    rows[0]["y"] = {name: None if y is None else y * 1.001 for name, y in rows[0]["y"].items()}
    write_reference(tmp_path / "bad", rows, national.cell_names, {}, weights, "CA,WY")
    assert not verify_reference(tmp_path / "bad", national, areas, settings, hashes)[0][1]


def test_time_limit_is_a_row(solved):
    national, areas, settings, hashes, _ = solved
    s = dataclasses.replace(settings[0], time_limit=1e-9)
    row = run_area(national, areas[0], s, hashes[0])
    assert row["status"] == "time_limit" and "limit" in row["message"]


@pytest.mark.slow
def test_verify_areas_recompute_resolves_and_compares(monkeypatch, capsys):
    """`goldstar verify --areas reference/areas --mode recompute` (here on two of its states): WY's
    re-solve agrees with the committed duals' weights; DC's, moved by 1e-6, fails by name."""
    pytest.importorskip("dask.distributed")
    import argparse

    from dask.distributed import Client, LocalCluster

    from goldstar.areas import batch, command
    from goldstar.areas.problem import run_area as real_run_area

    monkeypatch.setattr(batch, "make_client", lambda scheduler=None, workers=None: Client(
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")))

    def moved(national, spec, settings, input_hash):
        row = real_run_area(national, spec, settings, input_hash)
        if spec.name == "DC":
            row["m"] = row["m"] * (1 + 1e-6)
        return row

    monkeypatch.setattr(batch, "AREA_FN", moved)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--verify", "reference/areas", "--areas", "WY,DC", "--quiet"])
    assert command.verify(args, ("hash", "certificate", "recompute")) == 1
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line[:2] in ("WY", "DC")}
    assert lines["WY"].split()[1] == "ok" and "recompute within" in lines["WY"]
    assert lines["DC"].split()[1] == "FAIL" and "recompute within 1e-06" in lines["DC"]
