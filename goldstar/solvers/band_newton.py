"""`band-newton`: the exact method for the band objective on numpy/scipy (float64, CPU).

The algorithm is in band_core; the kernels are the penalized Newton's
(solvers/newton.py) over B := C^T and lam := 2, which is exactly the
structure of the band subproblems' dual (band_core's docstring).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..problem.model import Problem
from .band_core import run_band
from .base import ProgressFn, Solution
from .newton import NumpyKernels


def band_kernels(problem: Problem, rebuild_fraction: float = 0.5) -> NumpyKernels:
    form = problem.form
    return NumpyKernels(form.CT, np.full(problem.n, 2.0), problem.lower, problem.upper,
                        rebuild_fraction=rebuild_fraction, BT=form.C)


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    k = band_kernels(problem, float(options["rebuild_fraction"]))
    return run_band(k, problem, options, progress, "band-newton")


class PerRecordCap(NumpyKernels):
    """band-newton's kernels with an upper bound per record (a vector over the records) instead of
    one for all: the cheap update of C x (NumpyKernels.fitted) adds the records at their bound
    with each one's own bound, a product over those records."""

    def fitted(self, y: np.ndarray, free: np.ndarray, at_lower: np.ndarray, at_upper: np.ndarray) -> np.ndarray:
        if not hasattr(self, "_bound_sums"):
            self._ones_total = self.BTmul(self.lam * 0.0 + 1.0)
            self._bound_sums = {}
        S_lower = self._bound_sum("lower", at_lower)
        return (self._ones_total - self.gram(free) @ y + (self.lower - 1.0) * S_lower
                + self.BTmul((self.upper - 1.0) * at_upper))


def run_capped(problem: Problem, upper: np.ndarray, options: dict[str, Any],
               progress: ProgressFn | None = None) -> Solution:
    """band-newton on `problem` with record i's multiplier in [problem.lower, upper_i] (each
    upper_i between the lower bound and problem.upper)."""
    upper = np.asarray(upper, dtype=np.float64)
    if upper.shape != (problem.n,) or not (np.all(upper >= problem.lower) and np.all(upper <= problem.upper)):
        raise ValueError(f"upper: {problem.n} bounds in [{problem.lower:g}, {problem.upper:g}] expected")
    form = problem.form
    k = PerRecordCap(form.CT, np.full(problem.n, 2.0), problem.lower, upper,
                     rebuild_fraction=float(options["rebuild_fraction"]), BT=form.C)
    return run_band(k, problem, options, progress, "band-newton")
