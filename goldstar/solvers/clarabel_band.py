"""`clarabel-band` and `clarabel-tmd`: Clarabel on the band objective with its slack kept explicit.

Variables z = [x (n); s_lo (J); s_hi (J)] over the kept targets (goldstar.problem.objectives.band):

    minimize   sum (x - 1)^2 + sum M_j (s_lo_j^2 + s_hi_j^2)
    subject to l <= C x + D (s_lo - s_hi) <= u,   lower <= x <= upper,   s >= 0

D follows the objective's slack units: I for `relative` (rho = M), and
diag(1/ts) in `target` units, TMD's exact construction (tmd/utils/reweight.py:
every row, slack columns included, divided by ts, so the slack is in dollars
or counts and rho = M ts^2). x is clipped to the box afterwards, as TMD does.

- `clarabel-band`: goldstar's tight settings (1e-8 tolerances).
- `clarabel-tmd`: TMD's settings (max_iter 1000, tol_gap_abs = tol_gap_rel =
  tol_feas = 1e-7). TMD does not check the status; goldstar reports it, and any
  status other than Solved is not `converged` (a prototype: PrimalInfeasible on a
  problem that is always feasible).
"""

from __future__ import annotations

import time
from typing import Any

import clarabel
import numpy as np
import scipy.sparse as sp

from ..problem.model import Problem
from .base import CONVERGED, LIMIT_REACHED, ProgressFn, Solution
from .clarabel_ import clarabel_settings


def _run(problem: Problem, options: dict[str, Any], method: str, slack_scale: np.ndarray) -> Solution:
    """Clarabel on the module docstring's QP with slack columns scaled by `slack_scale`."""
    start = time.perf_counter()
    form = problem.form
    n, J = problem.n, form.J
    P = sp.diags(np.concatenate([np.full(n, 2.0), 2.0 * form.M, 2.0 * form.M])).tocsc()
    q = np.concatenate([np.full(n, -2.0), np.zeros(2 * J)])
    D = sp.diags(slack_scale)
    row = sp.hstack([form.C, D, -D], format="csc")
    eye_x = sp.hstack([sp.identity(n), sp.csc_matrix((n, 2 * J))], format="csc")
    eye_s = sp.hstack([sp.csc_matrix((2 * J, n)), sp.identity(2 * J)], format="csc")
    A = sp.vstack([row, -row, eye_x, -eye_x, -eye_s], format="csc")
    b = np.concatenate([form.u, -form.l, np.full(n, problem.upper), np.full(n, -problem.lower), np.zeros(2 * J)])
    solver = clarabel.DefaultSolver(sp.triu(P, format="csc"), q, A, b, [clarabel.NonnegativeConeT(A.shape[0])],
                                    clarabel_settings(options))
    result = solver.solve()
    status_text = str(result.status)
    x = np.clip(np.asarray(result.x, dtype=np.float64)[:n], problem.lower, problem.upper)
    return Solution(
        method=method, m=x, y=None, loss=float("nan"), pg=float("nan"),
        iterations=int(result.iterations), seconds=time.perf_counter() - start,
        status=CONVERGED if status_text == "Solved" else LIMIT_REACHED,
        message=f"Clarabel: {status_text}", history=[], options={**options, "clarabel_status": status_text},
    )


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    """The problem's own band objective: D = I for relative slack, diag(1/ts) in target units."""
    form = problem.form
    scale = 1.0 / form.ts if form.hard else np.ones(form.J)
    return _run(problem, options, "clarabel-band", scale)  # goldstar.solvers.solve names it as asked
