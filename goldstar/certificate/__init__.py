"""`certify(problem, m)`: is m the optimum of the problem's objective? One registry, one entry
per objective, each in its own module:

- penalized: goldstar.certificate.penalized (docs/penalized.md)
- band:      goldstar.certificate.band (docs/band.md)

Each certificate costs about one Newton step, runs in float64 numpy on any
machine, names the record where the stored answer is worst, and owns its
pass/fail checks (`failures()`): verify reports them, it does not re-judge.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .band import BandCertificate, certify_band
from .checks import BOUND_TOL, FIXED_POINT_TOL, GAP_RTOL
from .penalized import Certificate, certify_penalized, per_record_gap
from ..problem.model import Problem

CERTIFIERS: dict[str, Callable[..., Any]] = {"penalized": certify_penalized, "band": certify_band}


def certify(problem: Problem, m: np.ndarray, y: np.ndarray | None = None) -> Certificate | BandCertificate:
    """The certificate of m for the problem's objective; `y` a stored dual where one helps."""
    return CERTIFIERS[problem.objective.name](problem, m, y)


__all__ = [
    "BOUND_TOL", "BandCertificate", "CERTIFIERS", "Certificate", "FIXED_POINT_TOL", "GAP_RTOL",
    "certify", "per_record_gap",
]
