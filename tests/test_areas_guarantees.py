"""`goldstar areas` keeps the promises of the national commands: inputs checked before any work,
a finished batch never degraded, one run at a time, a tampered national reference refused."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("dask.distributed")


from goldstar.areas import batch, command, memory  # noqa: E402
from goldstar.areas.output import area_files  # noqa: E402
from goldstar.areas.overrides import read_overrides  # noqa: E402
from goldstar.cli import main  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402
from tests import areas_helpers  # noqa: E402
from tests.areas_helpers import small_records  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    return areas_helpers.write_small_files(tmp_path_factory.mktemp("national"))


cli = areas_helpers.areas_cli


@pytest.fixture
def inprocess(monkeypatch):
    areas_helpers.use_standins(monkeypatch)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*"))}


# -- a finished batch is never degraded --------------------------------------------------------------


def test_a_rerun_with_other_settings_is_refused_and_the_batch_kept(tmp_path, small_files, inprocess, capsys):
    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "AL,CA") == 0
    before = snapshot(out)
    capsys.readouterr()
    assert cli(small_files, out, "--areas", "AL,CA", "--eps", "0.01") == 2
    err = capsys.readouterr().err
    assert "eps 0.005 there, 0.01 now" in err and "--rerun-all" in err
    for bad in (["--slack-penalty", "0"], ["--eps", "0"], ["--upper", "inf"], ["--time-limit", "inf"],
                ["--slack-penalty", "inf"], ["--tmd-year", "-7"], ["--no-tmd-weights"]):
        assert cli(small_files, out, "--areas", "AL,CA", *bad) == 2, bad
    assert snapshot(out) == before
    # the same settings again: every area done, nothing solved
    areas_helpers.CALLS.clear()
    assert cli(small_files, out, "--areas", "AL,CA") == 0
    assert areas_helpers.CALLS == []
    # --rerun-all re-solves in place with the new settings
    assert cli(small_files, out, "--areas", "AL,CA", "--eps", "0.01", "--rerun-all") == 0
    assert sorted(areas_helpers.CALLS) == ["AL", "CA"]
    marker = json.loads((out / "AREAS.json").read_text())
    assert marker["settings"]["eps"] == 0.01


def test_area_files_are_hashed_and_a_corrupt_one_is_solved_again(tmp_path, small_files, inprocess):
    from goldstar.hashing import file_hash

    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "AL,CA") == 0
    row = json.loads((out / "areas" / "AL.json").read_text())
    assert set(row["files"]) == set(area_files("AL").values())
    for name, recorded in row["files"].items():
        assert file_hash(out / name) == recorded
    m_file = out / area_files("AL")["m"]
    m_file.write_bytes(m_file.read_bytes()[:100])  # truncated
    (out / area_files("CA")["tmd"]).unlink()  # one of CA's files gone
    areas_helpers.CALLS.clear()
    assert cli(small_files, out, "--areas", "AL,CA,NM") == 0
    assert sorted(areas_helpers.CALLS) == ["AL", "CA", "NM"]  # both damaged areas solved again
    assert pq.read_table(m_file).num_rows == len(small_records())


def test_an_area_that_fails_on_a_rerun_keeps_no_stale_files(tmp_path, small_files, inprocess, monkeypatch):
    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "AL") == 0
    assert (out / area_files("AL")["m"]).exists()

    def failing(national, spec, settings, input_hash):
        raise RuntimeError("solver gave up")

    monkeypatch.setattr(batch, "AREA_FN", failing)
    assert cli(small_files, out, "--areas", "AL", "--rerun-all") == 1
    row = json.loads((out / "areas" / "AL.json").read_text())
    assert row["status"] == "failed" and row["files"] == {}
    assert not any((out / name).exists() for name in area_files("AL").values())


# -- one run at a time ---------------------------------------------------------------------------------


def test_a_second_run_on_a_locked_out_exits_2_naming_the_holder(tmp_path, small_files, inprocess, capsys):
    from goldstar.store.lock import acquire, lock_path, release

    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "AL") == 0
    before = snapshot(out)
    token = acquire(out, run="goldstar areas")  # this live process holds it
    try:
        capsys.readouterr()
        assert cli(small_files, out, "--areas", "AL,CA") == 2
        err = capsys.readouterr().err
        assert "is locked by another `goldstar areas` run" in err and str(lock_path(out)) in err
        assert snapshot(out) == before
    finally:
        release(out, token)
    assert not lock_path(out).exists()
    assert cli(small_files, out, "--areas", "AL,CA") == 0
    assert not lock_path(out).exists()  # released at the end of a run


# -- the national weights ------------------------------------------------------------------------------


def test_a_tampered_national_reference_is_refused_before_any_work(tmp_path, capsys):
    source = REPO / "reference" / "band"
    copy = tmp_path / "band"
    shutil.copytree(source, copy)
    table = pq.read_table(copy / "weights.parquet")
    weight = table.column("weight").to_numpy().copy()
    weight[7] *= 2  # the metadata (and its recorded weights hash) stay as they were
    table = table.set_column(table.schema.get_field_index("weight"), "weight", pa.array(weight))
    pq.write_table(table, copy / "weights.parquet")
    out = tmp_path / "out"
    assert main(["areas", "--areas", "WY", "--reference", str(copy), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "fails its hash checks" in err and str(copy) in err
    assert not out.exists()
    # a directory with a plain weights file is no reference: the message names --national-weights
    plain = tmp_path / "plain"
    plain.mkdir()
    pd.DataFrame({"record_id": [1, 2], "weight": [1.0, 2.0]}).to_parquet(plain / "weights.parquet")
    assert main(["areas", "--areas", "WY", "--reference", str(plain), "--out", str(out), "--quiet"]) == 2
    assert "--national-weights" in capsys.readouterr().err
    assert not out.exists()


def test_national_weights_file_is_checked_by_row(tmp_path, small_files, capsys):
    bad = tmp_path / "w.csv"
    bad.write_text("record_id,weight\n1,2.5\n2,-1\n")
    assert main(["areas", "--areas", "AL", "--national-weights", str(bad), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert f"--national-weights {bad}: row 3, column weight" in err
    assert not (tmp_path / "o2").exists()


def test_a_bad_weight_far_down_a_large_csv_is_named_without_a_warning(tmp_path):
    """A CSV whose weight column holds text only past pandas' first chunk: the row is named and no
    DtypeWarning is printed on the way (the column is typed from all its rows)."""
    import warnings

    from goldstar.areas.inputs import file_weights

    n = 300_000
    weight = np.ones(n).astype(object)
    weight[n - 5] = "abc"
    path = tmp_path / "w.csv"
    pd.DataFrame({"record_id": np.arange(n), "weight": weight}).to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=f"row {n - 3}, column weight: 'abc' is not a finite number"):
            file_weights(path)


# -- input files, checked before any work --------------------------------------------------------------


def overrides_file(tmp_path, *rows: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "overrides.csv"
    path.write_bytes(("area,eps,upper,targets,slack_penalty,note\n" + "".join(r + "\n" for r in rows)).encode(encoding))
    return path


@pytest.mark.parametrize("rows,message", [
    (["ZZ,0.01,,,,"], "row 2: area ZZ is not in this batch"),
    (["TX,0.01,,,,"], "row 2: area TX is not in this batch"),
    (["AL,0.01,,,,", "al,,30,,,"], "row 3: area AL has a row already (row 2)"),
    (["AL,,,wages/nonesuch,10,"], "row 2, `targets`: 'wages/nonesuch' is not a target of the recipe"),
    (["AL,-1,,,,"], "row 2, `eps`: '-1' is not a positive number"),
])
def test_overrides_rows_are_refused_by_name(tmp_path, rows, message):
    from goldstar.areas.recipe import read_recipe

    path = overrides_file(tmp_path, *rows)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_overrides(path, areas={"AL", "CA"}, targets=[c.name for c in read_recipe()])


def test_text_files_that_are_not_utf8_exit_2_naming_the_file(tmp_path, small_files, capsys):
    latin = overrides_file(tmp_path, "AL,,,,,caf\xe9", encoding="latin-1")
    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "AL", "--overrides", str(latin)) == 2
    assert f"overrides file {latin}: not UTF-8" in capsys.readouterr().err
    recipe = tmp_path / "recipe.csv"
    recipe.write_bytes((REPO / "goldstar" / "areas" / "data" / "recipes" / "goldstar-77.csv").read_bytes().replace(
        b"joint returns", "joint r\xe9turns".encode("latin-1")))
    assert cli(small_files, out, "--areas", "AL", "--recipe", str(recipe)) == 2
    assert f"recipe file {recipe}: not UTF-8" in capsys.readouterr().err
    assert not out.exists()


def test_a_negative_count_in_the_soi_table_names_file_row_and_column(tmp_path, small_files, capsys):
    from goldstar.defaults import DEFAULT_SOI_STATES

    soi = pd.read_csv(DEFAULT_SOI_STATES, thousands=",")
    row = int(np.flatnonzero(soi["STATE"] == "WY")[0])
    soi.loc[row, "N2"] = -4
    path = tmp_path / "soi.csv"
    soi.to_csv(path, index=False)
    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "WY", "--soi", str(path)) == 2
    assert f"SOI state table {path}: column 'N2', row {row + 2}: -4 is a count below 0" in capsys.readouterr().err
    assert not out.exists()


# -- bounded work --------------------------------------------------------------------------------------


def test_synthetic_sets_beyond_the_machines_memory_are_refused(tmp_path, small_files, monkeypatch, capsys):
    monkeypatch.setattr(memory, "total_memory", lambda: 2 * 2**30)  # a 2 GiB machine
    out = tmp_path / "out"
    start = time.perf_counter()
    assert cli(small_files, out, "--areas", "synthetic:100000000") == 2
    assert time.perf_counter() - start < 5  # refused from N alone, before anything is read
    err = capsys.readouterr().err
    assert "would need about 3,051.8 GiB" in err and "this machine has 2.0 GiB" in err
    # the full estimate, once the records are known: 3,000 records, 2 workers, 60,000 areas
    needed = memory.batch_bytes(60_000, 3_000, 2)
    assert needed == 3_000 * (memory.CLIENT_BYTES_PER_RECORD + 2 * memory.WORKER_BYTES_PER_RECORD) + 60_000 * 32 * 1024
    monkeypatch.setattr(memory, "total_memory", lambda: needed - 1)
    with pytest.raises(InputError, match="records x"):
        memory.check_batch_memory(60_000, 3_000, 2)
    memory.check_batch_memory(60_000, 3_000, 1)  # one worker fewer fits
    assert not out.exists()


def test_more_workers_than_cores_is_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(command.os, "cpu_count", lambda: 2)
    command.warn_about_workers(24)
    err = capsys.readouterr().err
    assert err.startswith("WARNING: --workers 24 on 2 core(s)") and "--workers 2" in err
    command.warn_about_workers(2)
    assert capsys.readouterr().err == ""


def test_a_dead_scheduler_is_refused_within_10_seconds_before_any_write(tmp_path, small_files, capsys):
    out = tmp_path / "out"
    start = time.perf_counter()
    assert cli(small_files, out, "--areas", "AL", "--scheduler", "tcp://127.0.0.1:9") == 2
    assert time.perf_counter() - start < 10
    assert "--scheduler tcp://127.0.0.1:9: cannot connect" in capsys.readouterr().err
    assert not out.exists()
