"""`newton`: the exact dual semismooth Newton solver on numpy/scipy (float64, CPU).

The algorithm lives in newton_core; this module supplies its numpy kernels.
H is kept between iterations and moved by the records whose free/clipped status
changed (a rank-k update), rebuilt from scratch only when many changed: late
iterations touch few records, so they cost little more than two sparse
products.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from ..exceptions import InputError
from ..problem import Problem
from .base import ProgressFn, Solution
from .newton_core import HessianUpdates, newton_dual

class NumpyKernels(HessianUpdates):
    """Sparse products and the generalized Jacobian H on scipy CSR matrices."""

    def __init__(self, problem: Problem, rebuild_fraction: float = 0.5) -> None:
        self.B = problem.B
        self.BT = problem.B.T.tocsr()
        self.G = sp.csr_matrix(sp.diags(1.0 / np.sqrt(problem.lam)) @ problem.B)
        self.c = problem.c
        self.lam = problem.lam
        self.lower = problem.lower
        self.upper = problem.upper
        self.rebuild_fraction = rebuild_fraction
        self.rebuilds = 0
        self.updates = 0

    def Bmul(self, y: np.ndarray) -> np.ndarray:
        return self.B @ y

    def BTmul(self, m: np.ndarray) -> np.ndarray:
        return self.BT @ m

    def _gram(self, rows: np.ndarray) -> np.ndarray:
        Gs = self.G[rows]
        return (Gs.T @ Gs).toarray()

    def _where(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask)

    def _identity(self) -> np.ndarray:
        return np.eye(self.B.shape[1])

    def solve(self, H: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        try:
            factor = la.cho_factor(H, lower=True, check_finite=False)
            return la.cho_solve(factor, rhs, check_finite=False)
        except la.LinAlgError:
            # H >= I in exact arithmetic; rounding in a huge entry can still
            # spoil the factorization. A symmetric solve is slower but safe.
            return la.solve(H, rhs, assume_a="sym", check_finite=False)

    def scalar(self, x: Any) -> float:
        return float(x)

    def count(self, mask: np.ndarray) -> int:
        return int(np.count_nonzero(mask))


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    start = time.perf_counter()
    k = NumpyKernels(problem, rebuild_fraction=float(options["rebuild_fraction"]))
    y0 = options["y0"]
    y0 = np.zeros(problem.J) if y0 is None else dual_start(y0, problem.J)
    result = newton_dual(
        k, y0, tol=float(options["tol"]), max_iter=int(options["max_iter"]),
        progress=progress, time_limit=options["time_limit"],
    )
    return Solution(
        method="newton",
        m=result.state.m,
        y=result.state.y,
        loss=float("nan"),
        pg=float("nan"),
        iterations=result.iterations,
        seconds=time.perf_counter() - start,
        status=result.status,
        message=result.message,
        history=result.history,
        options={**options, "hessian_rebuilds": k.rebuilds, "hessian_updates": k.updates},
    )


def dual_start(values: Any, length: int) -> np.ndarray:
    """The `y0` option as a float64 vector, or an InputError saying what it must be."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.shape != (length,) or not np.all(np.isfinite(arr)):
        raise InputError(f"`y0` must be {length} finite numbers (one per target)")
    return arr
