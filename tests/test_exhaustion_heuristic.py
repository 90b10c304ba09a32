"""The --max-exhaustion heuristic (goldstar.areas.exhaustion) on small national data and real
state shares. With no multiplier allowed to grow after the first pass and the records above E
scaled to it, the cap holds after the second pass by construction (to the rounding of a K-term
sum); the tests check that, and that the price is paid in bands."""

from __future__ import annotations

import numpy as np
import pytest

from goldstar.areas.exhaustion import exhaustion_heuristic
from goldstar.areas.inputs import read_soi_states
from goldstar.areas.problem import AreaSettings, kept_area_problem, settings_for
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
        for p, s in ((kept_area_problem(national, a, s), s)
                     for a, s in zip(areas, settings))])
    return x, x @ np.array([a.pop_share for a in areas])


@pytest.fixture(scope="module")
def capped(inputs, separate):
    """The heuristic at the sums' 90th percentile, up to 5 passes, with what it reported."""
    seen = []
    _, sums = separate
    result = exhaustion_heuristic(*inputs, cap=float(np.quantile(sums, 0.9)), passes=5, progress=seen.append)
    return result, seen


def test_a_cap_above_every_sum_is_one_pass_of_the_separate_solves(inputs, separate):
    x, sums = separate
    result = exhaustion_heuristic(*inputs, cap=float(sums.max()) * 1.01)
    assert len(result.passes) == 1 and result.held and result.passes[0].above == 0
    assert np.array_equal(result.x, x)


def test_the_second_pass_brings_every_record_to_the_cap_at_the_cost_of_bands(inputs, separate, capped):
    x, sums = separate
    cap = float(np.quantile(sums, 0.9))  # a tenth of the records above it after the first pass
    result, seen = capped
    # the five states' own shares (summing to ~0.27): the cap counts these states' weights
    assert result.cap == cap and np.array_equal(result.shares, [a.pop_share for a in inputs[1]])
    assert seen == result.passes
    first, second = result.passes[0], result.passes[-1]
    assert first.above == int((sums > cap).sum()) > 0 and first.bounded == 0 and first.solved == 5
    assert first.max_sum == pytest.approx(sums.max(), rel=1e-12)  # the separate solves, to their floor
    # no multiplier grew, and the records above the cap were scaled to it: x_new <= x_sep E / sum
    scale = np.where(sums > cap, cap / sums, 1.0)
    assert np.all(result.x <= x * scale[:, None] * (1 + 1e-15))
    # so the cap holds after the second pass, to the rounding of a 5-term sum, and the loop stops
    assert len(result.passes) == 2 and result.held and second.above == 0
    assert (result.x @ result.shares).max() <= cap * (1 + 20 * np.finfo(float).eps)
    # the first pass is the separate solves, every band met; the bounds put bands out of reach,
    # and a solve short of its floor is one that misses a band (its hard slack penalty pays it)
    assert not first.unconverged and max(first.worst_miss.values()) < 1e-6
    assert second.unconverged and all(second.worst_miss[area] > 1e-3 for area in second.unconverged)


def test_a_cap_below_one_or_no_pass_is_refused(inputs):
    national, areas, settings = inputs
    total = sum(a.pop_share for a in areas)  # x = 1 everywhere must meet the cap
    for cap in (0.99 * total, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=f"cap {cap!r}: must be a finite number of at least {total:.12g}"):
            exhaustion_heuristic(*inputs, cap=cap)
    with pytest.raises(ValueError, match="passes"):
        exhaustion_heuristic(*inputs, cap=2.0, passes=0)
    with pytest.raises(ValueError, match="5 areas and 4 settings"):
        exhaustion_heuristic(national, areas, settings[:4], cap=2.0)
    raised = [settings[0].__class__(lower=0.1)] + settings[1:]
    with pytest.raises(ValueError, match="area AL: lower 0.1"):
        exhaustion_heuristic(national, areas, raised, cap=2.0)
    with pytest.raises(Exception, match="unknown option"):
        exhaustion_heuristic(*inputs, cap=2.0, options={"tolerance": 1e-9})


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


def test_the_scripts_table_has_a_row_a_pass_and_says_whether_the_cap_held(capped):
    from dataclasses import asdict

    result, _ = capped
    assert len(result.passes) == 2
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


def test_the_distance_to_the_exact_optimum_is_read_over_the_records_that_feed_a_cell(inputs, capped, tmp_path):
    import argparse

    national, _, _ = inputs
    result, _ = capped
    feeds = np.diff(national.positive[1].indptr) > 0
    exact = result.x[feeds].copy()
    exact[3, 1] += 0.5  # one record's second area moved
    np.savez(tmp_path / "exact.npz", x=exact, y=np.zeros(1))
    out = script().exact_distance(national, result, tmp_path / "exact.npz", argparse.ArgumentParser())
    assert out["records_moved"] == 1 and out["max_abs"] == pytest.approx(0.5 * result.shares[1], rel=1e-12)
    assert out["records"] == int(feeds.sum()) and out["exact_max_sum"] >= (result.x[feeds] @ result.shares).max()
    np.savez(tmp_path / "other.npz", x=exact[:-1], y=np.zeros(1))
    with pytest.raises(SystemExit):
        script().exact_distance(national, result, tmp_path / "other.npz", argparse.ArgumentParser())


def test_render_only_redraws_the_section_from_the_json_and_leaves_the_rest(tmp_path):
    figures = {"command": "python scripts/exhaustion_heuristic.py", "areas": "states", "recipe": "goldstar-77",
               "cap": 2.0, "held": True, "seconds": 9.0, "exact": None,
               "passes": [{"number": 1, "solved": 51, "seconds": 8.0, "max_sum": 5.74, "p99_sum": 1.07, "above": 44,
                           "bounded": 0, "unconverged": [], "worst_miss": {"ID": 1e-8}}]}
    (tmp_path / "e.json").write_text(__import__("json").dumps(figures))
    (tmp_path / "B.md").write_text("# Benchmarks\n\nkept\n\n<!-- exhaustion:start -->\nSTALE SECTION\n<!-- exhaustion:end -->\n")
    assert script().main(["--render-only", "--json", str(tmp_path / "e.json"), "--out", str(tmp_path / "B.md")]) == 0
    text = (tmp_path / "B.md").read_text()
    assert "kept" in text and "STALE SECTION" not in text and "| 1 | 51 | 8.0 | 5.7400 | 1.0700 | 44 | 0 | 1e-08 (ID) |" in text
    with pytest.raises(SystemExit):
        script().main(["--render-only", "--json", str(tmp_path / "none.json"), "--out", str(tmp_path / "B.md")])


def test_a_json_path_holding_a_users_file_is_refused_and_kept(tmp_path, capsys):
    mine = tmp_path / "mine.json"
    mine.write_text('{"my": "data"}')
    with pytest.raises(SystemExit) as exit_:
        script().main(["--json", str(mine), "--out", str(tmp_path / "B.md")])
    assert exit_.value.code == 2 and "is not this script's output" in capsys.readouterr().err
    assert mine.read_text() == '{"my": "data"}' and not (tmp_path / "B.md").exists()
