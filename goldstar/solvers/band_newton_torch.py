"""`band-newton-torch`: band-newton on torch float64 tensors, CUDA or CPU.

band_core runs the identical steps; the kernels are newton_torch's over
B := C^T and lam := 2. Rounding differs from numpy's by reduction order,
which at the exact optimum moves x by ~1e-11 (the verifier's rtol is 1e-9).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..problem.model import Problem
from .band_core import run_band
from .base import ProgressFn, Solution
from .newton_torch import TorchKernels, describe_device, resolve_device


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    device = resolve_device(str(options["device"]))
    form = problem.form
    k = TorchKernels(form.CT, np.full(problem.n, 2.0), problem.lower, problem.upper, device,
                     rebuild_fraction=float(options["rebuild_fraction"]))
    return run_band(k, problem, options, progress, "band-newton-torch",
                    to_numpy=lambda a: a.cpu().numpy(), device=describe_device(device))
