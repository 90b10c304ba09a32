"""A hard band the records barely reach: its dual is huge, so at the usual last stage (rho = 1e16)
it is missed by more than the certificate's 1e-6 band widths although the problem is feasible.
The area is solved once more with the band objective's raised cap (rho_cap = 1e19) and certified
there; the cap is part of the objective, so a verify certifies at it (docs/band.md)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from goldstar.areas.problem import AreaSettings, only_hard_bands_missed, solve_area
from goldstar.certificate import certify
from goldstar.exceptions import InputError
from goldstar.problem.model import Problem
from goldstar.problem.objectives import Band, objective_from_dict
from goldstar.problem.objectives.band import RHO_CAP, RHO_CAP_MAX, rho_stages
from goldstar.solvers.solve import solve

N = 100_000
UPPER = 50.0


def barely_reachable() -> Problem:
    """Every record must sit near the box's top for the count to reach its band: the count's
    dual is about -2 (49.9 - 1) t, ~ -4.9e8, so at rho = 1e16 its band is missed by ~2.4e-6
    widths (|y| / (2 rho) over a width of 2 eps t / t = 0.01), at 1e19 by ~2.4e-9."""
    rng = np.random.default_rng(3)
    amount = rng.lognormal(8, 1, N)
    A = sp.csr_matrix(np.column_stack([np.ones(N), amount]))
    eps = 0.005
    count = 49.9 * N / (1 - eps)  # the band's low edge asks x = 49.9 of every record
    total = 49.9 * amount.sum()
    return Problem.from_arrays(A, np.ones(N), [count, total], lower=0.0, upper=UPPER,
                               target_names=["count", "amount"], objective=Band(eps=eps))


def test_the_usual_last_stage_misses_the_band_and_the_raised_cap_certifies():
    problem = barely_reachable()
    settings = AreaSettings(upper=UPPER)
    solved, sol, cert = solve_area(problem, settings, None)
    assert solved.objective.rho_cap == RHO_CAP_MAX
    assert sol.success and cert.passed
    assert cert.max_band_violation <= 1e-6
    # the usual stage alone: the exact optimum there (fixed point and gap pass), the band missed
    at_usual = solve(problem, settings.solver)
    usual = certify(problem, at_usual.m, at_usual.y)
    assert not usual.passed and only_hard_bands_missed(usual)
    assert usual.max_band_violation > 1e-6
    # the certificate reads the cap from the objective: the raised answer checked at the usual cap fails
    assert not certify(problem, sol.m, sol.y).passed


def test_a_problem_certified_at_the_usual_cap_is_not_solved_again():
    rng = np.random.default_rng(4)
    A = sp.csr_matrix(rng.lognormal(3, 1, (2000, 3)))
    w0 = np.ones(2000)
    t = (A.T @ w0) * np.array([1.02, 0.98, 1.01])
    problem = Problem.from_arrays(A, w0, t, lower=0.0, upper=25.0, objective=Band())
    solved, sol, cert = solve_area(problem, AreaSettings(), None)
    assert cert.passed and solved is problem and solved.objective.rho_cap == RHO_CAP


def test_the_cap_is_a_parameter_of_the_objective():
    assert "rho_cap" not in Band().as_dict()  # a default problem's hash is what it was
    raised = Band(rho_cap=RHO_CAP_MAX)
    assert objective_from_dict(raised.as_dict()) == raised
    assert raised.hash_items()[0][1] is not None and raised.as_dict()["rho_cap"] == RHO_CAP_MAX
    with pytest.raises(InputError, match="rho_cap"):
        Band(rho_cap=1e17)
    rho = np.array([1e8, 1e15, 1e30])
    usual, more = rho_stages(rho, True), rho_stages(rho, True, RHO_CAP_MAX)
    assert [s.max() for s in usual] == [1e10, 1e13, 1e16]
    assert [s.max() for s in more] == [1e10, 1e13, 1e16, 1e19]
    assert np.array_equal(more[-1], [1e8, 1e15, 1e19])
