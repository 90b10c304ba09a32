"""Bands that the coupling makes unreachable together, read off the cells' totals
(goldstar.areas.joint.aggregate_conflicts), on problems small enough to reason about by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from goldstar.areas.joint import JointProblem, aggregate_conflicts
from goldstar.solvers.additive_core import ADDITIVE, EXHAUSTION, JointData


def problem(targets: np.ndarray, kept: np.ndarray | None = None, mode: str = ADDITIVE, bound: float = 1.0,
            upper: float = 3.0, half_width: float = 0.005, scale: float = 1.0) -> JointProblem:
    """Three areas (shares 0.5, 0.3, 0.2) over four records and two cells: cell c0 holds every
    record once (national total 10), cell c1 the amounts 1, -2, 3, 4 (weighted: a positive part of
1 + 9 + 16 = 26 and a negative part of -4).
    `targets` (3 x 2) are the areas' band centres; each band is centre +- half_width |centre|;
    `scale` multiplies the weights and the targets alike."""
    A = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, -2.0], [1.0, 3.0], [1.0, 4.0]]))
    w = np.array([1.0, 2.0, 3.0, 4.0]) * scale
    targets = targets * scale
    kept = np.ones((3, 2), dtype=bool) if kept is None else kept
    ts = np.maximum(abs(targets), 1.0)
    data = JointData(A=A, absA=abs(A), w=w, shares=np.array([0.5, 0.3, 0.2]), upper=np.full(3, upper),
                     kept=kept, ts=ts, mode=mode, bound=bound)
    lo, hi = (targets - half_width * abs(targets)) / ts, (targets + half_width * abs(targets)) / ts
    names = [f"{a}:{c}" for a in "XYZ" for c, k in zip(("c0", "c1"), kept[" XYZ".index(a) - 1]) if k]
    return JointProblem(data=data, l=lo[kept], u=hi[kept], stages=[np.full(data.N, 1e4)],
                        record_ids=np.arange(4), areas=["X", "Y", "Z"], targets=names, cells=["c0", "c1"],
                        input_hashes=["h"] * 3)


# c0's national total is 1 + 2 + 3 + 4 = 10; c1's is 1 - 4 + 9 + 16 = 22
SHARED = np.array([[5.0, 11.0], [3.0, 6.6], [2.0, 4.4]])


def test_bands_that_add_up_to_the_national_totals_have_no_conflict():
    assert aggregate_conflicts(problem(SHARED)) == []


def test_additive_bands_that_add_up_above_the_national_total_are_named():
    # every band of c0 1% above its share of 10: the lower ends add up to 10.1 x 0.995 > 10
    out = aggregate_conflicts(problem(SHARED * np.array([[1.01, 1.0]])))
    assert len(out) == 1 and out[0].startswith("c0: the bands of its 3 areas add up to [10.0495, 10.1505]")
    assert "the coupled records reach [10, 10]" in out[0]
    # and below: c1's upper ends add up to 21.78 x 1.005 < 22
    out = aggregate_conflicts(problem(SHARED * np.array([[1.0, 0.99]])))
    assert len(out) == 1 and out[0].startswith("c1:")


def test_under_a_cap_only_bands_above_the_cap_conflict():
    over = SHARED * np.array([[1.5, 1.0]])  # c0 wants 15 of a national 10
    assert aggregate_conflicts(problem(over, mode=EXHAUSTION, bound=2.0)) == []
    out = aggregate_conflicts(problem(over, mode=EXHAUSTION, bound=1.4))
    # reachable: theta in [0, 1.4] for every record, so c0 reaches [0, 14]
    assert len(out) == 1 and "the coupled records reach [0, 14]" in out[0]
    # c1 reaches from 0 x 26 + 1.4 x (-4) to 1.4 x 26 + 0 x (-4); bands around -22 are below that
    low = SHARED * np.array([[1.0, -1.0]])
    out = aggregate_conflicts(problem(low, mode=EXHAUSTION, bound=1.4))
    assert len(out) == 1 and out[0].startswith("c1:") and "the coupled records reach [-5.6, 36.4]" in out[0]


def test_a_cell_some_areas_drop_is_bounded_by_what_the_others_can_take():
    kept = np.array([[True, True], [True, True], [True, False]])  # Z drops c1
    # theta = s_X x_X + s_Y x_Y = 1 - 0.2 x_Z in [1 - 0.2 x 3, 1] = [0.4, 1]
    ok = problem(SHARED, kept=kept)
    assert aggregate_conflicts(ok) == []
    # c1 then reaches from 0.4 x 26 + 1 x (-4) = 6.4 to 1 x 26 + 0.4 x (-4) = 24.4: X's and Y's
    # bands at 1.3 times their shares (lower ends adding up to 22.77) fit, at 1.5 times (26.27) not
    assert aggregate_conflicts(problem(SHARED * np.array([[1.0, 1.3], [1.0, 1.3], [1.0, 1.0]]), kept=kept)) == []
    out = aggregate_conflicts(problem(SHARED * np.array([[1.0, 1.5], [1.0, 1.5], [1.0, 1.0]]), kept=kept))
    assert len(out) == 1 and out[0].startswith("c1: the bands of its 2 areas")
    assert "the coupled records reach [6.4, 24.4]" in out[0]


@pytest.mark.parametrize("scale", [1e-7, 1.0, 1e9])
def test_bands_exactly_at_the_total_are_not_a_conflict_at_any_scale(scale):
    # zero-width bands whose centres add up to the national totals (11 + 6.6 + 4.4 is 22 only to
    # rounding): no conflict from the roundings, and a conflict once a band moves by 1e-9 of it
    assert aggregate_conflicts(problem(SHARED, half_width=0.0, scale=scale)) == []
    moved = aggregate_conflicts(problem(SHARED * np.array([[1.0, 1.0 + 1e-9]]), half_width=0.0, scale=scale))
    assert len(moved) == 1 and moved[0].startswith("c1:")


def nested_problem(targets: np.ndarray, kept: np.ndarray, mode: str = ADDITIVE, bound: float = 1.0) -> JointProblem:
    """The same three areas over four records (weights 1, 2, 3, 4) and four count cells: c0 holds
    every record, c1 records 0 and 1, c2 record 2, c3 records 0 and 3. c1 and c2 nest in c0 and
    no record feeds both: c0 less c1 and c2 is record 3 alone (national 4); c3 nests in c0 too,
    but shares record 0 with c1, so it is a family of its own (c0 less c3: records 1 and 2)."""
    A = sp.csr_matrix(np.array([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0],
                                [1.0, 0.0, 0.0, 1.0]]))
    ts = np.maximum(abs(targets), 1.0)
    data = JointData(A=A, absA=abs(A), w=np.array([1.0, 2.0, 3.0, 4.0]), shares=np.array([0.5, 0.3, 0.2]),
                     upper=np.full(3, 3.0), kept=kept, ts=ts, mode=mode, bound=bound)
    lo, hi = (targets - 0.005 * abs(targets)) / ts, (targets + 0.005 * abs(targets)) / ts
    names = [f"{a}:c{j}" for a, row in zip("XYZ", kept) for j in np.flatnonzero(row)]
    return JointProblem(data=data, l=lo[kept], u=hi[kept], stages=[np.full(data.N, 1e4)],
                        record_ids=np.arange(4), areas=["X", "Y", "Z"], targets=names,
                        cells=["c0", "c1", "c2", "c3"], input_hashes=["h"] * 3)


# national totals: c0 10, c1 3, c2 3, c3 5. Z keeps c0, c2 and c3 but drops c1, so only X and Y
# keep c0 with the family c1, c2; their theta = 1 - 0.2 x_Z lies in [0.4, 1], and record 3
# (weight 4) gives them between 1.6 and 4 of c0 less c1 and c2.
NESTED_KEPT = np.array([[True, True, True, True], [True, True, True, True], [True, False, True, True]])
# X: c0 6.5 with c1 1.5 and c2 1.5 implies 3.5 of record 3's count; Y: 3 with 0.9 and 0.9, 1.2.
# Every cell's bands add up around its national total (c0: 6.5 + 3 + 0.5 = 10), yet X and Y
# need at least (6.5 x 0.995 - 2 x 1.5 x 1.005) + (3 x 0.995 - 2 x 0.9 x 1.005) = 4.6285 of
# record 3, which holds 4.
# (c0 less c3, kept by all three, adds up: 4 + 1.5 - 0.5 = 5 of records 1 and 2's 5.)
NESTED = np.array([[6.5, 1.5, 1.5, 2.5], [3.0, 0.9, 0.9, 1.5], [0.5, 0.0, 0.6, 1.0]])


def test_nested_cells_are_grouped_into_families_no_record_feeds_twice():
    from goldstar.areas.joint import nested_cells

    assert nested_cells(nested_problem(NESTED, NESTED_KEPT).data.A) == {0: [[1, 2], [3]]}


def test_a_cell_less_its_nested_cells_needing_more_than_the_records_hold_is_named():
    from goldstar.areas.joint import coupling_conflicts, nested_conflicts

    P = nested_problem(NESTED, NESTED_KEPT)
    assert aggregate_conflicts(P) == []  # every cell alone adds up
    out = nested_conflicts(P)
    assert len(out) == 1 and out[0].startswith("c0 less c1, c2 (the records it holds that they do not): "
                                               "the bands of its 2 areas add up to [4.6285, ")
    assert out[0].endswith("the coupled records reach [1.6, 4]")
    assert coupling_conflicts(P) == out
    # X's need 1 lower (c0 5.5): [3.6335, ...] fits in [1.6, 4]; c0's total is then met by Z (1.5)
    fits = NESTED + np.array([[-1.0, 0, 0, 0], [0, 0, 0, 0], [1.0, 0, 0, 0]])
    assert coupling_conflicts(nested_problem(fits, NESTED_KEPT)) == []
    # under a cap of 2 the same areas reach up to 2 x 4 of record 3: no conflict; under 1, as additive
    assert nested_conflicts(nested_problem(NESTED, NESTED_KEPT, mode=EXHAUSTION, bound=2.0)) == []
    capped = nested_conflicts(nested_problem(NESTED, NESTED_KEPT, mode=EXHAUSTION, bound=1.0))
    assert len(capped) == 1 and capped[0].endswith("the coupled records reach [0, 4]")
    # with Y's bands soft (relative slack units) Y may miss them at their price: X alone needs
    # 3.4525 of record 3 and reaches [0, 4] (theta_X = 1 - 0.3 x_Y - 0.2 x_Z down to 0), no conflict
    soft = dataclasses.replace(P, hard_areas=np.array([True, False, True]))
    assert coupling_conflicts(soft) == []
