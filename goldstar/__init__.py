"""goldstar: exact, reproducible survey reweighting weights, with a certificate of optimality.

The math is in docs/penalized.md and docs/band.md and, in short, in goldstar.problem's docstring.
"""

from __future__ import annotations

from .certificate import Certificate, certify
from .exceptions import (
    GoldstarError, HashMismatch, InputError, ReferenceFormatError, SolverError,
    SolverNotFound, VerificationFailed,
)
from .layout import read_problem, write_problem
from .problem import Problem
from .solve import solve
from .solvers import SOLVERS, Solution, available_solvers

__version__ = "0.1.0"

__all__ = [
    "Certificate", "GoldstarError", "HashMismatch", "InputError", "Problem",
    "ReferenceFormatError", "SOLVERS", "Solution", "SolverError", "SolverNotFound",
    "VerificationFailed", "__version__", "available_solvers", "certify",
    "read_problem", "solve", "write_problem",
]
