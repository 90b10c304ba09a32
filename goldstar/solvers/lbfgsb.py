"""`lbfgsb`: scipy's L-BFGS-B on the objective with its analytic gradient, as TMD's notes ran it.

For the band objective it minimizes Q at the form's rho_final (C^1, box-constrained).

The defaults are the notes' rule (stop when the projected gradient is below
1e-5); the gold-star pipeline runs it tighter as its first stage. However
tight, a first-order method leaves an error that depends on its path
(docs/tolerances.md), which is why newton polishes its answer.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy.optimize import minimize

from ..problem.model import Problem
from .base import CONVERGED, LIMIT_REACHED, ProgressFn, Solution

def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    start = time.perf_counter()
    m0 = np.ones(problem.n) if options["m0"] is None else problem.check_multipliers(options["m0"], "m0")
    m0 = np.clip(m0, problem.lower, problem.upper)
    history: list[dict[str, float]] = []
    limit = options["time_limit"]

    fun = problem.form.value_and_grad

    def callback(intermediate_result: Any) -> None:
        entry = {
            "iteration": len(history) + 1,
            "seconds": time.perf_counter() - start,
            "loss": float(intermediate_result.fun),
        }
        history.append(entry)
        if progress is not None:
            progress(entry)
        if limit is not None and entry["seconds"] > limit:
            raise StopIteration

    result = minimize(
        fun, m0, jac=True, method="L-BFGS-B",
        bounds=[(problem.lower, problem.upper)] * problem.n,
        callback=callback,
        options={
            "gtol": float(options["gtol"]),
            "ftol": float(options["ftol"]),
            "maxiter": int(options["maxiter"]),
            "maxfun": 10 * int(options["maxiter"]) + 100,
            "maxcor": int(options["maxcor"]),
        },
    )
    timed_out = limit is not None and time.perf_counter() - start > limit and not result.success
    status = CONVERGED if result.success else LIMIT_REACHED
    message = f"time limit {limit} s reached" if timed_out else str(result.message)
    return Solution(
        method="lbfgsb",
        m=np.clip(np.asarray(result.x, dtype=np.float64), problem.lower, problem.upper),
        y=None,
        loss=float("nan"),
        pg=float("nan"),
        iterations=int(result.nit),
        seconds=time.perf_counter() - start,
        status=status,
        message=message,
        history=history,
        options=dict(options),
    )
