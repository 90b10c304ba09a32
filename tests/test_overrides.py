"""The overrides files (goldstar.areas.overrides): TMD's solver-overrides YAML read as TMD reads it
(its own districts' file, every entry), applied to a batch as goldstar's CSV is, and refused by
name when malformed; the CSV's optional columns."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from goldstar.areas.overrides import DROPS_BY_PATTERN, read_overrides
from goldstar.areas.problem import AreaSettings, settings_for
from goldstar.areas.recipe import RECIPES, read_recipe
from goldstar.exceptions import InputError
from tests import areas_helpers
from tests.areas_helpers import in_process, small_files, small_records  # noqa: F401 (fixtures)

pytest.importorskip("dask.distributed")
yaml = pytest.importorskip("yaml")

TMD_FILE = Path(__file__).parent / "fixtures" / "tmd_cd_solver_overrides.yaml"
DISTRICT_TARGETS = [c.name for c in read_recipe(RECIPES["tmd-districts"])]


def test_tmds_district_overrides_read_entry_by_entry():
    """Every one of TMD's 99 district entries over its 107-cell district spec: each drop_targets
    entry is a whole label there and names one cell; the caps and tolerances it raises are its
    own, the others' come from _defaults (50, 0.005); a district without an entry gets those."""
    data = yaml.safe_load(TMD_FILE.read_text(encoding="utf-8"))
    districts = {key.upper(): entry for key, entry in data.items() if key != "_defaults"}
    assert len(districts) == 99
    table = read_overrides(TMD_FILE, areas=set(districts) | {"AK00"}, targets=DISTRICT_TARGETS).set_index("area")
    assert table.attrs[DROPS_BY_PATTERN]
    for area, entry in districts.items():
        row = table.loc[area]
        assert row["drop"].split(";") == [n for n in DISTRICT_TARGETS if n in entry.get("drop_targets", [])]
        assert len(entry.get("drop_targets", [])) == len([x for x in row["drop"].split(";") if x])
        assert float(row["upper"]) == entry.get("multiplier_max", 50.0)
        assert float(row["eps"]) == entry.get("constraint_tol", 0.005)
    assert collections.Counter(table["upper"]) == {"50.0": 77, "100.0": 23}
    assert collections.Counter(table["eps"]) == {"0.005": 81, "0.01": 19}
    assert table.loc["AK00", "drop"] == "" and table.loc["AK00", "upper"] == "50.0"
    assert (table[["targets", "slack_penalty", "lower", "area_slack_penalty"]] == "").all().all()


def write(tmp_path: Path, text: str, name: str = "overrides.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_pattern_drops_every_target_it_is_part_of_and_an_entry_lies_over_the_defaults(tmp_path):
    path = write(tmp_path, "_defaults:\n  multiplier_max: 30\n  slack_penalty: 2.0e+6\n"
                           "ny12:\n  constraint_tol: 0.02\n  multiplier_min: 0\n  max_iter: 9\n"
                           "  drop_targets: ['e00300/cnt=0', 'fs=0']\n")
    table = read_overrides(path, areas={"NY12", "NY13"}, targets=DISTRICT_TARGETS).set_index("area")
    ny12 = settings_for(_spec("NY12"), AreaSettings(), table.reset_index())
    assert (ny12.eps, ny12.upper, ny12.lower, ny12.slack_penalty) == (0.02, 30.0, 0.0, 2e6)
    assert ny12.drop_targets == tuple(sorted(n for n in DISTRICT_TARGETS if "e00300/cnt=0" in n or "fs=0" in n))
    assert len(ny12.drop_targets) < len(DISTRICT_TARGETS)  # the cells by filing status are kept
    ny13 = settings_for(_spec("NY13"), AreaSettings(), table.reset_index())
    assert (ny13.eps, ny13.upper, ny13.lower, ny13.slack_penalty, ny13.drop_targets) == (0.005, 30.0, 0.0, 2e6, ())
    only_interest = write(tmp_path, "ny12:\n  drop_targets: ['e00300/cnt=0']\n", "interest.yaml")
    drops = read_overrides(only_interest, areas={"NY12"}, targets=DISTRICT_TARGETS)["drop"].iloc[0].split(";")
    assert drops == [n for n in DISTRICT_TARGETS if n.startswith("e00300/cnt=0/")] and len(drops) == 9


def _spec(name: str):
    from goldstar.areas.targets import AreaSpec
    import numpy as np

    return AreaSpec(name, "district", name[:2], 0.01, np.ones(1), np.ones(1), False)


@pytest.mark.parametrize("text, says", [
    ("al01: [1, 2\n", "not YAML"),
    ("- al01\n", "must hold a mapping of `_defaults` and area codes, found list"),
    ("alabama:\n  multiplier_max: 30\n", "'alabama' is neither `_defaults` nor an area code"),
    ("al01:\n  multiplier_maxx: 30\n", "al01: 'multiplier_maxx' is not one of constraint_tol"),
    ("al01: 30\n", "al01: must be a mapping of settings, found int"),
    ("al01:\n  multiplier_max: lots\n", "al01, `multiplier_max`: 'lots' is not a number"),
    ("al01:\n  constraint_tol: true\n", "al01, `constraint_tol`: True is not a number"),
    ("al01:\n  constraint_tol: -0.01\n", "al01, `constraint_tol`: -0.01 is not a positive number"),
    ("al01:\n  multiplier_min: -1\n", "al01, `multiplier_min`: -1 is not a number >= 0"),
    ("_defaults:\n  slack_penalty: .inf\n", "_defaults, `slack_penalty`: inf is not a positive number"),
    ("al01:\n  target_ratio_tolerance: 0.02\n", "al01: 'target_ratio_tolerance' is not one of"),  # params only
    ("al01:\n  slack_penalty: 1e6\n", "'1e6' is not a number (YAML reads 1e6 as text: write 1.0e+6)"),
    ("al01:\n  max_iter: lots\n", "al01, `max_iter`: 'lots' is not a whole number >= 1"),
    ("al01:\n  max_iter: 0\n", "al01, `max_iter`: 0 is not a whole number >= 1"),
    ("al01:\n  drop_targets: eitc\n", "al01, `drop_targets`: must be a list of target names"),
    ("al01:\n  drop_targets: ['eitc/cnt=9']\n", "al01, `drop_targets`: 'eitc/cnt=9' matches none of the recipe's"),
    ("al01: {}\nAL01: {}\n", "area 'AL01' appears twice (as al01)"),
    ("al01: {}\nal01: {}\n", "key 'al01' given twice"),
    ("_defaults:\n  multiplier_max: 30\n  multiplier_max: 40\n", "key 'multiplier_max' given twice"),
    ("al01:\n  multiplier_min: 0.5\n", "al01, `multiplier_min`: 0.5: an area's multiplier floor must be 0"),
    ("al01:\n  drop_targets: ['/']\n", "al01, `drop_targets`: drops every target of the recipe"),
])
def test_a_malformed_yaml_file_is_named_with_the_area_and_key(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=r"overrides file .*overrides\.yaml") as raised:
        read_overrides(path, areas={"AL01"}, targets=DISTRICT_TARGETS)
    assert says in str(raised.value)


def test_the_csvs_optional_columns_set_the_areas_m_and_no_others_are_taken(tmp_path):
    path = write(tmp_path, "area,eps,upper,targets,slack_penalty,note,lower,area_slack_penalty\n"
                           "NY12,,,,,,0,3e6\n", "overrides.csv")
    table = read_overrides(path, areas={"NY12"}, targets=DISTRICT_TARGETS)
    s = settings_for(_spec("NY12"), AreaSettings(), table)
    assert (s.lower, s.slack_penalty, s.upper) == (0.0, 3e6, 50.0)
    for text, says in (("lower\nNY12,,,,,,-1\n", r"row 2, `lower`: '-1' is not a number >= 0"),
                       ("LOWER\nNY12,,,,,,0.5\n", r"column\(s\) 'LOWER' are not overrides columns"),
                       ('drop\nNY12,,,,,,"' + ";".join(DISTRICT_TARGETS) + '"\n', r"row 2, `drop`: drops every target")):
        bad = write(tmp_path, "area,eps,upper,targets,slack_penalty,note," + text, "bad.csv")
        with pytest.raises(InputError, match=says):
            read_overrides(bad, areas={"NY12"}, targets=DISTRICT_TARGETS)


def target_files(tmp_path: Path) -> Path:
    """Two areas' target files, AA and BB, TMD's form: population, returns, wages, and the wages
    of AGI below -$1M, a cell no record feeds."""
    records = small_records()
    w = records["weight"].to_numpy()
    filer = records["is_tax_filer"].to_numpy()
    wages = records["employment_income"].to_numpy()
    population = float(records["XTOT"].to_numpy() @ w)
    targets = tmp_path / "targets"
    targets.mkdir()
    for area, share in (("aa", 0.3), ("bb", 0.7)):
        rows = [f"XTOT,0,0,-9e99,9e99,0,{share * population!r}",
                f"c00100,1,1,-9e99,9e99,0,{float(share * w[filer].sum())!r}",
                f"e00200,0,1,-9e99,9e99,0,{float(share * (wages * w)[filer].sum())!r}",
                "e00200,0,1,-9e99,-1e6,0,0.0"]
        (targets / f"{area}_targets.csv").write_text("varname,count,scope,agilo,agihi,fstatus,target\n"
                                                     + "\n".join(rows) + "\n", encoding="utf-8")
    return targets


def test_a_batch_of_target_files_takes_tmds_yaml(tmp_path, small_files, in_process, capsys):
    """Two areas from TMD-style target files and a YAML in TMD's form: the defaults' cap for both,
    AA's own tolerance and its drop (reason override); a pattern matching a cell no record feeds
    (AGI below -$1M) is moot. A second run with the file changed is refused (the batch records
    the file's hash); a bad file exits 2 before anything is written."""
    targets = target_files(tmp_path)
    overrides = write(tmp_path, "_defaults:\n  multiplier_max: 30.0\n"
                                "aa:\n  constraint_tol: 0.01\n  max_iter: 50\n"
                                "  drop_targets:\n  - e00200/cnt=0/scope=1/agi=[-9e+99,9e+99)\n"
                                "bb:\n  drop_targets: ['agi=[-9e+99,-1000000.0)']\n")
    out = tmp_path / "out"
    assert areas_helpers.areas_cli(small_files, out, "--targets-dir", str(targets), "--overrides", str(overrides)) == 0
    assert "overrides    2 of 2 areas with settings of their own: AA, BB" in capsys.readouterr().err
    aa, bb = (json.loads((out / "areas" / f"{a}.json").read_text()) for a in ("AA", "BB"))
    assert (aa["eps"], aa["upper"], bb["eps"], bb["upper"]) == (0.01, 30.0, 0.005, 30.0)
    assert [(d["name"], d["reason"]) for d in aa["dropped"]] == [("e00200/cnt=0/scope=1/agi=[-9e+99,9e+99)/fs=0",
                                                                  "override")]
    assert bb["dropped"] == [] and aa["certified"] and bb["certified"]
    recorded = json.loads((out / "AREAS.json").read_text())["settings"]["overrides"]
    overrides.write_text(overrides.read_text() + "  multiplier_max: 40.0\n", encoding="utf-8")
    assert areas_helpers.areas_cli(small_files, out, "--targets-dir", str(targets), "--overrides", str(overrides)) == 2
    assert f"overrides {recorded!r} there" in capsys.readouterr().err
    overrides.write_text("bb:\n  drop_targets: ['no-such-cell']\n", encoding="utf-8")
    fresh = tmp_path / "fresh"
    assert areas_helpers.areas_cli(small_files, fresh, "--targets-dir", str(targets), "--overrides", str(overrides)) == 2
    assert "bb, `drop_targets`: 'no-such-cell' matches none of the recipe's targets" in capsys.readouterr().err
    assert not fresh.exists()


def test_tmds_parameter_files_beside_the_targets_and_the_overrides_over_them(tmp_path, small_files, in_process,
                                                                             capsys):
    """aa_params.yaml sets AA's cap and tolerance (constraint_tol over its older name, as in TMD;
    an output knob, without effect); an overrides file's cap lies over the parameter file's, as in
    TMD; BB has no file. A parameter file with a key TMD's do not take (drop_targets), or a knob
    of the wrong kind, exits 2 naming it, before anything is written."""
    targets = target_files(tmp_path)
    (targets / "aa_params.yaml").write_text("multiplier_max: 20\ntarget_ratio_tolerance: 0.03\nconstraint_tol: 0.02\n"
                                            "dump_all_target_deviations: true\n", encoding="utf-8")
    out = tmp_path / "out"
    assert areas_helpers.areas_cli(small_files, out, "--targets-dir", str(targets)) == 0
    assert "overrides    1 of 2 areas with settings of their own: AA" in capsys.readouterr().err
    aa, bb = (json.loads((out / "areas" / f"{a}.json").read_text()) for a in ("AA", "BB"))
    assert (aa["eps"], aa["upper"], bb["eps"], bb["upper"]) == (0.02, 20.0, 0.005, 50.0)
    overrides = write(tmp_path, "aa:\n  multiplier_max: 30\n")
    out2 = tmp_path / "out2"
    assert areas_helpers.areas_cli(small_files, out2, "--targets-dir", str(targets), "--overrides", str(overrides)) == 0
    aa = json.loads((out2 / "areas" / "AA.json").read_text())
    assert (aa["eps"], aa["upper"]) == (0.02, 30.0)
    out3 = tmp_path / "out3"
    for text, says in (("drop_targets: [c00100]\n", "aa_params.yaml: 'drop_targets' is not one of constraint_tol"),
                       ("iprint: 1.5\n", "aa_params.yaml, `iprint`: 1.5 is not a whole number")):
        (targets / "aa_params.yaml").write_text(text, encoding="utf-8")
        assert areas_helpers.areas_cli(small_files, out3, "--targets-dir", str(targets)) == 2
        assert says in capsys.readouterr().err
        assert not out3.exists()


def test_a_floor_above_0_is_refused_before_any_work(tmp_path, small_files, capsys):
    """An area's box starts at 0 (its pre-pass and the joint problem hold records at x = 0): a
    floor above it exits 2 naming the file and row, before anything is solved or written."""
    path = write(tmp_path, "area,eps,upper,targets,slack_penalty,note,lower\nWY,,,,,,0.1\n", "floor.csv")
    out = tmp_path / "out"
    assert areas_helpers.areas_cli(small_files, out, "--areas", "WY", "--overrides", str(path)) == 2
    assert "floor.csv: row 2, `lower`: 0.1: an area's multiplier floor must be 0" in capsys.readouterr().err
    assert not out.exists()


def test_a_file_that_names_none_of_the_batchs_areas_is_said(tmp_path, small_files, in_process, capsys):
    """TMD's district codes never name the districts goldstar makes from a recipe (WY00-SYN): the
    command says that only the file's defaults apply, and they do."""
    path = write(tmp_path, "_defaults:\n  multiplier_max: 40.0\nwy00:\n  multiplier_max: 60.0\n")
    out = tmp_path / "out"
    assert areas_helpers.areas_cli(small_files, out, "--areas", "districts:WY", "--overrides", str(path)) == 0
    err = capsys.readouterr().err
    assert "names 1 area(s) (e.g. wy00) and none of this batch's, so only its _defaults apply" in err
    assert json.loads((out / "areas" / "WY00-SYN.json").read_text())["upper"] == 40.0
