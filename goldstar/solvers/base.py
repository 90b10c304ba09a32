"""What every solver returns, and the registry that names the solvers.

A solver is a function `run(problem, options, progress) -> Solution` in its own
module; it is registered here by name with its option defaults, the import
names it needs and the pip extra that brings them. A solver whose package is
missing is absent, not broken: asking for it raises SolverNotFound saying how
to install it. Modules are imported only when their solver is asked for, so
`import goldstar` never pays for torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..exceptions import SolverNotFound

# Solution.status values
CONVERGED = 0
LIMIT_REACHED = 1  # iteration or time cap hit before the stopping rule held
FAILED = 2  # the method broke down (stalled line search, non-finite values)

STATUS_NAMES = {CONVERGED: "converged", LIMIT_REACHED: "limit reached", FAILED: "failed"}

ProgressFn = Callable[[Mapping[str, Any]], None]


@dataclass
class Solution:
    """One solver run: the multipliers, the dual where the method has one, and how it went.

    loss and pg are recomputed from the problem by `goldstar.solve`, never
    taken from the backend, so every solver is judged by the same float64
    numpy arithmetic.
    """

    method: str
    m: np.ndarray
    y: np.ndarray | None
    loss: float
    pg: float
    iterations: int
    seconds: float
    status: int
    message: str
    history: list[dict[str, float]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    @property
    def success(self) -> bool:
        return self.status == CONVERGED

    def summary(self) -> dict[str, Any]:
        """The scalar facts of this run, for tables, JSON and Parquet metadata."""
        return {
            "method": self.method,
            "status": STATUS_NAMES.get(self.status, str(self.status)),
            "message": self.message,
            "loss": self.loss,
            "pg": self.pg,
            "iterations": self.iterations,
            "seconds": self.seconds,
            "device": self.device,
            "options": {k: v for k, v in self.options.items() if _is_plain(v)},
        }


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


@dataclass(frozen=True)
class SolverSpec:
    """How to find and run one solver."""

    name: str
    module: str
    description: str
    defaults: Mapping[str, Any]
    requires: tuple[str, ...] = ()
    extra: str | None = None
    objectives: tuple[str, ...] = ("penalized",)  # the objectives this method solves

    def available(self) -> bool:
        return all(importlib.util.find_spec(name) is not None for name in self.requires)

    def load(self) -> Callable[..., Solution]:
        if not self.available():
            missing = [r for r in self.requires if importlib.util.find_spec(r) is None]
            raise SolverNotFound(
                f"solver {self.name!r} needs {', '.join(missing)}, which is not installed; "
                f"install it with: pip install 'goldstar[{self.extra}]'"
                + (" (see README for the torch pin)" if self.extra == "torch" else "")
                + f". Installed solvers: {', '.join(available_solvers())}"
            )
        return importlib.import_module(self.module).run


SOLVERS: dict[str, SolverSpec] = {}


def register(spec: SolverSpec) -> None:
    SOLVERS[spec.name] = spec


def available_solvers() -> list[str]:
    return sorted(name for name, spec in SOLVERS.items() if spec.available())


def get_solver(name: str) -> SolverSpec:
    try:
        return SOLVERS[name]
    except KeyError:
        raise SolverNotFound(
            f"unknown solver {name!r}; known solvers: {', '.join(sorted(SOLVERS))}"
        ) from None
