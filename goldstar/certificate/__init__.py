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
from ..exceptions import InputError
from ..problem.model import Problem, check_problem

CERTIFIERS: dict[str, Callable[..., Any]] = {"penalized": certify_penalized, "band": certify_band}


def certify(problem: Problem, m: np.ndarray, y: np.ndarray | None = None) -> Certificate | BandCertificate:
    """The certificate of m for the problem's objective; `y` a stored dual where one helps (one
    entry a target). InputError for a problem that is none, or m or y of the wrong size."""
    check_problem(problem, "certify")
    m = problem.check_multipliers(m, "m")
    if y is not None:  # NaN entries are allowed: a solver without a dual for a target leaves it NaN
        y = np.asarray(y, dtype=np.float64).ravel()
        if y.shape[0] != problem.J:
            raise InputError(f"y has {y.shape[0]} entries but the problem has {problem.J} targets")
    return CERTIFIERS[problem.objective.name](problem, m, y)


__all__ = [
    "BOUND_TOL", "BandCertificate", "CERTIFIERS", "Certificate", "FIXED_POINT_TOL", "GAP_RTOL",
    "certify", "per_record_gap",
]
