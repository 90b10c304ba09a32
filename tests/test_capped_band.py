"""band-newton with an upper bound per record (goldstar.solvers.band_newton.run_capped), the
separate solves of the --max-exhaustion heuristic: checked against one dense solve of the
optimality conditions on the active set it ends with, as tests/test_band.py checks band-newton.

The tolerances are test_band.py's: float64 rounding of ~1e-16 in y moves x by ~1e-11 here, so
1e-8 against the dense solve and 1e-9 against band-newton's own answer hold with room."""

from __future__ import annotations

import numpy as np
import pytest

from goldstar import solve
from goldstar.inputs.synth import synth_problem
from goldstar.problem.objectives import Band
from goldstar.solvers import CONVERGED, get_solver
from goldstar.solvers.band_newton import run_capped

from .conftest import relative_difference


def band_problem(seed: int):
    return synth_problem(300, 24, seed=seed).with_objective(Band(slack_units="relative"))


def dense_kkt(problem, cap: np.ndarray, x_active: np.ndarray) -> tuple[np.ndarray, bool]:
    """The band optimum with record i in [lower, cap_i] on the active set of x_active: the records
    at a bound fixed there, the targets outside their band held at the edge they miss; one dense
    solve of the stationarity on the free records. Also whether that active set reproduces itself
    and is optimal: the free records inside their box, the gradient pushing every record at a
    bound against it (to 1e-9 of its terms' size), the targets on the sides they were."""
    form = problem.form
    C = form.C.toarray()
    lo = x_active <= problem.lower
    hi = x_active >= cap
    free = ~(lo | hi)
    x = np.where(lo, problem.lower, cap).astype(float)
    z = C @ x_active
    above, below = z > form.u, z < form.l
    V = above | below
    b = np.where(above, form.u, form.l)[V]
    CV, rho = C[V], form.rho_final[V]
    CVF, CVA = CV[:, free], CV[:, ~free]
    H = np.eye(int(free.sum())) + CVF.T @ (rho[:, None] * CVF)
    x[free] = np.linalg.solve(H, np.ones(int(free.sum())) - CVF.T @ (rho * (CVA @ x[~free] - b)))
    z_new = C @ x
    # the objective's gradient in x: <= 0 at the cap (it would grow), >= 0 at the lower bound
    grad = 2.0 * (x - 1.0) + 2.0 * CV.T @ (rho * (CV @ x - b))
    size = 2.0 * (np.abs(x - 1.0) + np.abs(CV.T) @ (rho * np.abs(CV @ x - b))) + 1.0
    pinned = cap <= problem.lower  # a bound equal to the lower bound: no sign to check
    at_cap, at_lower = hi & ~lo, lo & ~pinned
    consistent = bool(np.all((x[free] > problem.lower) & (x[free] < cap[free]))
                      and np.all(grad[at_cap] <= 1e-9 * size[at_cap]) and np.all(grad[at_lower] >= -1e-9 * size[at_lower])
                      and np.all(z_new[above] >= form.u[above]) and np.all(z_new[below] <= form.l[below])
                      and np.all((z_new[~V] >= form.l[~V] - 1e-12) & (z_new[~V] <= form.u[~V] + 1e-12)))
    return x, consistent


OPTIONS = dict(get_solver("band-newton").defaults)


@pytest.mark.parametrize("seed", [3, 4])
def test_caps_at_the_common_bound_give_band_newtons_answer(seed):
    problem = band_problem(seed)
    plain = solve(problem, "band-newton")
    capped = run_capped(problem, np.full(problem.n, problem.upper), OPTIONS)
    assert capped.status == CONVERGED, capped.message
    assert relative_difference(capped.m, plain.m) <= 1e-9


@pytest.mark.parametrize("seed, zero", [(3, False), (4, False), (3, True)])
def test_binding_caps_end_at_the_dense_optimum_of_their_active_set(seed, zero):
    problem = band_problem(seed)
    plain = solve(problem, "band-newton").m
    cap = np.full(problem.n, problem.upper)
    largest = np.argsort(-plain)[:30]
    cap[largest] = 0.8 * plain[largest]  # every one of them binds now
    if zero:  # and records held at their lower bound by a bound equal to it (as the heuristic's 0 bounds)
        cap[np.argsort(plain)[:40]] = problem.lower
    result = run_capped(problem, cap, OPTIONS)
    assert result.status == CONVERGED, result.message
    assert np.all(result.m <= cap) and np.count_nonzero(result.m == cap) >= 10
    x_kkt, consistent = dense_kkt(problem, cap, result.m)
    assert consistent
    assert relative_difference(result.m, x_kkt) <= 1e-8
    assert relative_difference(result.m, plain) > 1e-3  # the caps moved the answer


def test_caps_outside_the_box_are_refused():
    problem = band_problem(3)
    high = np.full(problem.n, problem.upper)
    high[7] = problem.upper * 2
    with pytest.raises(ValueError, match=rf"record {problem.record_ids[7]} \(row 7\) has bound .* outside the box"):
        run_capped(problem, high, OPTIONS)
    with pytest.raises(ValueError, match=r"\(300 such records\)"):
        run_capped(problem, np.full(problem.n, -1.0), OPTIONS)
    with pytest.raises(ValueError, match="300 bounds expected"):
        run_capped(problem, np.ones(problem.n - 1), OPTIONS)
