"""Bands that the coupling makes unreachable together, read off the cells' totals
(goldstar.areas.joint.aggregate_conflicts), on problems small enough to reason about by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from goldstar.areas.joint import JointProblem, aggregate_conflicts
from goldstar.certificate.conflict import PROOF_ULPS
from goldstar.solvers.additive_core import ADDITIVE, EXHAUSTION, JointData, solve_from_start


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
    assert coupling_conflicts(P)[:1] == out  # (then the family test's lines, proofs of their own)
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


# --- a proof read off a direction of the joint dual (goldstar.certificate.conflict) ---------------

def random_problem(seed: int, mode: str = ADDITIVE, bound: float = 1.0) -> JointProblem:
    """Three areas (shares 0.5, 0.3, 0.2, box [0, 3]) over ten records and four cells (cell 0
    every record, the others random amounts 1-3 on about half the records): X's and Y's targets
    their share of each national total times 1 +- 10%, Z's what makes each cell add up (under a
    cap: its share times 1 +- 10%), bands +- 0.5%. Some such problems are infeasible, none by a
    cell's totals alone under "additive"."""
    rng = np.random.default_rng(seed)
    A = (rng.random((10, 4)) < 0.5) * rng.integers(1, 4, (10, 4)).astype(float)
    A[:, 0] = 1.0
    w = rng.integers(1, 5, 10).astype(float)
    shares = np.array([0.5, 0.3, 0.2])
    total = A.T @ w
    targets = shares[:, None] * total[None, :] * (1.0 + 0.1 * rng.standard_normal((3, 4)))
    if mode == ADDITIVE:
        targets[2] = total - targets[:2].sum(axis=0)
    kept = np.ones((3, 4), dtype=bool)
    ts = np.maximum(abs(targets), 1.0)
    data = JointData(A=sp.csr_matrix(A), absA=sp.csr_matrix(abs(A)), w=w, shares=shares, upper=np.full(3, 3.0),
                     kept=kept, ts=ts, mode=mode, bound=bound)
    lo, hi = (targets - 0.005 * abs(targets)) / ts, (targets + 0.005 * abs(targets)) / ts
    names = [f"{a}:c{j}" for a in "XYZ" for j in range(4)]
    return JointProblem(data=data, l=lo[kept], u=hi[kept], stages=[np.full(data.N, 1e16)], record_ids=np.arange(10),
                        areas=["X", "Y", "Z"], targets=names, cells=[f"c{j}" for j in range(4)], input_hashes=["h"] * 3)


def dense_rows(data: JointData) -> np.ndarray:
    """C (N x nK, x flattened record by record) written out."""
    A = data.A.toarray()
    rows = []
    for a in range(data.K):
        for j in np.flatnonzero(data.kept[a]):
            row = np.zeros((data.n, data.K))
            row[:, a] = data.shares[a] * data.w * A[:, j] / data.ts[a, j]
            rows.append(row.ravel())
    return np.array(rows)


def lp_point(P: JointProblem) -> np.ndarray | None:
    """A coupled x (n x K) in the box meeting every band, by a generic LP solver; None when it
    proves there is none."""
    from scipy.optimize import linprog

    d = P.data
    C, coupling = dense_rows(d), np.kron(np.eye(d.n), d.shares[None, :])
    A_ub, b_ub = np.vstack([C, -C]), np.concatenate([P.u, -P.l])
    if d.mode == ADDITIVE:
        eq = dict(A_eq=coupling, b_eq=np.full(d.n, d.bound))
    else:
        A_ub, b_ub, eq = np.vstack([A_ub, coupling]), np.concatenate([b_ub, np.full(d.n, d.bound)]), {}
    box = list(zip(np.zeros(d.n * d.K), np.tile(d.upper, d.n)))
    r = linprog(np.zeros(d.n * d.K), A_ub=A_ub, b_ub=b_ub, bounds=box, method="highs", **eq)
    assert r.status in (0, 2), r.message
    return r.x.reshape(d.n, d.K) if r.status == 0 else None


def lp_direction(P: JointProblem) -> tuple[float, np.ndarray]:
    """max of need(y) - reach(y) over |y|_inf <= 1 by a generic LP solver (the dual of each
    record's knapsack written out: reach_i = c lambda_i + sum_a U_a t_ia, t_ia >= S_ia - lambda_i s_a,
    t >= 0, lambda >= 0 under a cap), with its y: positive exactly when the bands conflict."""
    from scipy.optimize import linprog

    d = P.data
    n, K, N = d.n, d.K, d.N
    C = dense_rows(d)
    # variables: y+ (N), y- (N), lambda (n), t (n K)
    cost = np.concatenate([-P.l, P.u, np.full(n, d.bound), np.tile(d.upper, n)])
    A_ub = np.hstack([C.T, -C.T, -np.kron(np.eye(n), d.shares[:, None]), -np.eye(n * K)])
    free = (None, None) if d.mode == ADDITIVE else (0, None)
    r = linprog(cost, A_ub=A_ub, b_ub=np.zeros(n * K), method="highs",
                bounds=[(0, 1)] * (2 * N) + [free] * n + [(0, None)] * (n * K))
    assert r.status == 0, r.message
    return -r.fun, r.x[:N] - r.x[N:2 * N]


@pytest.mark.parametrize("mode, bound", [(ADDITIVE, 1.0), (EXHAUSTION, 1.2)])
def test_reach_and_need_bound_every_coupled_fit_and_prove_exactly_the_infeasible_problems(mode, bound):
    """reach(y) and need(y) against a generic LP solver on 30 random problems: where the LP finds
    a coupled x meeting every band, reach(y) >= y.Cx >= need(y) for random y (so no y proves a
    conflict that is not there); where it proves none exists, the LP's own best direction
    proves it through reach_and_need too. Both kinds occur."""
    from goldstar.certificate.conflict import proves, reach_and_need

    rng = np.random.default_rng(7)
    kinds = set()
    for seed in range(30):
        P = random_problem(seed, mode, bound)
        x = lp_point(P)
        gain, y = lp_direction(P)
        kinds.add(x is None)
        if x is None:
            assert gain > 1e-9 and proves(P.data, P.l, P.u, y) is not None
        else:
            assert gain <= 1e-9
            fit = P.data.C(x)
            for _ in range(5):
                y = rng.standard_normal(P.data.N)
                reach, need, margin = reach_and_need(P.data, P.l, P.u, y)
                assert reach >= y @ fit - 1e-9 * abs(reach) - 1e-12 and need <= y @ fit + 1e-9 * abs(need) + 1e-12
                assert proves(P.data, P.l, P.u, y) is None
    assert kinds == {True, False}


def hand_problem() -> JointProblem:
    """Two areas (shares 1/2, box [0, 3]) over two records of weight 1 and three count cells: c0
    both records, c1 record 0, c2 record 1. Area X keeps c0 (1) and c1 (0.5), Y keeps c0 (1) and
    c2 (0.8); bands +- 0.5%. Each cell adds up (c0: 1 + 1 = 2) and no cell is kept with its parts,
    so the totals show nothing; each area alone meets its bands (X: x = (1, 1), Y: x = (0.4, 1.6)).
    Together: area weights are x / 2 and x_iX + x_iY = 2, so X's c0 less c1 is record 1's weight
    in X, 1 - Y's c2: X's bands need 0.5 of it, Y's leave 0.2."""
    A = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]))
    kept = np.array([[True, True, False], [True, False, True]])
    targets = np.array([[1.0, 0.5, 0.0], [1.0, 0.0, 0.8]])
    data = JointData(A=A, absA=abs(A), w=np.ones(2), shares=np.array([0.5, 0.5]), upper=np.full(2, 3.0),
                     kept=kept, ts=np.ones((2, 3)))
    return JointProblem(data=data, l=(targets * 0.995)[kept], u=(targets * 1.005)[kept],
                        stages=[np.full(data.N, 1e16)], record_ids=np.arange(2), areas=["X", "Y"],
                        targets=["X:c0", "X:c1", "Y:c0", "Y:c2"], cells=["c0", "c1", "c2"], input_hashes=["h"] * 2)


def test_a_conflict_no_cell_total_shows_is_proved_by_the_joint_dual_and_named(monkeypatch):
    """The hand problem: the totals' tests find nothing, a generic LP finds no coupled x, and the
    joint solve stops with a proof read off its dual that names the bands: X's c0 and c1 and Y's
    c2, whose combination X:c0 - X:c1 + Y:c2 is record 1's weight in X and Y, 1, against bands
    that need 0.995 - 0.5025 + 0.796 = 1.2885 at least."""
    from goldstar.areas import joint_run
    from goldstar.areas.joint import coupling_conflicts
    from goldstar.certificate.conflict import reach_and_need

    P = hand_problem()
    assert coupling_conflicts(P) == [] and lp_point(P) is None
    reach, need, _ = reach_and_need(P.data, P.l, P.u, np.array([1.0, -1.0, 0.0, 1.0]))
    assert reach == pytest.approx(1.0, abs=1e-15) and need == pytest.approx(1.2885, abs=1e-15)
    monkeypatch.setattr(joint_run, "CONFLICT_EVERY", 0.0)
    returned = []  # the loop's answer, had it ended: the watch inside the loop must stop it first

    def solve_and_tell(*args, **kwargs):
        returned.append(solve_from_start(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(joint_run, "solve_from_start", solve_and_tell)
    with pytest.raises(joint_run.CouplingConflict) as found:
        joint_run.solve_joint(None, P, np.zeros(P.data.N), time_limit=10.0)
    assert returned == []
    line = found.value.line
    # the three bands, or those and Y:c0: the dual's direction can split X:c0's coefficient with
    # Y:c0 (X:c0 / 2 + Y:c0 / 2 against Y:c0 / 2, record 0's share), a proof as good, which no
    # prefix of it by size shortens with its coefficients as they are
    assert line.startswith(("3 band(s) of 2 area(s): ", "4 band(s) of 2 area(s): "))
    for name in ("X:c0 [0.995, 1.005]", "X:c1 [0.4975, 0.5025]", "Y:c2 [0.796, 0.804]"):
        assert name in line
    needs, reaches = (float(line.split(part)[1].split(",")[0].split(" ")[0])
                      for part in ("need at least ", "reach at most "))
    assert needs > reaches


# X and Z keep c0 (all records) and c3, Y drops c0 but keeps its parts c1 (records 0, 1) and c2
# (record 2), and c3 (records 0 and 3: another family of c0's). Every cell adds up and no area keeps c0 with c1 and c2, so neither the totals nor
# the nested test see anything; but Y's parts bound its c0 from below (record 3's count is not
# negative), and X's c0 + Z's c0 + Y's c1 + c2 need at least (6.5 + 1.5 + 1.2 + 1.2) x 0.995 =
# 10.348 of the national 10.
FAMILY_KEPT = np.array([[True, False, False, True], [False, True, True, True], [True, False, False, True]])
FAMILY = np.array([[6.5, 0.0, 0.0, 3.5], [0.0, 1.2, 1.2, 0.5], [1.5, 0.0, 0.0, 1.0]])


def test_a_cell_bounded_by_its_parts_where_an_area_drops_it_is_named():
    from goldstar.areas.joint import coupling_conflicts, family_conflicts, nested_conflicts

    P = nested_problem(FAMILY, FAMILY_KEPT)
    assert aggregate_conflicts(P) == [] and nested_conflicts(P) == []
    assert lp_point(P) is None  # a generic LP agrees: no coupled x meets every band
    out = family_conflicts(P)
    assert len(out) == 1 and out[0].startswith(
        "c0 by its own bands in 2 areas and by its parts c1, c2 in 1: their bands need at least 10.348, "
        "the coupled records reach at most 10 (rounding margin ")
    margin = float(out[0].split("rounding margin ")[1].rstrip(")"))
    # PROOF_ULPS roundings of the terms' size: the 10 the records reach at most (the bound times
    # each record's largest value) and the 10.4 x 1.005 of the bands' far ends (printed to 3 digits)
    expected = PROOF_ULPS * np.finfo(float).eps * (10.0 + 1.005 * (6.5 + 1.5 + 1.2 + 1.2))
    assert margin == pytest.approx(expected, rel=5e-3)
    assert coupling_conflicts(P) == out
    # Y's c1 and c2 at 1.05 (c1 and c2 are Y's alone, so every cell still adds up): 10.0495
    # still conflicts; at 1.0, 9.95 does not, and the LP finds weights
    for part, conflict in ((1.05, True), (1.0, False)):
        moved = FAMILY.copy()
        moved[1, 1:3] = part
        Q = nested_problem(moved, FAMILY_KEPT)
        assert bool(family_conflicts(Q)) == conflict and (lp_point(Q) is None) == conflict
    # with Y's bands soft nothing bounds its c0: no conflict
    assert family_conflicts(dataclasses.replace(P, hard_areas=np.array([True, False, True]))) == []
