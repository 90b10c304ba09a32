"""Area recipes and target files in TMD's formats (goldstar.areas.spec, recipe, sharing,
target_files): every code and bin edge, the 77-target recipe against targets recorded from the
code before the format changed, target files round trip, and `--targets-dir` solves."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goldstar.areas.recipe import RECIPES, cell_matrix, read_recipe, resolve_recipe
from goldstar.areas.sharing import read_sharing, soi_stubs
from goldstar.areas.spec import Cell, parse_name
from goldstar.areas.target_files import read_target_dir, read_target_file, target_file_text
from goldstar.exceptions import InputError
from tests import areas_helpers
from tests.areas_helpers import small_records

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "goldstar77_targets.parquet"
HEADER = "varname,count,scope,fstatus,agilo,agihi,description\n"


def recipe_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "spec.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_every_code_and_bin_edge_parses(tmp_path):
    path = recipe_file(
        tmp_path,
        "XTOT,0,0,0,-9e99,9e99,population",
        "c00100,1,1,0,-9e+99,1.0,",
        "c00100,0,2,5,  -50000, 0 ,negative AGI bin",
        "e00200,2,1,4,1e6,9e99,",
        "e00200,3,0,3,10000,25000,",
        "e00900,4,1,0,-inf,inf,open ends read as TMD's",
    )
    cells = read_recipe(path)
    assert [c.count for c in cells] == [0, 1, 0, 2, 3, 4]
    assert [c.scope for c in cells] == [0, 1, 2, 1, 0, 1]
    assert [c.fstatus for c in cells] == [0, 0, 5, 4, 3, 0]
    assert cells[0].is_population and not cells[1].is_population
    assert (cells[2].agilo, cells[2].agihi) == (-50000.0, 0.0)
    assert (cells[5].agilo, cells[5].agihi) == (-9e99, 9e99)
    assert cells[1].name == "c00100/cnt=1/scope=1/agi=[-9e+99,1.0)/fs=0"
    # a hand-typed label names the same cell as goldstar's spelling
    assert parse_name("e00200/cnt=2/scope=1/agi=[1e6,9e99)/fs=4") == cells[3].key


@pytest.mark.parametrize("row,message", [
    ("c00100,5,1,0,-9e99,9e99,", "line 2, column `count`: '5' is not one of the codes"),
    ("c00100,1.5,1,0,-9e99,9e99,", "line 2, column `count`: '1.5' is not one of the codes"),
    ("c00100,0,3,0,-9e99,9e99,", "line 2, column `scope`: '3' is not one of the codes"),
    ("c00100,0,1,6,-9e99,9e99,", "line 2, column `fstatus`: '6' is not one of the codes"),
    ("c00100,0,1,0,100,100,", "line 2: the AGI bin [100.0, 100.0) is empty"),
    ("c00100,0,1,0,200,100,", "line 2: the AGI bin [200.0, 100.0) is empty"),
    ("c00100,0,1,0,abc,100,", "line 2, column `agilo`: 'abc' is not a number"),
    ("2bad,0,1,0,-9e99,9e99,", "line 2, column `varname`: '2bad' is not a variable name"),
    ("XTOT,1,0,0,-9e99,9e99,", "line 2: XTOT is the population"),
])
def test_a_bad_spec_row_names_its_line_and_column(tmp_path, row, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_recipe(recipe_file(tmp_path, row))


def test_a_repeated_cell_is_refused_by_line(tmp_path):
    with pytest.raises(InputError, match=r"line 3: c00100/cnt=0.* is the cell of line 2 again"):
        read_recipe(recipe_file(tmp_path, "c00100,0,1,0,-9e99,1,a", "c00100,0,1,0,-9e+99,1.0,b"))


def test_shipped_recipes_and_their_sharing_rows():
    sharing = read_sharing()
    sizes = {"goldstar-77": 77, "goldstar-69": 69, "tmd-states": 175, "tmd-districts": 107}
    for name, size in sizes.items():
        cells = read_recipe(resolve_recipe(name))
        assert len(cells) == size
        for cell in cells:
            assert sharing.columns(cell, name)  # every cell has its SOI column(s)
            soi_stubs(cell, name)  # and its bin falls on SOI stub edges
    states = read_recipe(RECIPES["tmd-states"])
    assert states[0].is_population
    assert {c.varname for c in states} >= {"c18300", "c19200", "c19700", "eitc", "ctc_total", "capgains_net"}
    ctc = next(c for c in states if c.varname == "ctc_total" and c.count == 0)
    assert sharing.columns(ctc, "") == ("A07225", "A11070")
    top = next(c for c in read_recipe(RECIPES["tmd-districts"]) if c.agilo == 500000.0)
    assert soi_stubs(top, "") == (9, 10)  # the district spec's top bin is the state table's stubs 9 and 10


def test_goldstar_69_is_goldstar_77_less_the_additive_states_conflicts():
    """The eight cells docs/additive.md names as the additive coupling's conflicts on the states:
    the returns of AGI $50K-$75K; single, joint and head-of-household returns of $75K-$100K and
    $100K-$200K; returns with wages of AGI under $1. Otherwise the same cells in the same order."""
    full = [c.name for c in read_recipe(RECIPES["goldstar-77"])]
    less = [c.name for c in read_recipe(RECIPES["goldstar-69"])]
    gone = [name for name in full if name not in less]
    assert [name for name in full if name in less] == less
    assert gone == ["c00100/cnt=1/scope=1/agi=[50000.0,75000.0)/fs=0"] + [
        f"c00100/cnt=1/scope=1/agi=[{lo},{hi})/fs={fs}" for fs in (1, 2, 4)
        for lo, hi in (("75000.0", "100000.0"), ("100000.0", "200000.0"))] + [
        "e00200/cnt=3/scope=1/agi=[-9e+99,1.0)/fs=0"]


def test_a_bin_off_the_soi_stub_edges_is_refused():
    with pytest.raises(InputError, match="does not fall on the SOI table's AGI stub edges"):
        soi_stubs(Cell("c00100", 0, 1, 0, 1.0, 15000.0), "here")


def test_a_recipe_name_or_a_path(tmp_path):
    assert resolve_recipe("tmd-states") == RECIPES["tmd-states"]
    path = recipe_file(tmp_path, "c00100,0,1,0,-9e99,9e99,")
    assert resolve_recipe(str(path)) == path
    with pytest.raises(InputError, match="not a shipped recipe"):
        resolve_recipe("tmd-county")


def test_the_77_target_recipe_gives_the_recorded_targets_to_the_last_bit():
    """The fixture was recorded by the code before recipes took TMD's format (tests/fixtures)."""
    from goldstar.areas.inputs import NationalWeights, load_national, read_soi_states
    from goldstar.areas.sharing import read_sharing
    from goldstar.areas.targets import make_areas
    from goldstar.defaults import DEFAULT_RECORDS, DEFAULT_SOI_STATES
    from goldstar.inputs.cps import cps_to_soi
    from goldstar.store.tables import read_table

    table = cps_to_soi(read_table(DEFAULT_RECORDS, "CPS"))
    weights = NationalWeights(table["record_id"].to_numpy(), table["weight"].to_numpy(),
                              {"kind": "file", "file": str(DEFAULT_RECORDS), "directory": "", "weights_hash": ""})
    sharing = read_sharing()
    soi = read_soi_states(DEFAULT_SOI_STATES, sharing.all_columns())
    national = load_national(weights, None, RECIPES["goldstar-77"])
    fixture = pd.read_parquet(FIXTURE)
    got_area, got_target, got_share = [], [], []
    for text in ("states", "AL01-SYN,AL02-SYN,AL03-SYN,AL04-SYN,AL05-SYN,AL06-SYN,AL07-SYN,DC00-SYN,WY00-SYN,"
                 "NY26-SYN", "synthetic:60"):
        for area in make_areas(text, soi, national, sharing):
            got_area += [area.name] * len(national.cells)
            got_target += list(area.targets)
            got_share += [area.pop_share] * len(national.cells)
    assert got_area == list(fixture["area"])
    assert np.array_equal(np.array(got_target), fixture["target"].to_numpy())  # bit for bit
    assert np.array_equal(np.array(got_share), fixture["pop_share"].to_numpy())


def test_count_codes_and_scopes_in_the_cell_matrix():
    records = pd.DataFrame({
        "c00100": [-5.0, 5e3, 5e4, 2e6], "MARS": [1, 2, 4, 5], "data_source": [1, 1, 0, 1],
        "e00900": [-3.0, 0.0, 7.0, 2.0],
    })
    cells = [Cell("e00900", k, 0, 0, -9e99, 9e99) for k in range(5)]
    cells += [Cell("c00100", 1, 1, 0, -9e99, 9e99), Cell("c00100", 1, 2, 0, -9e99, 9e99),
              Cell("c00100", 1, 0, 5, 1e6, 9e99), Cell("e00900", 0, 0, 0, -9e99, 1.0)]
    A = cell_matrix(records, cells).toarray()
    np.testing.assert_array_equal(A[:, 0], [-3, 0, 7, 2])  # amount
    np.testing.assert_array_equal(A[:, 1], [1, 1, 1, 1])  # all returns
    np.testing.assert_array_equal(A[:, 2], [1, 0, 1, 1])  # nonzero
    np.testing.assert_array_equal(A[:, 3], [0, 0, 1, 1])  # positive
    np.testing.assert_array_equal(A[:, 4], [1, 0, 0, 0])  # negative
    np.testing.assert_array_equal(A[:, 5], [1, 1, 0, 1])  # scope 1: data_source 1
    np.testing.assert_array_equal(A[:, 6], [0, 0, 1, 0])  # scope 2: the others
    np.testing.assert_array_equal(A[:, 7], [0, 0, 0, 1])  # surviving spouse, AGI $1M and over
    np.testing.assert_array_equal(A[:, 8], [-3, 0, 0, 0])  # AGI below $1


def target_text(rows: list[str]) -> str:
    return "varname,count,scope,agilo,agihi,fstatus,target\n" + "\n".join(rows) + "\n"


def test_tmd_target_files_read_as_written_by_hand(tmp_path):
    path = tmp_path / "xx_targets.csv"
    path.write_text(textwrap.dedent("""\
        # a comment line
        varname,count,scope,agilo,agihi,fstatus,target
        XTOT,       0,    0,-9e99, 9e99,      0,  33e6
        c00100,     1,    1,  1e6, 9e99,      0,  10e3
        # another
        e00200,     0,    1,-9e99, 9e99,      4,1000e9
        """), encoding="utf-8")
    f = read_target_file(path)
    assert f.area == "XX" and f.population == 33e6
    assert [c.fstatus for c in f.cells] == [0, 0, 4]
    np.testing.assert_array_equal(f.targets, [33e6, 10e3, 1000e9])
    assert f.lines == (3, 4, 6)


@pytest.mark.parametrize("rows,message", [
    (["c00100,0,1,-9e99,9e99,0,1e9"], "line 2: the first target must be the population, XTOT"),
    (["XTOT,0,0,-9e99,9e99,0,1e6", "c00100,7,1,-9e99,9e99,0,5"], "line 3, column `count`"),
    (["XTOT,0,0,-9e99,9e99,0,1e6", "c00100,0,1,5,1,0,5"], "line 3: the AGI bin"),
    (["XTOT,0,0,-9e99,9e99,0,1e6", "c00100,0,1,-9e99,9e99,0,lots"], "line 3, column `target`: 'lots'"),
    (["XTOT,0,0,-9e99,9e99,0,1e6", "c00100,0,1,-9e99,9e99,0"], "line 3: 6 fields, the header has 7"),
])
def test_a_malformed_target_file_names_file_line_and_column(tmp_path, rows, message):
    path = tmp_path / "al_targets.csv"
    path.write_text(target_text(rows), encoding="utf-8")
    with pytest.raises(InputError, match=f"target file {path}: " + message.replace("(", r"\(").replace("[", r"\[")):
        read_target_file(path)


def test_target_files_round_trip_to_the_same_float64(tmp_path):
    rng = np.random.default_rng(3)
    cells = [Cell("XTOT", 0, 0, 0, -9e99, 9e99)] + [Cell("c00100", 0, 1, 0, lo, hi)
                                                       for lo, hi in ((-9e99, 1.0), (1.0, 1e4), (1e4, 9e99))]
    values = np.concatenate([[3.3e7], rng.lognormal(20, 3, 3) * rng.choice([-1, 1], 3)])
    (tmp_path / "zz_targets.csv").write_text(target_file_text(cells, values), encoding="utf-8")
    back = read_target_file(tmp_path / "zz_targets.csv")
    assert np.array_equal(back.targets, values) and [c.key for c in back.cells] == [c.key for c in cells]


def test_files_of_one_batch_must_share_their_cells(tmp_path):
    (tmp_path / "aa_targets.csv").write_text(target_text(["XTOT,0,0,-9e99,9e99,0,1e6",
                                                          "c00100,0,1,-9e99,9e99,0,5e9"]))
    (tmp_path / "bb_targets.csv").write_text(target_text(["XTOT,0,0,-9e99,9e99,0,2e6",
                                                          "e00200,0,1,-9e99,9e99,0,5e9"]))
    with pytest.raises(InputError, match="bb_targets.csv: has e00200/cnt=0"):
        read_target_dir(tmp_path)
    with pytest.raises(InputError, match="no target file for area.*CC"):
        read_target_dir(tmp_path, ["AA", "CC"])


small_files, in_process = areas_helpers.small_files, areas_helpers.in_process  # the shared fixtures
cli = areas_helpers.areas_cli


def test_targets_dir_solves_hand_written_areas_to_certified_weights_in_every_band(tmp_path, small_files,
                                                                                  in_process, capsys):
    records = small_records()
    w = records["weight"].to_numpy()
    population = float(records["XTOT"].to_numpy() @ w)
    agi = records["adjusted_gross_income"].to_numpy()
    filer = records["is_tax_filer"].to_numpy()
    wages = records["employment_income"].to_numpy()
    targets = tmp_path / "targets"
    targets.mkdir()
    for area, share, tilt in (("AA", 0.3, 1.08), ("BB", 0.7, 0.95)):
        # targets x = 1 misses: a tilted share of the national totals
        rows = [f"XTOT,0,0,-9e99,9e99,0,{share * population!r}"]
        for lo, hi in ((-9e99, 5e4), (5e4, 9e99)):
            inside = filer & (agi >= lo) & (agi < hi)
            rows.append(f"c00100,1,1,{lo!r},{hi!r},0,{float(share * tilt * w[inside].sum())!r}")
            rows.append(f"e00200,0,1,{lo!r},{hi!r},0,{float(share / tilt * (wages * w)[inside].sum())!r}")
        (targets / f"{area.lower()}_targets.csv").write_text(target_text(rows), encoding="utf-8")
    out = tmp_path / "out"
    assert cli(small_files, out, "--targets-dir", str(targets)) == 0
    for area in ("AA", "BB"):
        row = json.loads((out / "areas" / f"{area}.json").read_text())
        assert row["status"] == "ok" and row["certified"] and row["dropped"] == []
        assert row["max_band_violation_widths"] <= 1e-6  # every band met (band.md: the band widths scale)
        assert row["kept"] == 5 == row["targets"]
        # the targets it wrote are the targets it read, to the last bit
        back = read_target_file(out / "targets" / f"{area.lower()}_targets.csv")
        np.testing.assert_array_equal(back.targets, read_target_file(targets / f"{area.lower()}_targets.csv").targets)


@pytest.mark.parametrize("args,message", [
    (["--targets-dir", "NOPE"], "--targets-dir NOPE: not a directory"),
    (["--areas", "AL", "--recipe", "tmd-states"], "the records lack variable(s) e01500, e02400, c18300"),
    (["--areas", "AL", "--recipe", "no-such-recipe"], "not a shipped recipe"),
])
def test_bad_inputs_exit_2_by_name(tmp_path, small_files, capsys, args, message):
    assert cli(small_files, tmp_path / "out", *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("rows,message", [
    (["c00100,0,1,-9e99,9e99,0,1e9"], "line 2: the first target must be the population, XTOT"),
    (["XTOT,0,0,-9e99,9e99,0,1e6", "c00100,9,1,-9e99,9e99,0,5"], "line 3, column `count`"),
    (["XTOT,0,0,-9e99,9e99,0,1e6", "c00100,0,1,7,7,0,5"], "line 3: the AGI bin [7.0, 7.0) is empty"),
    (["XTOT,0,0,-9e99,9e99,0,1e6", "e99999,0,1,-9e99,9e99,0,5"], "the records lack variable(s) e99999"),
])
def test_a_bad_target_file_exits_2_naming_its_line(tmp_path, small_files, capsys, rows, message):
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "al_targets.csv").write_text(target_text(rows), encoding="utf-8")
    assert cli(small_files, tmp_path / "out", "--targets-dir", str(targets)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_override_drops_a_target_named_in_tmds_form(tmp_path, small_files, capsys):
    from goldstar.areas.overrides import read_overrides
    from goldstar.areas.problem import AreaSettings, run_area, settings_for
    from goldstar.areas.targets import make_areas
    from goldstar.areas.inputs import read_soi_states

    overrides = tmp_path / "overrides.csv"
    overrides.write_text('area,eps,upper,targets,slack_penalty,note,drop\n'
                         'AL,,,,,,"c00100/cnt=0/scope=1/agi=[1e6,9e99)/fs=0; e00200/cnt=3/scope=1/agi=[1,1e4)/fs=0"\n',
                         encoding="utf-8")
    national = areas_helpers.small_national()
    table = read_overrides(overrides, areas={"AL", "CA"}, targets=list(national.cell_names))
    al, ca = make_areas("AL,CA", read_soi_states(), national)
    dropped = ("c00100/cnt=0/scope=1/agi=[1000000.0,9e+99)/fs=0", "e00200/cnt=3/scope=1/agi=[1.0,10000.0)/fs=0")
    assert settings_for(al, AreaSettings(), table).drop_targets == dropped
    assert settings_for(ca, AreaSettings(), table).drop_targets == ()
    row = run_area(national, al, settings_for(al, AreaSettings(), table), "h")
    assert row["status"] == "ok" and row["certified"]
    assert [d["name"] for d in row["dropped"] if d["reason"] == "override"] == list(dropped)
    assert all(row["y"][name] is None for name in dropped)  # solved without them: no dual
    overrides.write_text('area,eps,upper,targets,slack_penalty,note,drop\nAL,,,,,,"c00100/cnt=0/scope=1/agi=[7,9e99)/fs=0"\n')
    assert cli(small_files, tmp_path / "out2", "--areas", "AL", "--overrides", str(overrides)) == 2
    assert ("row 2, `drop`: 'c00100/cnt=0/scope=1/agi=[7,9e99)/fs=0' is not a target of the recipe"
            in capsys.readouterr().err)


def test_an_unquoted_comma_in_an_overrides_row_is_named(tmp_path, small_files, capsys):
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("area,eps,upper,targets,slack_penalty,note,drop\n"
                         "AL,,,,,,c00100/cnt=0/scope=1/agi=[1e6,9e99)/fs=0\n", encoding="utf-8")
    assert cli(small_files, tmp_path / "out", "--areas", "AL", "--overrides", str(overrides)) == 2
    assert "row 2: 8 fields, the header has 7" in capsys.readouterr().err
