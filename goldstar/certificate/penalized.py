"""The certificate of the penalized objective (docs/penalized.md): a stored answer checked, record by
record, at the cost of about one Newton iteration, in float64 numpy on any machine.

Given multipliers m_hat for a Problem (notation of goldstar.problem.model):

1. y_hat = B^T m_hat - c, the residual m_hat leaves.
2. y1 = y_hat - H(y_hat)^-1 F(y_hat): one dual Newton step. y_hat is already
   in Newton's quadratic region, so y1 is y* to the float64 floor.
3. Fixed-point error e_i = |m_hat_i - m_i(y1)| / m_i(y1): the optimum
   reproduces itself. Without step 2 the noise floor is ||F|| |b_i| / lam_i,
   far too coarse for the smallest-lam records.
4. Duality gap f(m_hat) - D(y) for a dual point y. Weak duality makes it an
   upper bound on f(m_hat) - f(m*) for every y, so the certificate evaluates
   it at y_hat (docs/penalized.md) and at y1 and keeps the smaller. Written as
       f(m_hat) - D(y) = ||r - y||^2 + sum_i delta_i(y),   r = B^T m_hat - c,
   with every term >= 0, it is summed without cancelling two large numbers
   (at y = y_hat the first term vanishes). y1 matters on small problems:
   there H(y) has eigenvalues up to ~1e14, so the 1e-12 float64 floor of
   y_hat - y* alone shows up as a gap of ~1e-13.
5. Proven bounds: f(m_hat) - f(m*) <= gap, and by strong convexity
   (f(m) - f(m*) >= sum_i lam_i (m_i - m*_i)^2)
   |m_hat_i - m*_i| <= sqrt(gap / lam_i).
6. The projected gradient pg(m_hat) and the bound violation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import Check
from .checks import BOUND_TOL, FIXED_POINT_TOL, GAP_RTOL, Checked, bound_check, fixed_point_check, gap_check
from ..problem.model import Problem
from ..solvers.newton import NumpyKernels
from ..solvers.newton_core import dual_state, multipliers, newton_step


@dataclass(frozen=True)
class Certificate(Checked):
    """How far stored multipliers are from the optimum, with the record where it is worst."""

    n: int
    loss: float
    dual_value: float
    gap: float
    gap_at_residual: float
    fixed_point_error: float
    worst_record: int
    worst_record_id: int
    bound_max_relative: float
    bound_median_relative: float
    bound_worst_record_id: int
    pg: float
    bound_violation: float
    newton_F_inf: float

    def checks(self) -> list[Check]:
        """The pass/fail checks, each with its figure, threshold and the record at fault."""
        return [
            fixed_point_check(self.fixed_point_error, FIXED_POINT_TOL, self.worst_record_id, self.worst_record),
            gap_check(self.gap, GAP_RTOL, self.loss, "loss"),
            bound_check(self.bound_violation, BOUND_TOL),
        ]

    def reported(self) -> dict[str, str]:
        """Figures shown beside the checks, judged by nothing."""
        return {
            "proven weight bound": f"max {self.bound_max_relative:.3g}, median {self.bound_median_relative:.3g}",
            "projected gradient": f"{self.pg:.3g}",
        }

    def thresholds(self) -> dict[str, float]:
        return {"fixed_point_error": FIXED_POINT_TOL, "gap_relative_to_loss": GAP_RTOL, "bound_violation": BOUND_TOL}


def per_record_gap(problem: Problem, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """delta_i = lam_i (m_i - 1)^2 + 2 s_i m_i - g_i(s_i) with s = B y.

    With mc = m_i(y) the minimizer inside g_i, this is
    delta_i = (m_i - mc) (lam_i (m_i + mc - 2) + 2 s_i): no division, and
    exactly 0 when m_i = mc. It is >= 0 for feasible m; rounding can leave a
    tiny negative, which is kept (honest) but cannot hide a positive gap.
    """
    mc = np.clip(1.0 - s / problem.penalized.lam, problem.lower, problem.upper)
    return (m - mc) * (problem.penalized.lam * (m + mc - 2.0) + 2.0 * s)


def certify_penalized(problem: Problem, m: np.ndarray, y: np.ndarray | None = None) -> Certificate:
    """Check `m` against the optimum of `problem` as the module docstring describes.

    `y` (a stored dual) is not needed: the residual B^T m - c is the dual point here."""
    m = problem.check_multipliers(m)
    k = NumpyKernels.penalized(problem)
    y_hat = problem.penalized.residual(m)
    state = dual_state(k, y_hat)
    y1 = y_hat + newton_step(k, state)
    s1 = k.Bmul(y1)
    m1 = multipliers(k, s1)
    e = np.abs(m - m1) / m1
    worst = int(np.argmax(e))

    gap_at_residual = float(np.sum(per_record_gap(problem, m, state.s)))
    miss = y_hat - y1
    gap_at_newton = float(miss @ miss + np.sum(per_record_gap(problem, m, s1)))
    gap = min(gap_at_residual, gap_at_newton)
    loss = float(y_hat @ y_hat + problem.penalized.lam @ ((m - 1.0) ** 2))
    bound = np.sqrt(max(gap, 0.0) / problem.penalized.lam) / m
    worst_bound = int(np.argmax(bound))
    return Certificate(
        n=problem.n,
        loss=loss,
        dual_value=loss - gap,
        gap=gap,
        gap_at_residual=gap_at_residual,
        fixed_point_error=float(e[worst]),
        worst_record=worst,
        worst_record_id=int(problem.record_ids[worst]),
        bound_max_relative=float(bound[worst_bound]),
        bound_median_relative=float(np.median(bound)),
        bound_worst_record_id=int(problem.record_ids[worst_bound]),
        pg=problem.pg(m),
        bound_violation=problem.bound_violation(m),
        newton_F_inf=state.Fnorm,
    )
