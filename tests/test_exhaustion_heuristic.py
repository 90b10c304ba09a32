"""The --max-exhaustion heuristic (goldstar.areas.exhaustion) on small national data and real
state shares: what it promises is its passes' bookkeeping, not a cap that holds."""

from __future__ import annotations

import numpy as np
import pytest

from goldstar.areas.exhaustion import exhaustion_heuristic
from goldstar.areas.inputs import read_soi_states
from goldstar.areas.problem import AreaSettings, area_prepass, build_area_problem, settings_for
from goldstar.areas.targets import make_areas
from goldstar.solvers import get_solver
from goldstar.solvers.band_newton import run_capped
from tests.areas_helpers import small_national

AREAS = "AL,CA,NY,TX,WY"


@pytest.fixture(scope="module")
def inputs():
    national = small_national()
    areas = make_areas(AREAS, read_soi_states(), national)
    return national, areas, [settings_for(a, AreaSettings(), None) for a in areas]


@pytest.fixture(scope="module")
def separate(inputs):
    """Each area solved alone (the heuristic's first pass) and the records' sums."""
    national, areas, settings = inputs
    x = np.column_stack([
        run_capped(p, np.full(p.n, s.upper), get_solver("band-newton").defaults).m
        for p, s in ((build_area_problem(national, a, s, area_prepass(national, a, s).names)[0], s)
                     for a, s in zip(areas, settings))])
    shares = np.array([a.pop_share for a in areas])
    return x, x @ (shares / shares.sum())


def test_a_cap_above_every_sum_is_one_pass_of_the_separate_solves(inputs, separate):
    x, sums = separate
    result = exhaustion_heuristic(*inputs, cap=float(sums.max()) * 1.01)
    assert len(result.passes) == 1 and result.held and result.passes[0].above == 0
    assert np.array_equal(result.x, x)


def test_each_pass_bounds_the_records_above_the_cap_and_reports_what_it_reached(inputs, separate):
    x, sums = separate
    cap = float(np.quantile(sums, 0.9))  # a tenth of the records above it after the first pass
    seen = []
    result = exhaustion_heuristic(*inputs, cap=cap, passes=3, progress=seen.append)
    assert seen == result.passes and 1 <= len(result.passes) <= 3
    first = result.passes[0]
    assert first.above == int((sums > cap).sum()) and first.bounded == 0 and first.max_sum == pytest.approx(sums.max())
    assert first.solved == 5
    for before, after in zip(result.passes, result.passes[1:]):
        assert after.bounded == before.above  # every record above the cap was bounded
        assert after.max_sum <= before.max_sum  # no multiplier may grow, so no sum does
    # what the result says of its cap is what its weights do
    assert result.held == bool((result.x @ result.shares).max() <= cap)
    assert result.passes[-1].max_sum == pytest.approx(float((result.x @ result.shares).max()), rel=1e-15)
    # the first pass is the separate solves, every band met; a later solve that does not reach its
    # floor is one whose bounds put a band out of reach (its hard slack penalty pays the miss)
    assert not result.passes[0].unconverged and max(result.passes[0].worst_miss.values()) < 1e-6
    for p in result.passes[1:]:
        assert all(p.worst_miss[area] > 1e-3 for area in p.unconverged)
    assert any(p.unconverged for p in result.passes[1:])  # at this cap some area pays


def test_a_cap_below_one_or_no_pass_is_refused(inputs):
    for cap in (0.9, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="cap"):
            exhaustion_heuristic(*inputs, cap=cap)
    with pytest.raises(ValueError, match="passes"):
        exhaustion_heuristic(*inputs, cap=2.0, passes=0)


@pytest.mark.parametrize("argv, says", [
    (["--cap", "0.5"], "--cap 0.5: must be a finite number of at least 1"),
    (["--cap", "inf"], "--cap inf"),
    (["--passes", "0"], "--passes 0: must be at least 1"),
    (["--area-time-limit", "0"], "--area-time-limit 0"),
    (["--recipe", "nosuch"], "nosuch"),
])
def test_the_script_refuses_bad_arguments_with_exit_2(argv, says, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        script().main([*argv, "--json", str(tmp_path / "e.json"), "--out", str(tmp_path / "B.md")])
    assert exit_.value.code == 2 and says in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_scripts_table_has_a_row_a_pass_and_says_whether_the_cap_held(inputs, separate, tmp_path):
    from dataclasses import asdict

    _, sums = separate
    result = exhaustion_heuristic(*inputs, cap=float(np.quantile(sums, 0.9)), passes=2)
    figures = {"command": "python scripts/exhaustion_heuristic.py --cap 1.5", "areas": AREAS, "recipe": "goldstar-77",
               "cap": result.cap, "held": result.held, "seconds": 1.0, "passes": [asdict(p) for p in result.passes]}
    text = script().markdown(figures)
    assert text.startswith("<!-- exhaustion:start -->") and text.endswith("<!-- exhaustion:end -->")
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(row.split("|")[1]) for row in rows] == [p.number for p in result.passes]
    assert ("The cap holds" if result.held else "The cap does not hold") in text


def script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "exhaustion_heuristic.py"
    spec = importlib.util.spec_from_file_location("exhaustion_heuristic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
