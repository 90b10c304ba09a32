"""What every solver returns, and the registry that names the solvers.

A solver is a function `run(problem, options, progress) -> Solution` in its own
module; it is registered here by name with its options (each an `Option`: its
default, its type and its allowed range), the import names it needs and the
pip extra that brings them. A solver whose package is
missing is absent, not broken: asking for it raises SolverNotFound saying how
to install it. Modules are imported only when their solver is asked for, so
`import goldstar` never pays for torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..exceptions import InputError, SolverNotFound

# Solution.status values
CONVERGED = 0
LIMIT_REACHED = 1  # iteration or time cap hit before the stopping rule held
FAILED = 2  # the method broke down (stalled line search, non-finite values)

STATUS_NAMES = {CONVERGED: "converged", LIMIT_REACHED: "limit reached", FAILED: "failed"}

ProgressFn = Callable[[Mapping[str, Any]], None]


@dataclass
class Solution:
    """One solver run: the multipliers, the dual where the method has one, and how it went.

    loss and pg are recomputed from the problem by `goldstar.solvers.solve`, never
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


KINDS = ("float", "int", "bool", "str", "vector", "any")


@dataclass(frozen=True)
class Option:
    """One solver option: its default, its type and the values allowed.

    kind: "float" (a finite number; ints are taken as floats), "int" (an
    integer; a float with an integral value is taken), "bool", "str",
    "vector" (a list or array; the solver checks its length and values) or
    "any" (not checked). `low`/`high` bound a number, inclusive unless
    `low_open`/`high_open`; `allow_none` admits None (e.g. "no time limit");
    `choices` lists the allowed strings. bool is never taken as a number.
    """

    default: Any
    kind: str
    low: float | None = None
    high: float | None = None
    allow_none: bool = False
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Option kind {self.kind!r} is not one of {KINDS}")

    @classmethod
    def like(cls, default: Any) -> "Option":
        """The spec a bare default implies: its type, any value of it (None: anything)."""
        if isinstance(default, bool):
            return cls(default, "bool")
        if isinstance(default, int):
            return cls(default, "int")
        if isinstance(default, float):
            return cls(default, "float")
        if isinstance(default, str):
            return cls(default, "str")
        return cls(default, "any", allow_none=True)

    def allowed(self) -> str:
        """What the option accepts, in words, for error messages."""
        what = {"float": "a finite number", "int": "an integer", "bool": "true or false",
                "str": "a string", "vector": "a list of numbers", "any": "any value"}[self.kind]
        if self.choices:
            what = "one of " + ", ".join(repr(c) for c in self.choices)
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        if bounds:
            what += " " + " and ".join(bounds)
        return ("null (None) or " if self.allow_none else "") + what

    def check(self, solver: str, name: str, value: Any) -> Any:
        """`value` in the option's type, or an InputError naming solver, option, value and what is allowed."""
        if value is None and (self.allow_none or self.kind == "any"):
            return None
        ok, converted = self._convert(value)
        if ok and self.kind in ("float", "int"):
            ok = (
                (self.low is None or (converted > self.low if self.low_open else converted >= self.low))
                and (self.high is None or (converted < self.high if self.high_open else converted <= self.high))
            )
        if ok and self.choices is not None:
            ok = converted in self.choices
        if not ok:
            raise InputError(
                f"solver {solver!r}: option `{name}` = {value!r} is not allowed; it must be {self.allowed()}"
            )
        return converted

    def _convert(self, value: Any) -> tuple[bool, Any]:
        if self.kind == "any":
            return True, value
        if self.kind == "bool":
            return isinstance(value, (bool, np.bool_)), bool(value) if isinstance(value, (bool, np.bool_)) else None
        if self.kind == "str":
            return isinstance(value, str), value
        if self.kind == "vector":
            return isinstance(value, (list, tuple, np.ndarray)), value
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False, None
        if not math.isfinite(float(value)):
            return False, None
        if self.kind == "int":
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                return False, None
            return True, int(value)
        return True, float(value)


def option_specs(options: Mapping[str, Any]) -> dict[str, Option]:
    """Options given as Option specs or bare defaults, all as Option specs (Option.like)."""
    return {k: v if isinstance(v, Option) else Option.like(v) for k, v in options.items()}


def defaults_of(options: Mapping[str, Any]) -> dict[str, Any]:
    """The default values of options given as Option specs or bare defaults."""
    return {k: v.default if isinstance(v, Option) else v for k, v in options.items()}


@dataclass(frozen=True)
class SolverSpec:
    """How to find and run one solver.

    `defaults` maps each option to an `Option` (default, type, range) or to a
    bare default value, whose type is then the option's type (Option.like).
    After construction `defaults` holds the default values (what callers
    read) and `options` the specs that goldstar.solvers.solve checks every option by.
    """

    name: str
    module: str
    description: str
    defaults: Mapping[str, Any]
    requires: tuple[str, ...] = ()
    extra: str | None = None
    objectives: tuple[str, ...] = ("penalized",)  # the objectives this method solves
    options: Mapping[str, Option] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", option_specs(self.defaults))
        object.__setattr__(self, "defaults", defaults_of(self.defaults))

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """`options` checked against the specs: unknown names and bad values raise InputError."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise InputError(
                f"unknown option(s) for solver {self.name!r}: {', '.join(unknown)}; "
                f"its options are: {', '.join(sorted(self.options))}"
            )
        return {k: self.options[k].check(self.name, k, v) for k, v in options.items()}

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
