"""`clarabel`: an interior-point method on the augmented QP (goldstar.solvers.qp_form).

Interior-point methods reach high accuracy in few iterations, but each
iteration factors an (n + J)-sized KKT system; the certificate says how
close its answer is to the optimum.
"""

from __future__ import annotations

import time
from typing import Any

import clarabel
import numpy as np
import scipy.sparse as sp

from ..problem.model import Problem
from .base import CONVERGED, LIMIT_REACHED, ProgressFn, Solution
from .qp_form import augmented_qp


def clarabel_settings(options: dict[str, Any]) -> Any:
    """Clarabel's settings from a solver's options (tolerances, iteration and time caps), quiet."""
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = float(options["tol_gap_abs"])
    settings.tol_gap_rel = float(options["tol_gap_rel"])
    settings.tol_feas = float(options["tol_feas"])
    settings.max_iter = int(options["max_iter"])
    if options["time_limit"] is not None:
        settings.time_limit = float(options["time_limit"])
    return settings


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    start = time.perf_counter()
    qp = augmented_qp(problem)
    eye = sp.identity(qp.n, format="csc")
    zeros = sp.csc_matrix((qp.n, qp.J))
    A = sp.vstack([qp.E, sp.hstack([eye, zeros]), sp.hstack([-eye, zeros])], format="csc")
    b = np.concatenate([problem.penalized.c, np.full(qp.n, problem.upper), np.full(qp.n, -problem.lower)])
    cones = [clarabel.ZeroConeT(qp.J), clarabel.NonnegativeConeT(2 * qp.n)]
    solver = clarabel.DefaultSolver(sp.triu(qp.P, format="csc"), qp.q, A, b, cones, clarabel_settings(options))
    result = solver.solve()
    status_text = str(result.status)
    solved = status_text == "Solved"
    m = np.clip(np.asarray(result.x, dtype=np.float64)[: qp.n], problem.lower, problem.upper)
    return Solution(
        method="clarabel", m=m, y=None, loss=float("nan"), pg=float("nan"),
        iterations=int(result.iterations), seconds=time.perf_counter() - start,
        status=CONVERGED if solved else LIMIT_REACHED, message=f"Clarabel: {status_text}",
        history=[], options=dict(options),
    )
