"""The joint method of the additive areas (goldstar.solvers.additive_core) and its certificate, on
small problems a generic QP solver (Clarabel) solves too.

The tolerances: the joint optimum is unique (Q is 2-strongly convex in x), Clarabel run to its
1e-14 gap tolerances lands within ~1e-12 of it here, and the joint method ends at the float64
floor, so the two agree to 1e-9 with room to spare; the certificate's own thresholds are those
of goldstar.certificate (1e-9 fixed point, 1e-12 x Q gap, 1e-12 coupling).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from goldstar.certificate.additive import certify_joint
from goldstar.solvers.additive_core import (
    ADDITIVE, AREA_STEPS_MAX_BINDING, EXHAUSTION, PROX_SCALE, JointData, JointGrams, coupled_x, newton_matrix, prox_mu, run_joint,
)
from goldstar.solvers.base import LIMIT_REACHED

OPTIONS = {"mu": 1.0, "tol": 1e-10, "outer_tol": 1e-10, "max_inner": 1000, "max_outer": 300}
RHO = 1e4  # slack penalty in relative units: soft enough for Clarabel to reach its 1e-14 tolerances


def _records(rng: np.random.Generator, seed: int, n: int, J: int, K: int):
    """The national side of a synthetic joint problem: A (the n records that feed a cell, J cells,
    60% dense), their weights, and K shares from a Dirichlet draw."""
    A = sp.random(n, J, density=0.6, random_state=seed, data_rvs=lambda k: rng.uniform(0.5, 2.0, k)).tocsr()
    A = A[np.diff(A.indptr) > 0]
    return A, rng.uniform(1.0, 3.0, A.shape[0]), rng.dirichlet(np.full(K, 3.0))


def small(seed: int = 0, n: int = 40, J: int = 4, K: int = 3, mode: str = ADDITIVE, bound: float = 1.0,
          spread: float = 0.1, upper: float = 3.0):
    """K areas over n records and J cells: shares from a Dirichlet draw, each area's targets its
    share of the national total moved by up to `spread`."""
    rng = np.random.default_rng(seed)
    A, w, shares = _records(rng, seed, n, J, K)
    t = shares[:, None] * (A.T @ w)[None, :] * (1.0 + spread * rng.uniform(-1.0, 1.0, (K, J)))
    kept = np.ones((K, J), dtype=bool)
    ts = np.maximum(np.abs(t), 1.0)
    l, u = ((t - 0.005 * abs(t)) / ts)[kept], ((t + 0.005 * abs(t)) / ts)[kept]
    data = JointData(A=A, absA=abs(A), w=w, shares=shares, upper=np.full(K, upper), kept=kept, ts=ts,
                     mode=mode, bound=bound)
    return data, l, u, np.full(data.N, RHO)


def reachable(seed: int = 1, n: int = 2000, J: int = 20, K: int = 20):
    """K areas whose targets are the totals of additive weights (each record's multipliers drawn
    per group of records and area, tilted, then scaled so that sum_a s_a x_ia = 1): every band is
    met by some coupled x, so at a hard slack penalty the optimum pays no slack."""
    rng = np.random.default_rng(seed)
    A, w, shares = _records(rng, seed, n, J, K)
    n = A.shape[0]
    group = rng.integers(0, 8, n)
    X = np.exp(rng.standard_normal((8, K))[group] + 0.1 * rng.standard_normal((n, K)))
    X /= (X * shares).sum(axis=1, keepdims=True)
    t = np.asarray(A.T @ (w[:, None] * X)).T * shares[:, None]
    kept = np.ones((K, J), dtype=bool)
    ts = np.maximum(np.abs(t), 1.0)
    data = JointData(A=A, absA=abs(A), w=w, shares=shares, upper=np.full(K, 25.0), kept=kept, ts=ts)
    return data, ((t - 0.005 * abs(t)) / ts)[kept], ((t + 0.005 * abs(t)) / ts)[kept]


def clarabel_joint(data: JointData, l, u, rho, coupled: bool = True) -> np.ndarray:
    """The joint QP in x and the band variable w, written out for Clarabel."""
    clarabel = pytest.importorskip("clarabel")
    n, K, N = data.n, data.K, data.N
    C = sp.block_diag([
        sp.csr_matrix(data.shares[a] * sp.diags(1.0 / data.ts[a]) @ data.A.T @ sp.diags(data.w))[data.kept[a]]
        for a in range(K)]).tocsc()
    R = sp.diags(rho)
    nx = n * K
    P = sp.bmat([[2 * sp.eye(nx) + 2 * C.T @ R @ C, -2 * C.T @ R], [-2 * R @ C, 2 * R]]).tocsc()
    q = np.concatenate([-2.0 * np.ones(nx), np.zeros(N)])
    box = sp.eye(nx + N)
    rows = [-box, box]
    b = [-np.concatenate([np.zeros(nx), l]), np.concatenate([np.repeat(data.upper, n), u])]
    cones = [clarabel.NonnegativeConeT(2 * (nx + N))]
    if coupled:
        coupling = sp.hstack([sp.hstack([data.shares[a] * sp.eye(n) for a in range(K)]), sp.csr_matrix((n, N))])
        rows.insert(0, coupling)
        b.insert(0, np.full(n, data.bound))
        cones.insert(0, clarabel.ZeroConeT(n) if data.mode == ADDITIVE else clarabel.NonnegativeConeT(n))
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-14
    settings.max_iter = 500
    solution = clarabel.DefaultSolver(P, q, sp.vstack(rows).tocsc(), np.concatenate(b), cones, settings).solve()
    return np.array(solution.x)[:nx].reshape(K, n).T


def certify(data, l, u, rho, x, y):
    return certify_joint(data, l, u, rho, x, y, record_ids=np.arange(data.n),
                         areas=[f"A{a}" for a in range(data.K)], names=[f"t{j}" for j in range(data.N)])


@pytest.mark.parametrize("mode, bound, shape", [
    (ADDITIVE, 1.0, {"n": 80, "J": 6, "spread": 0.3, "upper": 2.0}),
    # (on the additive case's shape Clarabel stops 7.5e-9 from the optimum, AlmostSolved)
    (EXHAUSTION, 1.05, {"n": 40, "J": 4, "spread": 0.1, "upper": 3.0}),
])
def test_the_joint_optimum_is_a_generic_qp_solvers_and_certified(mode, bound, shape):
    data, l, u, rho = small(mode=mode, bound=bound, **shape)
    result = run_joint(data, l, u, [rho], OPTIONS)
    assert result.status == 0, result.message
    assert np.abs(result.x - clarabel_joint(data, l, u, rho)).max() < 1e-9
    cert = certify(data, l, u, rho, result.x, result.y)
    assert cert.passed, cert.failures()
    totals = (result.x * data.shares).sum(axis=1)
    if mode == ADDITIVE:
        assert np.abs(totals - 1.0).max() <= 1e-12
    else:
        assert totals.max() <= bound * (1 + 1e-12) and totals.max() > bound - 1e-9  # the cap binds somewhere


def test_a_stalled_loop_is_run_again_from_its_start_with_the_dual_proximal_rounds(monkeypatch):
    """solve_from_start: the stall test itself on sequences of |G|; then, with the loop without
    the dual term made to stall at its third state, the same start solved again with the
    rounds: the generic QP solver's optimum to 1e-9, certified, every Newton step counted."""
    from goldstar.solvers import additive_core
    from goldstar.solvers.additive_core import STALL_STATES, solve_from_start, stalled, uncoupled_x

    assert stalled([0.4] + [0.98] * (STALL_STATES - 1))
    assert not stalled([0.4] + [0.98] * (STALL_STATES - 2) + [0.39])
    assert not stalled([0.4] + [0.98] * (STALL_STATES - 2))  # not yet seen enough
    data, l, u, rho = small(n=80, J=6, spread=0.3, upper=2.0)
    y0 = np.random.default_rng(2).normal(0.0, 1.0, data.N)
    plain = solve_from_start(data, l, u, [rho], OPTIONS, x0=uncoupled_x(data, y0), y0=y0)
    assert "dual prox" not in plain.message
    monkeypatch.setattr(additive_core, "stalled", lambda seen: len(seen) == 3)
    told: list[dict] = []
    result = solve_from_start(data, l, u, [rho], OPTIONS, told.append, x0=uncoupled_x(data, y0), y0=y0)
    assert result.status == 0, result.message
    restart = [entry for entry in told if "stalled" in entry]
    assert len(restart) == 1 and restart[0]["stalled"] == 3 and restart[0]["best"] >= 0.0
    assert told.index(restart[0]) < min(i for i, entry in enumerate(told) if "round" in entry)
    assert result.message.startswith("without the dual term |G| stayed at or above its start's")
    assert "dual prox round(s), then" in result.message
    assert np.abs(result.x - clarabel_joint(data, l, u, rho)).max() < 1e-9
    assert certify(data, l, u, rho, result.x, result.y).passed
    rounds = run_joint(data, l, u, [rho], OPTIONS, x0=uncoupled_x(data, y0), y0=y0, dual_prox=1e-2)
    assert result.inner == rounds.inner + 2  # the abandoned loop's two Newton steps (states 2 and 3)


def test_the_dual_proximal_rounds_share_one_time_limit():
    """run_joint's time limit is the rounds' together: out of time within a round with the dual
    term, the loop stops there (it does not start the next round with the whole limit again)
    and says in which round."""
    data, l, u, rho = small(n=80, J=6, spread=0.3, upper=2.0)
    result = run_joint(data, l, u, [rho], {**OPTIONS, "time_limit": 0.0}, dual_prox=1e-2)
    assert result.status == LIMIT_REACHED
    assert result.message.startswith("in dual prox round 0 (weight 0.01): ")
    assert "time limit" in result.message


def test_a_perturbed_or_rescaled_answer_fails_the_certificate():
    data, l, u, rho = small(n=80, J=6, spread=0.3, upper=2.0)
    result = run_joint(data, l, u, [rho], OPTIONS)
    moved = result.x.copy()
    moved[3, 1] *= 1.0 + 1e-7
    failed = certify(data, l, u, rho, moved, result.y).failures()
    assert any("fixed-point error" in f and "record_id 3" in f for f in failed)
    # each area alone, then every record's weights rescaled to sum to its national weight: the
    # coupling holds, the optimality conditions do not
    alone = clarabel_joint(data, l, u, rho, coupled=False)
    rescaled = alone / (alone * data.shares).sum(axis=1, keepdims=True)
    cert = certify(data, l, u, rho, rescaled, result.y)
    assert cert.coupling_residual <= 1e-12
    assert not cert.passed and any("duality gap" in f or "fixed-point" in f for f in cert.failures())


def test_a_cap_above_every_separate_sum_gives_the_separate_solves():
    data, l, u, rho = small(n=60, J=5, spread=0.3, upper=2.0)
    alone = clarabel_joint(data, l, u, rho, coupled=False)
    cap = float((alone * data.shares).sum(axis=1).max()) * 1.01
    capped = JointData(**{**data.__dict__, "mode": EXHAUSTION, "bound": cap})
    result = run_joint(capped, l, u, [rho], OPTIONS)
    assert np.abs(result.x - alone).max() < 1e-9


def test_record_and_area_order_do_not_move_the_weights():
    data, l, u, rho = small(n=80, J=6, K=4, spread=0.3, upper=2.0)
    base = run_joint(data, l, u, [rho], OPTIONS).x
    rng = np.random.default_rng(7)
    rec, area = rng.permutation(data.n), rng.permutation(data.K)
    slices = np.split(np.arange(data.N), np.cumsum(data.kept.sum(axis=1))[:-1])
    order = np.concatenate([slices[a] for a in area])
    permuted = JointData(A=data.A[rec], absA=data.absA[rec], w=data.w[rec], shares=data.shares[area],
                         upper=data.upper[area], kept=data.kept[area], ts=data.ts[area])
    moved = run_joint(permuted, l[order], u[order], [rho[order]], OPTIONS).x
    assert np.abs(moved - base[rec][:, area]).max() < 1e-9


def test_each_records_coupling_multiplier_is_the_exact_root():
    data, *_ = small(n=200, J=5, K=6, spread=0.3, upper=1.5)
    rng = np.random.default_rng(2)
    S = rng.normal(0.0, 1.5, (data.n, data.K))
    for mode, bound in ((ADDITIVE, 1.0), (EXHAUSTION, 1.1)):
        cp = coupled_x(JointData(**{**data.__dict__, "mode": mode, "bound": bound}), S)
        totals = (cp.x * data.shares).sum(axis=1)
        if mode == ADDITIVE:
            assert np.abs(totals - 1.0).max() <= 1e-14
        else:
            assert totals.max() <= bound + 1e-14
            assert np.all(cp.nu[~cp.active] == 0.0) and np.all(cp.nu >= 0.0)
            assert np.abs(totals[cp.active] - bound).max() <= 1e-14
        assert np.abs(cp.x - np.clip(1.0 - (S + cp.nu[:, None] * data.shares) / 2.0, 0.0, data.upper)).max() <= 1e-15


@pytest.mark.parametrize("mode, bound", [(ADDITIVE, 1.0), (EXHAUSTION, 1.02)])
@pytest.mark.parametrize("dense_pair_factor", [0.0, 2.0, np.inf])
def test_the_assembled_newton_matrix_is_the_schur_complement(mode, bound, dense_pair_factor):
    """newton_matrix (Gram matrices) against the definition: blockdiag(C_a D_a C_a^T / 2) minus
    one rank-one term a record, built from dense rows; many records at a bound in some areas.
    The pairs of areas' term every record in dense products (factor 0), every one in the sparse
    product (inf), and split between them (the default, 2: here 4 areas at a bound or more)."""
    data, *_ = small(seed=3, n=60, J=5, K=5, mode=mode, bound=bound, spread=0.4, upper=1.6)
    rng = np.random.default_rng(1)
    y = rng.normal(0.0, 1.0, data.N)
    y *= 8.0 / np.abs(data.CT(y)).max()
    cp = coupled_x(data, data.CT(y))
    assert (~cp.free).sum() > 20 and cp.active.sum() > 3
    at_bound = (~cp.free).sum(axis=1)[cp.active]
    many = at_bound**2 > 2.0 * data.K
    assert many.any() and ((at_bound >= 2) & ~many).any()  # the pairs of areas' term both ways
    H = newton_matrix(data, JointGrams(data), cp, dense_pair_factor=dense_pair_factor)
    C = [np.asarray((data.shares[a] * sp.diags(1.0 / data.ts[a]) @ data.A.T @ sp.diags(data.w)).todense())[data.kept[a]]
         for a in range(data.K)]
    expected = np.zeros_like(H)
    at = np.cumsum([0] + [c.shape[0] for c in C])
    for a in range(data.K):
        expected[at[a]:at[a + 1], at[a]:at[a + 1]] = C[a] @ np.diag(cp.free[:, a] * 1.0) @ C[a].T / 2.0
    for i in np.flatnonzero(cp.active):
        beta = (data.shares**2 * cp.free[i]).sum() / 2.0
        if beta > 0:
            v = np.concatenate([data.shares[a] * cp.free[i, a] / 2.0 * C[a][:, i] for a in range(data.K)])
            expected -= np.outer(v, v) / beta
    assert np.abs(H - expected).max() <= 1e-12 * np.abs(expected).max()


@pytest.mark.parametrize("mode, bound", [(ADDITIVE, 1.0), (EXHAUSTION, 1.02)])
def test_the_newton_matrix_updated_record_by_record_is_the_one_built_again(mode, bound, monkeypatch):
    """IncrementalNewtonMatrix: along a walk of duals that moves a few records' states a step
    (some entries reach or leave a bound, some couplings start or stop binding), the C-part
    updated from the last state's equals newton_matrix built afresh to rounding; past
    UPDATE_MAX_ENTRIES it is built afresh."""
    from goldstar.solvers import additive_core
    from goldstar.solvers.additive_core import IncrementalNewtonMatrix

    data, *_ = small(seed=3, n=60, J=5, K=4, mode=mode, bound=bound, spread=0.4, upper=1.6)
    rng = np.random.default_rng(7)
    y = rng.normal(0.0, 1.0, data.N)
    y *= 4.0 / np.abs(data.CT(y)).max()
    incremental = IncrementalNewtonMatrix(data, JointGrams(data))
    states = changed = 0
    last = None
    for _ in range(8):
        cp = coupled_x(data, data.CT(y))
        if last is not None:
            changed += int(((cp.free != last.free).any(axis=1) | (cp.active != last.active)).sum())
        H = incremental.at(cp)
        expected = newton_matrix(data, JointGrams(data), cp)
        # the same terms (each entry a sum over the 60 records' outer products) added in another
        # order and partly subtracted again: tens of roundings of the largest entry, not more
        assert np.abs(H - expected).max() <= 1e-13 * np.abs(expected).max()
        H[...] = np.nan  # the caller's to write over: the kept C-part is not touched
        states, last = states + 1, cp
        y = y + rng.normal(0.0, 0.5, data.N) * (rng.random(data.N) < 0.2) * np.abs(y).mean()
    assert incremental.rebuilds == 1 and incremental.updates >= 4 and changed >= 8
    monkeypatch.setattr(additive_core, "UPDATE_MAX_ENTRIES", 0)
    cp = coupled_x(data, data.CT(-y))
    H = incremental.at(cp)
    assert incremental.rebuilds == 2
    assert np.abs(H - newton_matrix(data, JointGrams(data), cp)).max() == 0.0


def test_the_flat_gauge_is_the_change_of_coordinates_it_claims():
    """FlatGauge (additive_core): y = T u moves S only by a shift each record's nu absorbs, so x
    is the same at y and at the reduced u; T^T H T is H's C-part without the anchors' rows and
    columns plus T^T diag(b) T; to_y and from_y invert each other; gradient is T^T."""
    from goldstar.solvers.additive_core import FlatGauge

    data, *_ = small(seed=4, n=60, J=5, K=4, spread=0.4, upper=1.6)
    data.kept[2, 1] = False  # a cell one area drops is not flat: it keeps its own coordinates
    data = JointData(**{**data.__dict__})
    gauge = FlatGauge(data)
    assert gauge.cells.tolist() == [0, 2, 3, 4]
    rng = np.random.default_rng(5)
    u = rng.normal(0.0, 1.0, data.N)
    u *= 4.0 / np.abs(data.CT(u)).max()
    y = gauge.to_y(u)
    assert np.abs(gauge.from_y(y) - u).max() <= 1e-15 * np.abs(u).max()
    at_y = coupled_x(data, data.CT(y))
    at_u = coupled_x(data, data.CT(gauge.reduced(u)))
    assert np.abs(at_y.x - at_u.x).max() <= 1e-13
    assert np.abs(at_y.nu - (at_u.nu - gauge.nu_shift(data, u))).max() <= 1e-12 * np.abs(at_y.nu).max()
    T = np.stack([gauge.to_y(e) for e in np.eye(data.N)], axis=1)
    g = rng.normal(0.0, 1.0, data.N)
    assert np.abs(gauge.gradient(g) - T.T @ g).max() <= 1e-14 * np.abs(T.T @ g).max()
    Hc = newton_matrix(data, JointGrams(data), at_y)
    b = rng.uniform(0.1, 1.0, data.N)
    exact = T.T @ (Hc + np.diag(b)) @ T
    assert np.abs(Hc @ T[:, gauge.anchor]).max() <= 1e-12 * np.abs(Hc).max()  # the flat directions
    assert np.abs(gauge.newton_matrix(Hc, b) - exact).max() <= 1e-12 * np.abs(exact).max()


@pytest.mark.parametrize("rho", [1e8, 1e12])
def test_a_hard_slack_penalty_still_ends_certified_with_the_coupling_to_the_last_bit(rho):
    """The targets moved by up to 10% an area do not add up to the national totals, so at a large
    slack penalty the duals along the coupling's flat directions grow with it (about rho times
    the mismatch). Solved in FlatGauge's coordinates, x never sees them: the coupling holds to
    1e-12 and the certificate passes. (Solved in y's coordinates, the same problem held its
    coupling to 1.2e-11 at rho = 1e8 and failed the gap; at 1e12 the Newton loop hit its cap.)"""
    data, l, u, _ = small(seed=6, n=300, J=6, K=5, spread=0.1, upper=3.0)
    r = np.full(data.N, rho)
    result = run_joint(data, l, u, [r], OPTIONS)
    assert result.status == 0, result.message
    cert = certify(data, l, u, r, result.x, result.y)
    assert cert.passed, cert.failures()
    assert np.abs((result.x * data.shares).sum(axis=1) - 1.0).max() <= 1e-12
    assert np.abs(result.y).max() > 1e-2 * rho  # duals that large: x computed from y would round them


@pytest.mark.parametrize("mode, bound, shape", [
    (ADDITIVE, 1.0, {"n": 80, "J": 6, "spread": 0.3, "upper": 2.0}),
    (EXHAUSTION, 1.05, {"n": 40, "J": 4, "spread": 0.1, "upper": 3.0}),
])
def test_rounds_of_the_dual_proximal_point_end_at_the_same_optimum(mode, bound, shape):
    """The dual proximal term only regularizes the rounds before the last; the last round solves
    the joint dual itself, so the answer is the generic QP solver's and certifies."""
    data, l, u, rho = small(mode=mode, bound=bound, **shape)
    result = run_joint(data, l, u, [rho], OPTIONS, dual_prox=1e-2)
    assert result.status == 0, result.message
    assert np.abs(result.x - clarabel_joint(data, l, u, rho)).max() < 1e-9
    assert certify(data, l, u, rho, result.x, result.y).passed


@pytest.mark.parametrize("seed", [0, 1])
def test_each_areas_step_length_is_the_root_of_its_own_line_search_where_no_coupling_binds(seed):
    """Under a cap no record reaches, the joint problem is its areas side by side, so the step
    length area_step_lengths gives area a along d is the root of the joint line search's h along
    d's part in area a alone: h <= 0 at it (to rounding) and >= 0 past its bracket (LINE_BRACKET
    of it)."""
    from goldstar.solvers.additive_core import LINE_BRACKET, JointKernels, JointLine, area_step_lengths, joint_state
    from goldstar.solvers.band_core import Subproblem

    data, l, u, rho = small(seed, n=60, J=5, K=4, mode=EXHAUSTION, bound=1e6, spread=0.3)
    k = JointKernels(data)
    sub = Subproblem(wk=np.clip(data.C(np.ones((data.n, data.K))), l, u), rho=rho, mu=1.0, l=l, u=u)
    st = joint_state(k, sub, np.zeros(data.N))
    d = -st.G * 50.0  # far enough to cross kinks of boxes and bands
    tau = area_step_lengths(k, sub, st, d)
    assert np.all(tau > 0) and len(set(np.round(tau, 6))) > 1  # each area its own length
    for a in range(data.K):
        part = np.where(k.area_of == a, d, 0.0)
        line = JointLine(k, sub, st, part)
        h0 = line.h0
        at, _, size = line(tau[a])
        past = line(tau[a] / (1 - LINE_BRACKET) * (1 + 1e-12))[0]
        # at the root h is 0 up to the rounding of its terms (the two sums are ordered differently)
        assert h0 < 0 and at <= 1e-12 * size and past >= 0


def test_the_prox_weight_is_its_scale_over_each_targets_own_curvature():
    data, l, u, _ = small(seed=3, n=60, J=4, K=3)
    own = [np.diag(C @ C.T) for C in (
        (data.shares[a] * sp.diags(1.0 / data.ts[a]) @ data.A.T @ sp.diags(data.w)).toarray()
        for a in range(data.K))]
    np.testing.assert_allclose(prox_mu(data), PROX_SCALE / np.concatenate(own), rtol=1e-13)


def test_hard_bands_the_coupling_can_meet_certify_in_few_steps():
    """20 areas, 2,000 records, every band in reach of coupled weights, slack penalty 1e16.
    With band-newton's national mu = 1 (each band entering its interior adds 0.5 to the dual's
    curvature along the step, against ~1e-4 from the records) and each area's own step length
    (nu held, while every record's coupling binds) it took 166 Newton steps; with the Newton
    directions 76, and with the prox weights scaled to the targets (prox_mu) 69. The bound
    leaves room for rounding and BLAS."""
    data, l, u = reachable()
    rho = np.full(data.N, 1e16)
    result = run_joint(data, l, u, [rho], OPTIONS)
    assert result.status == 0, result.message
    assert result.inner <= 100, result.message
    cert = certify(data, l, u, rho, result.x, result.y)
    assert cert.passed, cert.failures()
    fit = data.C(result.x)
    width = u - l
    assert (np.maximum(l - fit, 0) + np.maximum(fit - u, 0)).max() <= 1e-6 * width.min()


def test_a_cap_that_binds_almost_everywhere_takes_newton_steps():
    """E = 1.05 on shares summing to 1 binds for most records. Each area's own step length holds
    the coupling multipliers (area_step_lengths), a poor model there: the directions it scaled
    were stretched ~1.97x by the line search at every step and 1,000 Newton steps did not
    converge; past AREA_STEPS_MAX_BINDING the Newton direction itself is taken."""
    data, l, u, _ = small(seed=0, n=600, J=8, K=4, mode=EXHAUSTION, bound=1.05, upper=25.0)
    rho = np.full(data.N, 1e6)
    assert coupled_x(data, np.zeros((data.n, data.K))).active.mean() == 0.0  # x = 1 sums to 1 <= E
    result = run_joint(data, l, u, [rho], OPTIONS)
    assert result.status == 0, result.message
    assert result.inner <= 100, result.message
    cert = certify(data, l, u, rho, result.x, result.y)
    assert cert.passed, cert.failures()
    binding = (result.x * data.shares).sum(axis=1) >= 1.05 - 1e-12
    assert binding.mean() > AREA_STEPS_MAX_BINDING


class _CountedLine:
    """A JointLine that counts the evaluations of its records' part (each solves every record's
    coupling: what the line search spends its time on)."""

    def __init__(self, line):
        self.line, self.calls = line, 0
        self.h0, self.V = line.h0, line.V
        self.band, self.records_slope_at_start = line.band, line.records_slope_at_start

    def records(self, t):
        self.calls += 1
        return self.line.records(t)

    def __call__(self, t):
        self.calls += 1
        return self.line(t)


@pytest.mark.parametrize("mode,bound", [(ADDITIVE, 1.0), (EXHAUSTION, 1.2)])
@pytest.mark.parametrize("reach", [1.0, 50.0])
def test_model_root_is_the_line_searchs_root_with_fewer_record_solves(mode, bound, reach):
    """model_root, exact in the band part and linear in the records' between evaluations, ends at
    the same root of h as newton_core.monotone_root on h itself (both exact: h is piecewise
    linear, and where its slope is positive the root is unique), solving the records' coupling
    no more often. `reach` scales the direction past many kinks of boxes and bands."""
    from goldstar.solvers.additive_core import JointKernels, JointLine, joint_state, model_root, newton_direction
    from goldstar.solvers.band_core import Subproblem
    from goldstar.solvers.newton_core import monotone_root

    data, l, u, rho = small(4, n=300, J=6, K=5, mode=mode, bound=bound, spread=0.3)
    k = JointKernels(data)
    sub = Subproblem(wk=np.clip(data.C(np.ones((data.n, data.K))), l, u), rho=rho, mu=prox_mu(data), l=l, u=u)
    st = joint_state(k, sub, np.zeros(data.N))
    d = newton_direction(k, sub, st) * reach
    modelled, plain = _CountedLine(JointLine(k, sub, st, d)), _CountedLine(JointLine(k, sub, st, d))
    assert modelled.h0 < 0
    t = model_root(modelled, [], bracket_rtol=0.0)
    t_plain = monotone_root(plain, plain.h0)
    value, slope, size = plain.line(t)
    assert slope > 0 and abs(value) <= 1e-13 * size  # h's root to its rounding
    assert t == pytest.approx(t_plain, rel=1e-12)
    assert modelled.calls <= plain.calls


def test_a_band_of_zero_width_is_measured_in_the_floored_width_without_a_warning():
    """A target of 0 has a band of zero width (eps |t| = 0): the joint certificate measures its
    miss as the separate one does (band_widths' floor, MIN_WIDTH_SCALE), a finite number, and says nothing of a
    0 / 0 (TMD's state spec has such targets)."""
    from goldstar.problem.objectives.band import MIN_WIDTH_SCALE, RHO_CAP

    data, l, u, _ = small(n=80, J=6)
    l, u = l.copy(), u.copy()
    l[0] = u[0] = 0.0
    hard = np.full(data.N, RHO_CAP)
    x = np.ones((data.n, data.K))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert = certify(data, l, u, hard, x, np.zeros(data.N))
    assert not cert.passed and cert.worst_target == "t0"
    # the miss is its fitted value C x (the band is [0, 0]) over the floored width: one division
    assert cert.max_band_violation == pytest.approx(data.C(x)[0] / MIN_WIDTH_SCALE, rel=1e-15)
