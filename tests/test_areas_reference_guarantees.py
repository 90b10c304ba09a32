"""What the areas reference, its verify and the areas report guarantee against tampered,
truncated or mismatched files: an ERROR naming the file (exit 2) or a failed check (exit 1),
never a traceback, never a pass; and the chain from the national reference to the areas one."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

pytest.importorskip("dask.distributed")

from dask.distributed import Client, LocalCluster  # noqa: E402

from goldstar.areas import batch, command  # noqa: E402
from goldstar.areas.reference import (  # noqa: E402
    DUALS, KEY, MANIFEST, check_reference_output, national_mismatch, write_reference,
)
from goldstar.cli import main  # noqa: E402
from goldstar.exceptions import EXIT_FAILED, InputError  # noqa: E402
from goldstar.hashing import file_hash  # noqa: E402
from goldstar.solvers import SOLVERS  # noqa: E402
from tests.areas_helpers import small_records  # noqa: E402

pytestmark = [pytest.mark.skipif("band-newton" not in SOLVERS, reason="needs the band-newton solver"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

AREAS = "WY,VT"


def _thread_client(scheduler=None, workers=None):
    return Client(LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"))


def run_areas(base: Path, national: Path, out: Path, reference: Path, *extra: str) -> int:
    """`goldstar areas` on the small records with national weights `national`, real band solves."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch, "make_client", _thread_client)
        return main(["areas", "--records", str(base / "records.parquet"), "--national-weights", str(national / "weights.parquet"),
                     "--areas", AREAS, "--out", str(out), "--write-reference", str(reference),
                     "--workers", "1", "--quiet", *extra])


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Small records, a national 'reference' (weights.parquet), a batch of two states and its
    areas reference (read-only: tests copy what they change)."""
    base = tmp_path_factory.mktemp("areas-ref")
    records = small_records()
    records.to_parquet(base / "records.parquet")
    (base / "national").mkdir()
    records[["record_id", "weight"]].to_parquet(base / "national" / "weights.parquet")
    assert run_areas(base, base / "national", base / "out", base / "ref") == 0
    return base


def verify(made: Path, reference: Path, national: Path | None = None) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--verify", str(reference), "--records", str(made / "records.parquet"),
                              "--national-weights", str((national or made / "national") / "weights.parquet"), "--quiet"])
    return command.verify(args)


def copy_ref(made: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(made / "ref", tmp_path / "ref"))


def edit_manifest(ref: Path, edit) -> None:
    manifest = json.loads((ref / MANIFEST).read_text())
    edit(manifest)
    (ref / MANIFEST).write_text(json.dumps(manifest))


def edit_duals(ref: Path, edit_info=None, edit_frame=None, drop_metadata: bool = False) -> None:
    table = pq.read_table(ref / DUALS)
    info = json.loads(table.schema.metadata[KEY])
    frame = table.to_pandas()
    if edit_info is not None:
        edit_info(info)
    if edit_frame is not None:
        frame = edit_frame(frame)
    import pyarrow as pa

    new = pa.Table.from_pandas(frame, preserve_index=False)
    new = new.replace_schema_metadata(None if drop_metadata else {KEY: json.dumps(info).encode()})
    pq.write_table(new, ref / DUALS)


def test_the_made_reference_verifies(made, capsys):
    assert verify(made, made / "ref") == 0
    out = capsys.readouterr().out
    assert "verified     2 of 2 areas and MANIFEST.json" in out


# -- --write-reference: where it may write ----------------------------------------------------

def test_check_reference_output_refuses_what_it_must(made, tmp_path):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(InputError, match="--write-reference .*not a directory"):
        check_reference_output(tmp_path / "file", force=True)
    with pytest.raises(InputError, match="--write-reference .*is a file"):
        check_reference_output(tmp_path / "file" / "ref", force=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(InputError, match="--write-reference .*files goldstar did not write"):
        check_reference_output(tmp_path / "mine", force=True)
    ref = copy_ref(made, tmp_path)
    with pytest.raises(InputError, match="--write-reference .*already holds a goldstar areas reference; "
                                         "pass --force to replace it"):
        check_reference_output(ref, force=False)
    check_reference_output(ref, force=True)
    check_reference_output(tmp_path / "new" / "ref", force=False)
    with pytest.raises(InputError, match="--write-reference .*not a goldstar areas reference"):
        check_reference_output(made / "national", force=True)  # another goldstar-looking dir is refused too
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_check_reference_output_refuses_where_nothing_can_be_made(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InputError, match="--write-reference .*nothing can be written"):
            check_reference_output(locked / "ref", force=False)
    finally:
        locked.chmod(0o700)


def test_write_reference_is_one_swap_and_needs_force(made, tmp_path):
    ref = copy_ref(made, tmp_path)
    before = {p.name: p.read_bytes() for p in ref.iterdir()}
    inode = ref.stat().st_ino
    rows = [{"area": "WY", "status": "ok", "input_hash": "h", "kind": "state", "synthetic": False,
             "pop_share": 0.5, "eps": 0.005, "upper": 25.0, "dropped": [], "certified": True, "y": {"a": 0.0, "b": 1.0}}]
    args = (rows, ("a", "b"), {}, {"WY": np.ones(3)}, "WY")
    with pytest.raises(InputError, match="pass --force"):
        write_reference(ref, *args)
    assert {p.name: p.read_bytes() for p in ref.iterdir()} == before
    write_reference(ref, *args, force=True)
    assert ref.stat().st_ino != inode  # a new directory took the old one's place
    assert {p.name for p in ref.iterdir()} == {DUALS, MANIFEST}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ref.")]  # no temporaries left
    assert json.loads((ref / MANIFEST).read_text())["count"] == 1


def test_areas_with_write_reference_refuses_before_any_work(made, tmp_path, capsys):
    """An existing areas reference without --force: exit 2 before the batch, nothing replaced."""
    if "--force" not in (lambda p: (command.add_arguments(p), p.format_help())[1])(argparse.ArgumentParser()):
        pytest.skip("`goldstar areas --force` has not landed")
    ref = copy_ref(made, tmp_path)
    before = (ref / DUALS).read_bytes()
    assert run_areas(made, made / "national", tmp_path / "out", ref) == 2
    assert "--write-reference" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert (ref / DUALS).read_bytes() == before


# -- verify --areas: MANIFEST.json and the duals -------------------------------------------------

def failed_lines(capsys) -> tuple[str, str]:
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_a_missing_manifest_fails_naming_it(made, tmp_path, capsys):
    ref = copy_ref(made, tmp_path)
    (ref / MANIFEST).unlink()
    assert verify(made, ref) == 1
    out, err = failed_lines(capsys)
    assert "MANIFEST.json FAIL" in out and "missing" in out and "MANIFEST.json" in err


@pytest.mark.parametrize("edit, named", [
    (lambda m: m.update(count=3), "`count`"),
    (lambda m: m.update(areas="WY,VT,ZZ"), "`areas`"),
    (lambda m: m.update(status={"ok": 1, "failed": 1}), "`status`"),
    (lambda m: m.pop("status"), "no field `status`"),
    (lambda m: m["by_area"]["WY"].update(total=m["by_area"]["WY"]["total"] * (1 + 1e-6)), "WY .*total"),
    (lambda m: m["by_area"]["WY"].update(dropped=m["by_area"]["WY"]["dropped"] + 1), "WY .*dropped"),
    (lambda m: m["by_area"]["WY"].update(status="failed"), "WY .*status 'failed'"),
    (lambda m: m["by_area"].pop("WY"), "WY .*not in MANIFEST.json"),
    (lambda m: m.update(by_area=[]), "`by_area`"),
])
def test_an_edited_manifest_fails_naming_the_field(made, tmp_path, capsys, edit, named):
    import re

    ref = copy_ref(made, tmp_path)
    edit_manifest(ref, edit)
    assert verify(made, ref) == 1
    out, _ = failed_lines(capsys)
    assert re.search(named, out), out


def test_an_extra_area_in_the_manifest_fails_by_name(made, tmp_path, capsys):
    ref = copy_ref(made, tmp_path)
    edit_manifest(ref, lambda m: m["by_area"].update(ZZ=dict(m["by_area"]["WY"])))
    assert verify(made, ref) == 1
    out, err = failed_lines(capsys)
    assert "ZZ         FAIL in MANIFEST.json" in out and "ZZ" in err
    assert "verified     2 of 3 areas" in out


def test_an_extra_area_in_the_duals_fails_by_name(made, tmp_path, capsys):
    ref = copy_ref(made, tmp_path)

    def add_zz(frame):
        return pd.concat([frame, frame[frame["area"] == "WY"].assign(area="ZZ")], ignore_index=True)

    edit_duals(ref, edit_frame=add_zz)  # rows only
    assert verify(made, ref) == 1
    out, _ = failed_lines(capsys)
    assert "ZZ         FAIL in duals.parquet rows" in out
    edit_duals(ref, edit_info=lambda i: i["by_area"].update(ZZ=i["by_area"]["WY"]))  # and its metadata
    assert verify(made, ref) == 1
    out, _ = failed_lines(capsys)
    assert "ZZ         FAIL" in out and "not an area of the set 'WY,VT'" in out


def test_a_dropped_list_that_does_not_match_the_duals_fails(made, tmp_path, capsys):
    ref = copy_ref(made, tmp_path)
    edit_duals(ref, edit_info=lambda i: i["by_area"]["WY"].update(dropped=i["by_area"]["WY"]["dropped"] + ["x"]))
    assert verify(made, ref) == 1
    assert "WY         FAIL dropped targets" in capsys.readouterr().out


def test_verify_certifies_an_area_at_its_recorded_rho_cap(made, tmp_path, capsys):
    """WY was solved at the usual cap; recorded as raised, its duals are checked at rho 1e19 and
    leave a gap there: verify reads the cap from the reference, not from a default."""
    ref = copy_ref(made, tmp_path)
    edit_duals(ref, edit_info=lambda i: i["by_area"]["WY"].update(rho_cap=1e19))
    assert verify(made, ref) == 1
    out = capsys.readouterr().out
    assert "WY         FAIL certificate FAILED: duality gap" in out
    assert "VT         ok" in out


@pytest.mark.parametrize("damage, named", [
    (lambda ref: (ref / DUALS).write_bytes((ref / DUALS).read_bytes()[:200]), "duals.parquet: cannot be read"),
    (lambda ref: (ref / DUALS).unlink(), "no duals.parquet"),
    (lambda ref: edit_duals(ref, drop_metadata=True), "duals.parquet: no 'goldstar-areas' metadata"),
    (lambda ref: edit_duals(ref, edit_info=lambda i: i["by_area"]["WY"].update(fingerprint={})),
     "duals.parquet: .*by_area.WY.fingerprint"),
    (lambda ref: edit_duals(ref, edit_info=lambda i: i["by_area"]["WY"].update(input_hash=3)),
     "duals.parquet: .*by_area.WY.input_hash"),
    (lambda ref: edit_duals(ref, edit_info=lambda i: i.update(by_area=[])), "duals.parquet: .*`by_area`"),
    (lambda ref: edit_duals(ref, edit_info=lambda i: i["by_area"]["WY"].update(rho_cap=1e17)),
     "duals.parquet: .*by_area.WY.rho_cap"),
    (lambda ref: edit_duals(ref, edit_frame=lambda f: f.drop(columns="y")), "duals.parquet: no column 'y'"),
])
def test_a_broken_duals_file_exits_2_naming_it(made, tmp_path, capsys, damage, named):
    import re

    ref = copy_ref(made, tmp_path)
    damage(ref)
    assert main(["verify", "--areas", str(ref)]) == 2
    err = capsys.readouterr().err
    assert re.search(named, err) and err.count("ERROR:") == 1 and "Traceback" not in err, err


# -- the chain: national reference -> areas reference ----------------------------------------

def test_another_national_reference_is_said_once_and_regenerating_mends_it(made, tmp_path, capsys):
    """The national weights one ulp away: verify names both national references once (not one
    hash failure an area) and the command that regenerates them; an areas reference made
    against the new national one verifies."""
    nudged = tmp_path / "national"
    nudged.mkdir()
    weights = pd.read_parquet(made / "national" / "weights.parquet")
    weights.loc[7, "weight"] = np.nextafter(weights.loc[7, "weight"], np.inf)
    weights.to_parquet(nudged / "weights.parquet")
    assert verify(made, made / "ref", nudged) == 1
    out, err = failed_lines(capsys)
    assert err.count("ERROR:") == 1 and "make goldstar" in err, err
    assert str(made / "national") in err and str(nudged) in err
    weights = made / "national" / "weights.parquet"  # the file the reference was made from
    assert f"but --national-weights gives {nudged}" in err
    assert f"`goldstar areas --verify {made / 'ref'} --national-weights {weights}`" in err
    assert "WY" not in out and "differs from the recorded" not in out + err
    # regenerated against the nudged national reference, it verifies against it
    assert run_areas(made, nudged, tmp_path / "out", tmp_path / "ref") == 0
    capsys.readouterr()
    assert verify(made, tmp_path / "ref", nudged) == 0
    assert verify(made, tmp_path / "ref") == 1  # and no longer against the first one


def test_national_mismatch_prefers_the_by_value_weights_hash():
    def hashes(file_hash: str, weights_hash: str | None, directory: str = "reference/band") -> dict:
        out = {"national_weights": {"file": f"{directory}/weights.parquet", "hash": file_hash}}
        if weights_hash is not None:
            out["national_reference"] = {"kind": "reference", "directory": directory, "weights_hash": weights_hash}
        return out

    # the same weights in another file (rewritten, another Parquet writer): no mismatch
    assert national_mismatch(hashes("f1", "w"), hashes("f2", "w")) is None
    message = national_mismatch(hashes("f1", "w1"), hashes("f1", "w2", "/elsewhere/band"))
    assert "reference/band" in message and "/elsewhere/band" in message and "w1" in message and "w2" in message
    assert "make goldstar" in message and "but the national reference here is /elsewhere/band" in message
    # the command that verifies against the recorded one, with the option of its kind
    assert "`goldstar areas --verify DIR --reference reference/band`" in message
    given = national_mismatch(hashes("f1", "w1"), hashes("f1", "w2", "/elsewhere/band"), "ref/areas", "--reference")
    assert "but --reference gives /elsewhere/band" in given and "`goldstar areas --verify ref/areas --reference" in given
    # the same national content however the weights were given: no mismatch
    same = {**hashes("f1", "w1"), "content": "c"}
    assert national_mismatch(same, {**hashes("f2", "w2", "/elsewhere/band"), "content": "c"}) is None
    assert national_mismatch(same, {**hashes("f2", "w2", "/elsewhere/band"), "content": "d"}) is not None
    # a reference recorded before the by-value hash: the file hash decides
    assert national_mismatch(hashes("f1", None), hashes("f1", "w")) is None
    assert "weights file hash f1" in national_mismatch(hashes("f1", None), hashes("f2", "w"))


# -- goldstar goldstar --problem on a band problem directory --------------------------------

def test_a_band_problem_directory_carries_its_prepass_into_the_reference(tmp_path, capsys):
    from goldstar.defaults import DEFAULT_RECORDS
    from goldstar.inputs.cps import cps_to_soi
    from goldstar.store.reference import read_reference

    cps_to_soi(pd.read_csv(DEFAULT_RECORDS, nrows=3000)).to_csv(tmp_path / "records.csv", index=False)
    assert main(["build", "--records", str(tmp_path / "records.csv"), "--objective", "band",
                 "--out", str(tmp_path / "problem")]) == 0
    recorded = json.loads((tmp_path / "problem" / "problem.json").read_text())["prepass"]
    assert recorded["dropped"]  # the slice drops targets
    assert main(["goldstar", "--problem", str(tmp_path / "problem"), "--reference", str(tmp_path / "ref"),
                 "--lbfgsb-maxiter", "100", "--quiet"]) == 0
    assert read_reference(tmp_path / "ref").metadata["problem"]["prepass"] == recorded
    capsys.readouterr()
    assert main(["verify", "--reference", str(tmp_path / "ref"), "--mode", "hash", "--mode", "certificate"]) == 0
    assert "no pre-pass recorded" not in capsys.readouterr().out


# -- report --areas on broken batch files -----------------------------------------------------

def copy_out(made: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(made / "out", tmp_path / "out"))


def report(out: Path, tmp_path: Path) -> int:
    return main(["report", "--areas", str(out), "--out", str(tmp_path / "areas.html")])


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _edit_row(out: Path, edit) -> None:
    path = out / "areas" / "WY.json"
    row = json.loads(path.read_text())
    edit(row)
    path.write_text(json.dumps(row))


def _summary_without(out: Path, column: str) -> None:
    pd.read_csv(out / "summary.csv").drop(columns=column).to_csv(out / "summary.csv", index=False)


def _summary_edit(out: Path, edit) -> None:
    summary = pd.read_csv(out / "summary.csv")
    edit(summary).to_csv(out / "summary.csv", index=False)


def _cut_summary(out: Path) -> None:
    """summary.csv cut inside its last row: the row keeps its first fields, pop_share is lost."""
    text = (out / "summary.csv").read_text()
    last = text.rstrip("\n").rfind("\n")
    (out / "summary.csv").write_text(text[: last + 12])


@pytest.mark.parametrize("damage, named", [
    (lambda out: (out / "m" / "WY.parquet").unlink(), r"m/WY.parquet is missing"),
    (lambda out: _truncate(out / "m" / "WY.parquet"), r"m/WY.parquet (cannot be read|changed since the batch wrote it)"),
    (lambda out: (out / "areas" / "WY.json").write_text("{not json"), r"areas/WY.json cannot be read as JSON"),
    (lambda out: _edit_row(out, lambda r: r.update(certificate=[1])), r"areas/WY.json: `certificate`"),
    (lambda out: _edit_row(out, lambda r: r["certificate"].update(targets_outside_band="x")),
     r"areas/WY.json: `certificate.targets_outside_band`"),
    (lambda out: _edit_row(out, lambda r: r.update(files=["m/WY.parquet"])), r"areas/WY.json: `files`"),
    (lambda out: _edit_row(out, lambda r: r.update(area="VT")), r"areas/WY.json is the row of area 'VT'"),
    (lambda out: (out / "areas" / "WY.json").unlink(), r"areas/WY.json is missing"),
    (lambda out: _summary_without(out, "pop_share"), r"summary.csv lacks column\(s\) pop_share"),
    (lambda out: (out / "summary.csv").write_bytes(b""), r"summary.csv cannot be read"),
    (lambda out: (out / "summary.csv").write_bytes(b'area,status\n"WY,ok\n'), r"summary.csv"),
    (lambda out: _summary_edit(out, lambda t: t.assign(pop_share=[None] + list(t["pop_share"][1:]))),
     r"summary.csv, row 2, column 'pop_share': nan is not a population share"),
    (lambda out: _summary_edit(out, lambda t: t.assign(pop_share=-t["pop_share"])),
     r"summary.csv, row 2, column 'pop_share': -0\.\d+ is not a population share"),
    (lambda out: _summary_edit(out, lambda t: pd.concat([t, t.iloc[:1]])), r"summary.csv, row \d+: area \w+ again"),
    (lambda out: (out / "records.parquet").unlink(), r"records.parquet is missing"),
    (lambda out: _truncate(out / "records.parquet"), r"records.parquet cannot be read"),
])
def test_a_broken_batch_file_exits_2_naming_it(made, tmp_path, capsys, damage, named):
    import re

    out = copy_out(made, tmp_path)
    damage(out)
    assert report(out, tmp_path) == 2
    err = capsys.readouterr().err
    assert re.search(named, err) and err.count("ERROR:") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "areas.html").exists()


def test_report_checks_the_m_files_recorded_hash(made, tmp_path, capsys):
    out = copy_out(made, tmp_path)
    m = out / "m" / "WY.parquet"
    _edit_row(out, lambda r: r.update(files={"m/WY.parquet": file_hash(m)}))
    assert report(out, tmp_path) == 0  # the recorded hash matches
    table = pq.read_table(m)
    pq.write_table(table.set_column(0, "m", [table.column("m").to_numpy() * 1.0000001]), m)  # still valid
    assert report(out, tmp_path) == 2
    err = capsys.readouterr().err
    assert "m/WY.parquet changed since the batch wrote it" in err and "areas/WY.json" in err


def test_report_of_an_unfinished_batch_says_so(made, tmp_path, capsys):
    """A batch stopped before its end has fewer rows in summary.csv than its marker's areas: the
    page and the command say the figures are of the finished areas alone."""
    out = copy_out(made, tmp_path)
    assert report(out, tmp_path) == 0
    assert "has not finished" not in (tmp_path / "areas.html").read_text() + capsys.readouterr().err
    _summary_edit(out, lambda t: t.iloc[:1])
    assert report(out, tmp_path) == 0
    page = (tmp_path / "areas.html").read_text()
    assert "The batch has not finished: 1 of its 2 areas have a row in summary.csv" in page
    assert "<p>1 areas: ok 1." in page
    assert "has not finished: 1 of its 2 areas" in capsys.readouterr().err


# -- the settings a reference was made with --------------------------------------------------

def test_a_reference_records_its_settings_and_verifies_with_them(made, tmp_path, capsys):
    """A batch with non-default settings (relative slack units, another eps) writes them into its
    reference; verify rebuilds the areas with them (their input hashes cover them), and another
    recorded value fails every area's input hash."""
    ref = tmp_path / "ref-relative"
    assert run_areas(made, made / "national", tmp_path / "out", ref, "--slack-units", "relative", "--eps", "0.01") == 0
    info = json.loads(pq.read_schema(ref / DUALS).metadata[KEY])
    assert info["settings"] == {"eps": 0.01, "slack_penalty": 1e6, "slack_units": "relative",
                                "slack_penalty_rule": "uniform", "unreachable": "drop", "upper": None,
                                "time_limit": None}
    assert verify(made, ref) == 0
    assert "verified     2 of 2 areas and MANIFEST.json" in capsys.readouterr().out
    edit_duals(ref, edit_info=lambda info: info["settings"].update(eps=0.005))
    assert verify(made, ref) == 1
    assert "input hash" in capsys.readouterr().out


def test_a_reference_made_under_the_tmd_rule_verifies_under_it(made, tmp_path, capsys):
    """The rule prices goldstar-77's six filing-status counts under $10K at 1e3: the reference
    records it and verify rebuilds the areas under it. Recorded as uniform, or not recorded (as a
    reference made before the rules: made under uniform), every area's input hash fails."""
    ref = tmp_path / "ref-tmd"
    assert run_areas(made, made / "national", tmp_path / "out", ref, "--slack-penalty-rule", "tmd") == 0
    assert json.loads(pq.read_schema(ref / DUALS).metadata[KEY])["settings"]["slack_penalty_rule"] == "tmd"
    assert verify(made, ref) == 0
    assert "verified     2 of 2 areas and MANIFEST.json" in capsys.readouterr().out
    for edit in (lambda s: s.update(slack_penalty_rule="uniform"), lambda s: s.pop("slack_penalty_rule")):
        changed = Path(shutil.copytree(ref, tmp_path / f"edited-{len(list(tmp_path.iterdir()))}"))
        edit_duals(changed, edit_info=lambda info: edit(info["settings"]))
        assert verify(made, changed) == 1
        assert "input hash" in capsys.readouterr().out


def test_a_reference_that_records_no_rule_was_made_under_uniform(made, tmp_path, capsys):
    ref = copy_ref(made, tmp_path)
    edit_duals(ref, edit_info=lambda info: info["settings"].pop("slack_penalty_rule"))
    assert verify(made, ref) == 0


@pytest.mark.parametrize("edit", [
    lambda s: s.update(slack_penalty_rule="TMD"),
    lambda s: s.update(slack_penalty_rule=[]),
    lambda s: s.pop("eps"),
    lambda s: s.update(slack_units=3),
    lambda s: s.update(upper="25"),
    lambda s: s.update(time_limit=True),
])
def test_malformed_recorded_settings_are_named(made, tmp_path, capsys, edit):
    ref = copy_ref(made, tmp_path)
    edit_duals(ref, edit_info=lambda info: edit(info["settings"]))
    assert main(["areas", "--verify", str(ref), "--quiet"]) == 2
    assert "metadata `settings" in capsys.readouterr().err


def test_a_reference_records_its_recipe_and_verify_reads_it(made, tmp_path, capsys):
    """Made from the shipped goldstar-69, a reference verifies without --recipe (verify finds the
    shipped recipe by its file name and content hash); made from a recipe file of one's own, verify
    without it names both recipes and exits 1, and with it passes."""
    from goldstar.areas.recipe import RECIPES

    assert run_areas(made, made / "national", tmp_path / "out69", tmp_path / "ref69", "--recipe", "goldstar-69") == 0
    assert verify(made, tmp_path / "ref69") == 0
    own = tmp_path / "mine.csv"
    own.write_text("\n".join(RECIPES["goldstar-77"].read_text().splitlines()[:-3]) + "\n")
    assert run_areas(made, made / "national", tmp_path / "outown", tmp_path / "refown", "--recipe", str(own)) == 0
    capsys.readouterr()
    assert verify(made, tmp_path / "refown") == EXIT_FAILED
    err = capsys.readouterr().err
    assert "made from the recipe mine.csv" in err and "no shipped recipe" in err and "goldstar-77.csv" in err
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--verify", str(tmp_path / "refown"), "--records", str(made / "records.parquet"),
                              "--national-weights", str(made / "national" / "weights.parquet"), "--recipe", str(own),
                              "--quiet"])
    assert command.verify(args) == 0


def test_a_committed_reference_verified_from_another_directory_names_its_national_reference(tmp_path, monkeypatch,
                                                                                          capsys):
    """The committed references name the national reference they were made from by a path from
    the repository's root; from another directory verify says so and how to point at it (exit 2,
    before any work) instead of sending the user to regenerate it."""
    reference = (Path(__file__).resolve().parents[1] / "reference" / "areas-additive-relative")
    monkeypatch.chdir(tmp_path)
    assert main(["verify", "--areas", str(reference)]) == 2
    err = capsys.readouterr().err
    assert (f"{reference}: made from the national reference reference/band (paths from the directory it was made "
            f"in), not found from here; run verify from that directory, or `goldstar areas --verify {reference} "
            "--reference DIR`") in err
    assert "make goldstar" not in err
