"""`osqp`: ADMM on the augmented QP (goldstar.solvers.qp_form), as the notes ran it.

A first-order method: it closes the duality gap slowly and, on this problem's
spread of lam, stops far from the optimum in individual weights.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import osqp
import scipy.sparse as sp

from ..problem.model import Problem
from .base import CONVERGED, LIMIT_REACHED, ProgressFn, Solution
from .qp_form import augmented_qp


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    start = time.perf_counter()
    qp = augmented_qp(problem)
    bounds_rows = sp.hstack([sp.identity(qp.n, format="csc"), sp.csc_matrix((qp.n, qp.J))], format="csc")
    A = sp.vstack([qp.E, bounds_rows], format="csc")
    lower = np.concatenate([problem.penalized.c, np.full(qp.n, problem.lower)])
    upper = np.concatenate([problem.penalized.c, np.full(qp.n, problem.upper)])
    settings = {
        "eps_abs": float(options["eps_abs"]), "eps_rel": float(options["eps_rel"]),
        "max_iter": int(options["max_iter"]), "polishing": bool(options["polish"]), "verbose": False,
    }
    if options["time_limit"] is not None:
        settings["time_limit"] = float(options["time_limit"])
    solver = osqp.OSQP()
    solver.setup(qp.P, qp.q, A, lower, upper, **settings)
    result = solver.solve(raise_error=False)
    status_text = str(result.info.status)
    solved = status_text.lower() == "solved"
    x = np.asarray(result.x, dtype=np.float64)
    m = np.clip(x[: qp.n], problem.lower, problem.upper) if x.size else np.ones(qp.n)
    return Solution(
        method="osqp", m=m, y=None, loss=float("nan"), pg=float("nan"),
        iterations=int(result.info.iter), seconds=time.perf_counter() - start,
        status=CONVERGED if solved else LIMIT_REACHED,
        message=f"OSQP: {status_text}" + (f", polish {result.info.status_polish}" if options["polish"] else ""),
        history=[], options=dict(options),
    )
