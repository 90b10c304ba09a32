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
