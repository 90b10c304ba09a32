"""The notes' other solvers behind the same interface, each judged against the Newton optimum.

First-order and interior-point methods stop at a tolerance, so each test asserts the
figure that solver reaches on this problem (measured, with a margin of about 10x),
not agreement with the optimum: showing that distance is why they are here.
"""

from __future__ import annotations

import numpy as np
import pytest

from goldstar import SolverNotFound, certify, solve
from goldstar.solvers import CONVERGED, LIMIT_REACHED, SolverSpec, register, SOLVERS
from goldstar.inputs.synth import synth_problem


@pytest.fixture(scope="module")
def problem():
    return synth_problem(1500, 50, seed=8)


@pytest.fixture(scope="module")
def optimum(problem):
    return solve(problem, "newton")


def relative_loss_excess(problem, solution, optimum):
    return (solution.loss - optimum.loss) / optimum.loss


def test_osqp_lands_near_the_optimum_loss(problem, optimum):
    pytest.importorskip("osqp", reason="osqp is in the 'qp' extra: pip install 'goldstar[qp]'")
    solution = solve(problem, "osqp")
    assert solution.status == CONVERGED, solution.message
    excess = relative_loss_excess(problem, solution, optimum)
    assert 0 <= excess + 1e-15 and excess < 1e-3  # measured 2e-5 on a problem of this shape
    assert np.isfinite(certify(problem, solution.m).gap)


def test_clarabel_lands_closer(problem, optimum):
    pytest.importorskip("clarabel", reason="clarabel is in the 'qp' extra: pip install 'goldstar[qp]'")
    solution = solve(problem, "clarabel")
    assert solution.status == CONVERGED, solution.message
    excess = relative_loss_excess(problem, solution, optimum)
    assert -1e-15 <= excess < 1e-7  # measured 2e-9: an interior point method at tolerance 1e-8
    # yet not at the optimum record by record: the certificate says so
    assert not certify(problem, solution.m).passed


def test_torch_lbfgs_keeps_its_flaw(problem, optimum):
    pytest.importorskip("torch", reason="torch is an optional extra: pip install 'goldstar[torch]'")
    solution = solve(problem, "torch-lbfgs", device="cpu", max_steps=30)
    assert solution.status in (CONVERGED, LIMIT_REACHED)
    assert solution.device == "cpu"
    excess = relative_loss_excess(problem, solution, optimum)
    assert 0 < excess < 0.05  # measured 3e-4 after 50 steps on a problem of this shape
    # the clamp leaves multipliers far from the optimum: weights differ by more than 10% somewhere
    assert np.max(np.abs(solution.m - optimum.m) / optimum.m) > 0.1


def test_every_solver_returns_the_same_solution_type(problem):
    for name in ("osqp", "clarabel"):
        pytest.importorskip(name)
        solution = solve(problem, name)
        assert solution.m.shape == (problem.n,)
        assert np.all((solution.m >= problem.lower) & (solution.m <= problem.upper))
        assert solution.iterations > 0 and solution.seconds > 0


def test_a_solver_whose_package_is_missing_says_how_to_install_it(problem):
    register(SolverSpec(name="fake-qp", module="goldstar.solvers.osqp_", description="test",
                        defaults={}, requires=("no_such_package_xyz",), extra="qp"))
    try:
        with pytest.raises(SolverNotFound, match=r"pip install 'goldstar\[qp\]'"):
            solve(problem, "fake-qp")
    finally:
        SOLVERS.pop("fake-qp")
