"""The areas pre-pass: range test, and the sifted elastic LP equal to the full LP."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from goldstar.areas.prepass import ElasticLP, find_unreachable_area, range_test, smallest

pytest.importorskip("highspy")


def full_elastic_lp(B, t, eps, hi):
    """The elastic LP of prepass's docstring over every record, by scipy (reference)."""
    n, J = B.shape
    half = eps * np.abs(t)
    width = 2 * half
    # variables x (n), s_lo (J), s_hi (J); rows: band_low <= B^T x + w (s_lo - s_hi) <= band_high
    M = sp.hstack([B.T, sp.diags(width), -sp.diags(width)]).tocsr()
    A_ub = sp.vstack([M, -M])
    b_ub = np.concatenate([t + half, -(t - half)])
    c = np.concatenate([np.zeros(n), np.ones(2 * J)])
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=[(0, hi)] * n + [(0, None)] * 2 * J, method="highs")
    return res.fun


def random_area(seed, n=400, J=12, hard=False):
    rng = np.random.default_rng(seed)
    A = sp.random(n, J, density=0.3, random_state=seed, format="csr")
    A.data = rng.uniform(0.5, 2.0, A.nnz)
    w = rng.uniform(1, 3, n)
    t = (A.T @ w) * rng.uniform(0.5, 1.5, J)
    if hard:
        # a pair that conflicts: the same column targeted twice at different values
        A = sp.hstack([A, A[:, [0]]]).tocsr()
        t = np.concatenate([t, [t[0] * 1.5]])
    return A, w, t


def test_range_test_finds_a_target_out_of_reach():
    A = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 0.0]]))
    B = sp.csr_matrix(sp.diags([2.0, 3.0]) @ A)
    out = range_test(B, np.array([10.0, 100.0]), 0.005, 0.0, 5.0, ["a", "b"])
    assert [d["name"] for d in out] == ["b"] and out[0]["reason"] == "range"
    # b reaches at most 2 x 5 = 10; its band starts at 99.5: 89.5 away, in widths of 1.0
    assert out[0]["distance_in_band_widths"] == pytest.approx(89.5)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sifted_lp_equals_the_full_lp(seed):
    A, w, t = random_area(seed, hard=True)
    scale = np.maximum(np.abs(A.T @ w), 1.0)
    lp = ElasticLP(A, w, scale, 0.0, 3.0, initial=20, batch=15)  # small master: several pricing rounds
    x, slack, status, iterations, rounds = lp.solve(1.0, t, 0.005, np.ones(t.size, bool))
    assert status == "Optimal" and rounds > 1
    assert slack.sum() == pytest.approx(full_elastic_lp(sp.csr_matrix(sp.diags(w) @ A), t, 0.005, 3.0), rel=1e-7, abs=1e-9)


def test_joint_conflict_is_named_and_the_rest_is_met():
    A, w, t = random_area(4, hard=True)
    names = [f"t{j}" for j in range(t.size)]
    pre = find_unreachable_area(A, w, 1.0, t, names, 0.005, 0.0, 3.0, cache_key=("joint-test",))
    assert {d["reason"] for d in pre.dropped} == {"joint"}
    assert {"t0", f"t{t.size - 1}"} & set(pre.names)
    assert pre.max_violation_after < 1e-6


def test_an_areas_prepass_does_not_depend_on_the_areas_before_it():
    """The national part of the LP is shared by the process; each area's master starts fresh, so an
    area's drops and slack are the same whichever areas a worker solved first."""
    A, w, t = random_area(5, hard=True)
    names = [f"t{j}" for j in range(t.size)]
    key = ("after-others",)
    find_unreachable_area(A, w, 1.0, t * 1.01, names, 0.005, 0.0, 3.0, cache_key=key)
    after = find_unreachable_area(A, w, 0.5, t * 0.5, names, 0.005, 0.0, 3.0, cache_key=key)
    alone = find_unreachable_area(A, w, 0.5, t * 0.5, names, 0.005, 0.0, 3.0, cache_key=("alone",))
    assert after.dropped == alone.dropped and after.lp_iterations == alone.lp_iterations
    assert after.max_violation_after == alone.max_violation_after


@pytest.mark.parametrize("k", [1, 7, 50, 999, 1000, 1500])
def test_a_pricing_batch_is_the_first_k_of_a_stable_sort(k):
    rng = np.random.default_rng(k)
    values = -np.round(rng.exponential(3.0, 1000), 1)  # many ties, the k-th among them
    expected = np.sort(np.argsort(values, kind="stable")[:k])
    assert np.array_equal(np.sort(smallest(values, k)), expected)
