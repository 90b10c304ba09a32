"""`goldstar areas --verify DIR`'s options: what it does not take is refused by name before any
work (exit 2), and a reference that records no settings is rebuilt at the command's defaults,
whatever the command line around it says."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from goldstar.areas import command
from goldstar.cli import main

REFERENCE = "reference/areas"  # committed; records no settings (made with the defaults)


@pytest.mark.parametrize("extra, says", [
    (["--out", "somewhere"], "--out do(es) not apply"),
    (["--write-reference", "elsewhere", "--force"], "--write-reference, --force do(es) not apply"),
    (["--additive"], "--additive do(es) not apply"),
    (["--max-exhaustion", "nan"], "--max-exhaustion do(es) not apply"),
    (["--joint-device", "tpu9"], "--joint-device do(es) not apply"),
    (["--joint-time-limit", "-3"], "--joint-time-limit do(es) not apply"),
    (["--eps", "0.01"], "--eps do(es) not apply: verify writes nothing and rebuilds each area with the settings"),
    (["--slack-units", "relative"], "--slack-units do(es) not apply"),
    (["--slack-penalty-rule", "tmd"], "--slack-penalty-rule do(es) not apply"),
    (["--seed", "-5"], "`--seed` must be a whole number from 0 to 2**63 - 1, got -5"),
    (["--workers", "0"], "`--workers` must be >= 1, got 0"),
    (["--reference", "reference/band", "--national-weights", "w.csv"], "not both"),
])
def test_what_verify_does_not_take_exits_2_by_name(tmp_path, capsys, extra, says):
    assert main(["areas", "--verify", REFERENCE, "--areas", "AL", *extra]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not (tmp_path / "somewhere").exists()


def test_a_reference_that_records_no_settings_is_rebuilt_at_the_defaults():
    """as_made fills the settings of a reference that records none (one written before references
    recorded them; reference/areas with its record taken out) with the command line's defaults,
    not with the command line it is read from: a districts batch --within it at --slack-units
    relative rebuilds the states as they were made."""
    from goldstar.areas.reference import read_reference

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--areas", "districts:PA", "--within", REFERENCE, "--slack-units", "relative",
                              "--eps", "0.01"])
    _, info = read_reference(REFERENCE)
    info = {key: value for key, value in info.items() if key != "settings"}
    made = command.as_made(args, REFERENCE, info)
    assert {name: getattr(made, name) for name in command.default_settings()} == command.default_settings()
    assert made.slack_units == "target" and made.eps == 0.005 and args.slack_units == "relative"


def test_verify_areas_refuses_the_national_verifys_options(capsys):
    for extra in (["--device", "tpu9"], ["--backend", "torch"], ["--reference", "reference/band"]):
        assert main(["verify", "--areas", REFERENCE, *extra]) == 2
        assert "drop --reference, --problem, --backend and --device" in capsys.readouterr().err


def test_another_shipped_recipe_is_said_as_such(capsys):
    """reference/areas was made from the shipped goldstar-77: verify with --recipe goldstar-69
    says so, and to drop --recipe, not that its recipe is no shipped one (exit 1: the inputs
    differ, every area's input hash would fail)."""
    assert main(["areas", "--verify", REFERENCE, "--recipe", "goldstar-69"]) == 1
    err = capsys.readouterr().err
    assert "the shipped goldstar-77; this verify read goldstar-69.csv" in err and "drop --recipe" in err
    assert "no shipped recipe" not in err


def test_the_same_weights_given_as_a_file_verify(tmp_path, capsys):
    """reference/areas was made from the national reference reference/band; the same weights
    written as a weights file (hashed by another scheme) are the same national content, so
    verify with --national-weights passes."""
    import pandas as pd

    weights = tmp_path / "weights.parquet"
    pd.read_parquet("reference/band/weights.parquet")[["record_id", "weight"]].to_parquet(weights)
    assert main(["areas", "--verify", REFERENCE, "--areas", "AL", "--national-weights", str(weights)]) == 0
    assert "verified     1 of 1 areas" in capsys.readouterr().out


def test_districts_within_states_name_the_national_reference_that_differs(tmp_path, capsys):
    """A districts reference verified against another national reference: the states reference
    they were solved within is rebuilt first, and what is said is that the national reference
    differs (both named), not that some state's input hash does (exit 2, before any solve)."""
    import shutil

    other = Path(shutil.copytree("reference/default", tmp_path / "default"))
    assert main(["areas", "--verify", "reference/districts-PA-additive-relative", "--reference", str(other)]) == 2
    err = capsys.readouterr().err
    assert "--within reference/areas-additive-relative: the areas reference was made from the national reference " \
           f"reference/band" in err and f"but the national reference here is {other}" in err
    assert "input hash" not in err.split("every area's input hash covers")[0]
    # what to do names the districts' own inputs, not a verify of the states reference
    assert "give the districts the national weights the states were made from (--reference reference/band" in err
    assert "--verify reference/areas-additive-relative" not in err


def test_another_soi_table_is_named_once(tmp_path, capsys):
    """An SOI table one byte away from the one the reference was made from: said once, naming
    both files and --soi (exit 1), not an input hash failure an area."""
    soi = tmp_path / "soi.csv"
    soi.write_bytes(Path("goldstar/data/soi_states_2022.csv").read_bytes() + b"\n")
    assert main(["areas", "--verify", REFERENCE, "--areas", "AL", "--soi", str(soi)]) == 1
    out, err = capsys.readouterr()
    assert err.count("ERROR:") == 1 and "this verify read soi.csv (" in err and "with --soi FILE" in err
    assert "input hash" not in out


@pytest.mark.parametrize("directory, says", [
    ("no/such/dir", "areas reference no/such/dir: not found (no such directory)"),
    ("reference/band", "it holds weights.parquet, as a national reference does: verify that with "
                       "`goldstar verify --reference reference/band`"),
])
def test_verify_says_what_a_directory_is_not(capsys, directory, says):
    assert main(["verify", "--areas", directory]) == 2
    assert says in capsys.readouterr().err


def test_a_failed_joint_check_before_any_area_is_said_as_such(capsys):
    """A joint reference whose joint problem does not rebuild has no area lines: the summary says
    no area was verified and why, not '0 of 0 areas and MANIFEST.json'."""
    from goldstar.areas.joint_run import JOINT_CHECK

    assert command._print_verified(Path("ref"), [(JOINT_CHECK, False, "input hash differs")], ("hash",), 0.0) == 1
    out = capsys.readouterr().out
    assert "verified     no area: the joint check failed first" in out and "MANIFEST" not in out


@pytest.mark.parametrize("extra, says", [
    (["--national-weights", "reference/band"], "--national-weights file reference/band: a directory; give a CSV"),
    (["--reference", "reference/band/weights.parquet"], "reference/band/weights.parquet: a file; a reference is a "
                                                         "directory (give reference/band)"),
])
def test_a_directory_for_a_file_and_a_file_for_a_directory_are_said(tmp_path, capsys, extra, says):
    out = tmp_path / "out"
    assert main(["areas", "--areas", "AL", "--out", str(out), *extra]) == 2
    assert says in capsys.readouterr().err and not out.exists()
