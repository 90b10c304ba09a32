"""Slack-penalty rules (goldstar.areas.penalties): which cells TMD's district pricing reaches on
the shipped recipes, that the rule's M reaches each area's band objective under the overrides,
that it changes the optimum as the band objective says it must, and that batches, references
and the Python API carry it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import goldstar
from goldstar.areas.penalties import REDUCED_PENALTY, RULES, rule_penalties
from goldstar.areas.overrides import read_overrides
from goldstar.areas.problem import AreaSettings, build_area_problem, settings_for
from goldstar.areas.recipe import RECIPES, read_recipe
from goldstar.areas.spec import Cell
from goldstar.exceptions import InputError
from goldstar.problem.objectives.band import BandForm
from tests import areas_helpers
from tests.areas_helpers import in_process, small_files, small_records  # noqa: F401 (fixtures)

pytest.importorskip("dask.distributed")

cli = areas_helpers.areas_cli


def cell(varname: str, count: int, fstatus: int, agihi: float) -> Cell:
    return Cell(varname, count, 1, fstatus, -9e99, agihi)


@pytest.mark.parametrize("c,noisy", [
    (cell("e02400", 0, 0, 25000.0), True),  # the $25,000 edge is in
    (cell("e02400", 0, 0, 50000.0), False),
    (cell("e00300", 0, 0, 1.0), True),
    (cell("e26270", 0, 0, 10000.0), True),
    (cell("e00200", 0, 0, 1.0), False),  # wages: not one of the noisy amounts
    (cell("e02400", 2, 0, 1.0), False),  # a count of the noisy variable, not its amount
    (cell("c00100", 1, 1, 10000.0), True),  # the $10,000 edge is in
    (cell("c00100", 1, 4, 1.0), True),
    (cell("c00100", 1, 1, 25000.0), False),
    (cell("c00100", 1, 0, 1.0), False),  # all filing statuses together
    (cell("c00100", 3, 1, 1.0), False),  # a count of positive values, not of returns
])
def test_the_tmd_rule_picks_tmds_noisy_cells(c, noisy):
    assert RULES["tmd"](c) is noisy
    assert RULES["uniform"](c) is False


def test_the_cells_it_reaches_on_the_shipped_recipes():
    """tmd-districts: the e00300 amounts of the three stubs under $25K, e02400's two above $1
    (the spec has none under $1) and e26270's three; no filing-status count under $10K."""
    names = {name: [n for n, _ in rule_penalties("tmd", read_recipe(path))] for name, path in RECIPES.items()}
    assert {name: len(found) for name, found in names.items()} == {
        "goldstar-77": 6, "goldstar-69": 6, "tmd-states": 15, "tmd-districts": 8}
    agi = ("[-9e+99,1.0)", "[1.0,10000.0)", "[10000.0,25000.0)")
    assert names["tmd-districts"] == sorted(
        [f"e00300/cnt=0/scope=1/agi={a}/fs=0" for a in agi] + [f"e02400/cnt=0/scope=1/agi={a}/fs=0" for a in agi[1:]]
        + [f"e26270/cnt=0/scope=1/agi={a}/fs=0" for a in agi])
    assert all(m == REDUCED_PENALTY for _, m in rule_penalties("tmd", read_recipe(RECIPES["tmd-states"])))
    assert rule_penalties("uniform", read_recipe(RECIPES["tmd-states"])) == ()
    with pytest.raises(InputError, match="slack-penalty rule 'TMD' is not one of uniform, tmd"):
        rule_penalties("TMD", [])


def test_the_rules_m_reaches_the_band_objective_and_an_override_wins(tmp_path):
    from goldstar.areas.inputs import read_soi_states
    from goldstar.areas.targets import make_areas

    national = areas_helpers.small_national()
    (al,) = make_areas("AL", read_soi_states(), national)
    noisy = dict(rule_penalties("tmd", national.cells))
    assert len(noisy) == 6  # goldstar-77's filing-status counts under $10K
    overridden = sorted(noisy)[0]
    overrides = tmp_path / "overrides.csv"
    overrides.write_text(f'area,eps,upper,targets,slack_penalty,note\nAL,,,"{overridden}",5e4,\n', encoding="utf-8")
    table = read_overrides(overrides, areas={"AL"}, targets=list(national.cell_names))
    base = AreaSettings(slack_penalty=2e6, slack_penalty_by_target=tuple(noisy.items()))
    form = BandForm(*(lambda p: (p[0], p[0].objective))(build_area_problem(national, al, settings_for(al, base, table))))
    expected = {name: 5e4 if name == overridden else REDUCED_PENALTY if name in noisy else 2e6 for name in form.names}
    assert dict(zip(form.names, form.M)) == expected
    assert form.rho[form.names.index(overridden)] == 5e4 * form.ts[form.names.index(overridden)] ** 2


def tilted_targets(directory: Path, tilt: float) -> Path:
    """One area, a third of the nation: its population, its returns, its wages, and its single
    returns of AGI under $1 (a cell the tmd rule prices at 1e3) `tilt` times their share."""
    r = small_records()
    w = r["weight"].to_numpy()
    filer = r["is_tax_filer"].to_numpy()
    low_single = filer & (r["filing_status"] == "SINGLE").to_numpy() & (r["adjusted_gross_income"].to_numpy() < 1)
    share = 0.3
    rows = [("XTOT,0,0,-9e99,9e99,0", r["XTOT"].to_numpy() @ w), ("c00100,1,1,-9e99,9e99,0", w[filer].sum()),
            ("c00100,1,1,-9e99,1,1", tilt * w[low_single].sum()),
            ("e00200,0,1,-9e99,9e99,0", (r["employment_income"].to_numpy() * w)[filer].sum())]
    targets = directory / "targets"
    targets.mkdir()
    (targets / "aa_targets.csv").write_text("varname,count,scope,agilo,agihi,fstatus,target\n" + "".join(
        f"{cells},{float(share * value)!r}\n" for cells, value in rows), encoding="utf-8")
    return targets


def test_a_cell_priced_a_thousand_times_lower_gives_way_a_thousand_times_further(tmp_path, small_files, in_process,
                                                                                  capsys):
    """In relative slack units a band's miss at the optimum is s_j = y_j / (2 M_j) (band.md): the
    noisy cell, tilted 30% off its share, misses its band by about 1e-3 of a width at M = 1e6 and
    by about one width at the rule's 1e3. M falls 1000-fold; y_j, the deviation's marginal price of
    the band, can only fall as the band gives way, so the miss grows at most 1000-fold, and, the
    deviation falling by a tenth here, by more than 100-fold. Both answers certified; the rule is
    in the batch's recorded settings and the input hash."""
    targets = tilted_targets(tmp_path, 1.3)
    rows = {}
    for rule in ("uniform", "tmd"):
        out = tmp_path / rule
        assert cli(small_files, out, "--targets-dir", str(targets), "--slack-units", "relative",
                   "--slack-penalty-rule", rule) == 0
        rows[rule] = json.loads((out / "areas" / "AA.json").read_text())
        assert rows[rule]["status"] == "ok" and rows[rule]["certified"]
        assert json.loads((out / "AREAS.json").read_text())["settings"]["slack_penalty_rule"] == rule
    uniform, tmd = rows["uniform"], rows["tmd"]
    assert uniform["max_band_violation_widths"] < 0.01
    grew = tmd["max_band_violation_widths"] / uniform["max_band_violation_widths"]
    assert 100 < grew <= 1000 * (1 + 1e-9)
    assert tmd["deviation"] < uniform["deviation"]
    assert tmd["input_hash"] != uniform["input_hash"]
    # scripts/compare_joint.py --separate: the two optima apart, each batch from itself not at all
    compare = areas_helpers.load_script("compare_joint")
    assert compare.main(["--separate", str(tmp_path / "tmd"), str(tmp_path / "uniform")]) == 0
    apart = float(capsys.readouterr().out.split("multipliers within ")[1].split()[0])
    assert apart > 1e-3  # a 30% tilt let go by about one band width moves multipliers visibly
    assert compare.main(["--separate", str(tmp_path / "tmd"), str(tmp_path / "tmd")]) == 0
    assert "multipliers within 0 of" in capsys.readouterr().out
    assert compare.main([str(tmp_path / "tmd"), str(tmp_path / "uniform")]) == 2  # no joint solve there
    assert "no joint solve" in capsys.readouterr().err


def test_a_batch_refuses_to_resume_under_another_rule(tmp_path, small_files, in_process, capsys):
    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "WY") == 0
    before = (out / "areas" / "WY.json").read_bytes()
    assert cli(small_files, out, "--areas", "WY", "--slack-penalty-rule", "tmd") == 2
    assert "holds a batch made with other settings: slack_penalty_rule 'uniform' there, 'tmd' now" in (
        capsys.readouterr().err)
    assert (out / "areas" / "WY.json").read_bytes() == before
    assert cli(small_files, out, "--areas", "WY") == 0  # the same rule: resumes, WY already done
    assert (out / "areas" / "WY.json").read_bytes() == before


def test_bad_rules_are_refused_by_name(small_files, tmp_path, capsys):
    assert cli(small_files, tmp_path / "out", "--areas", "WY", "--slack-penalty-rule", "district") == 2
    assert "invalid choice: 'district'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    records = small_records()
    with pytest.raises(InputError, match="reweight_areas: `slack_penalty_rule` must be one of uniform, tmd"):
        goldstar.reweight_areas(records, records[["record_id", "weight"]], areas=["WY"], slack_penalty_rule="TMD")


def test_reweight_areas_takes_the_rule_and_gives_the_commands_weights(small_files, tmp_path, in_process):
    import pandas as pd
    from dask.distributed import Client, LocalCluster

    records = small_records()
    targets = tilted_targets(tmp_path, 1.3)
    with Client(LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")) as client:
        result = goldstar.reweight_areas(records, records[["record_id", "weight"]], targets, client=client,
                                         slack_units="relative", slack_penalty_rule="tmd")
    assert result["AA"].certified
    assert cli(small_files, tmp_path / "out", "--targets-dir", str(targets), "--slack-units", "relative",
               "--slack-penalty-rule", "tmd") == 0
    m = pd.read_parquet(tmp_path / "out" / "m" / "AA.parquet")["m"].to_numpy()
    assert np.array_equal(m, result["AA"].multipliers.to_numpy())  # bit for bit


def test_compare_matches_records_by_id_and_refuses_other_records(tmp_path):
    """scripts/compare_joint.py lines the second batch's records up with the first's by record_id
    (every m file follows its batch's records.parquet), and refuses batches of other records."""
    from goldstar.areas.output import write_records
    from goldstar.exceptions import InputError as Refused

    compare = areas_helpers.load_script("compare_joint")
    for name, ids in (("a", [5, 1, 9, 3]), ("b", [9, 3, 5, 1]), ("c", [5, 1, 9, 4])):
        (tmp_path / name).mkdir()
        write_records(tmp_path / name, np.array(ids), np.ones(4))
    at = compare.same_records(tmp_path / "a", tmp_path / "b")
    np.testing.assert_array_equal(np.array([9, 3, 5, 1])[at], [5, 1, 9, 3])
    with pytest.raises(Refused, match="hold other records"):
        compare.same_records(tmp_path / "a", tmp_path / "c")
