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
    one for all. The cheap update of C x (KernelBase.fitted) keeps its running sums for the free
    records and those at the lower bound; the records at their own upper bound enter through one
    product, B^T((upper - 1) [at upper]) (a record whose bound equals the lower bound counts once,
    at the lower)."""

    def fitted(self, y: np.ndarray, free: np.ndarray, at_lower: np.ndarray, at_upper: np.ndarray) -> np.ndarray:
        if not hasattr(self, "_bound_sums"):
            self._ones_total = self.BTmul(self.lam * 0.0 + 1.0)
            self._bound_sums = {}
        S_lower = self._bound_sum("lower", at_lower)
        return (self._ones_total - self.gram(free) @ y + (self.lower - 1.0) * S_lower
                + self.BTmul((self.upper - 1.0) * (at_upper & ~at_lower)))


def run_capped(problem: Problem, upper: np.ndarray, options: dict[str, Any],
               progress: ProgressFn | None = None) -> Solution:
    """band-newton on `problem` (from x = 1, y = 0; `options` as band-newton's, checked by the
    caller) with record i's multiplier in [problem.lower, upper_i], each upper_i within the
    problem's box. As band-newton's Solution: m, y, status and history (loss and pg are NaN).
    ValueError naming the first record whose bound is outside the box."""
    upper = np.asarray(upper, dtype=np.float64)
    if upper.shape != (problem.n,):
        raise ValueError(f"upper: {problem.n} bounds expected, got an array of shape {upper.shape}")
    bad = np.flatnonzero(~((upper >= problem.lower) & (upper <= problem.upper)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"upper: record {problem.record_ids[i]} (row {i}) has bound {float(upper[i])!r}, outside the "
                         f"box [{problem.lower:g}, {problem.upper:g}] ({bad.size} such records)")
    form = problem.form
    k = PerRecordCap(form.CT, np.full(problem.n, 2.0), problem.lower, upper,
                     rebuild_fraction=float(options["rebuild_fraction"]), BT=form.C)
    return run_band(k, problem, {**options, "x0": None}, progress, "band-newton")
