"""goldstar: exact, reproducible survey reweighting weights, with a certificate of optimality.

The math is in docs/penalized.md and docs/band.md; the layout of the package, stage by stage,
in docs/layout.md.

`import goldstar` is light: the exceptions and the version load now, every other name of the
API (below) when it is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .defaults import VERSION
from .exceptions import (
    GoldstarError, HashMismatch, InputError, ReferenceFormatError, SolverError,
    SolverNotFound, VerificationFailed,
)

__version__ = VERSION

# The API's names and the modules that hold them, loaded on first use (module __getattr__).
LAZY_EXPORTS = {
    "Problem": "goldstar.problem.model",
    "read_problem": "goldstar.store.layout",
    "write_problem": "goldstar.store.layout",
    "solve": "goldstar.solvers.solve",
    "SOLVERS": "goldstar.solvers",
    "Solution": "goldstar.solvers",
    "available_solvers": "goldstar.solvers",
    "Certificate": "goldstar.certificate",
    "certify": "goldstar.certificate",
    "reweight": "goldstar.api",
    "Result": "goldstar.api",
    "reweight_areas": "goldstar.areas.api",
    "AreasResult": "goldstar.areas.api",
}

__all__ = [
    "GoldstarError", "HashMismatch", "InputError", "ReferenceFormatError", "SolverError", "SolverNotFound",
    "VerificationFailed", "__version__", *LAZY_EXPORTS,
]


def __getattr__(name: str) -> Any:
    if name in LAZY_EXPORTS:
        value = getattr(importlib.import_module(LAZY_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'goldstar' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(LAZY_EXPORTS))
