"""`solve(problem, method, **options) -> Solution`: the one entry point to every solver."""

from __future__ import annotations

import time
from typing import Any

from .exceptions import InputError
from .problem import Problem
from .solvers import SOLVERS, Solution, get_solver
from .solvers.base import ProgressFn


def solve(
    problem: Problem,
    method: str = "newton",
    *,
    progress: ProgressFn | None = None,
    **options: Any,
) -> Solution:
    """Solve `problem` with the named method; options are the method's own (see SOLVERS).

    Unknown options raise InputError rather than being ignored: a reference run
    must be reproducible from what it recorded. Not converging is not an
    error: it comes back as `Solution.status` and `Solution.message`. The
    returned loss and pg are recomputed here from the problem in float64 numpy,
    whatever backend solved it.
    """
    spec = get_solver(method)
    if problem.objective.name not in spec.objectives:
        fits = sorted(name for name, other in SOLVERS.items() if problem.objective.name in other.objectives)
        raise InputError(
            f"solver {method!r} solves the {', '.join(spec.objectives)} objective, not "
            f"{problem.objective.name!r}; solvers for {problem.objective.name!r}: {', '.join(fits)}"
        )
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise InputError(
            f"unknown option(s) for solver {method!r}: {', '.join(unknown)}; "
            f"its options are: {', '.join(sorted(spec.defaults))}"
        )
    run = spec.load()
    start = time.perf_counter()
    solution = run(problem, {**spec.defaults, **options}, progress)
    solution.seconds = time.perf_counter() - start
    solution.m = problem.check_multipliers(solution.m, f"{method} solution")
    solution.loss = problem.loss(solution.m)
    solution.pg = problem.pg(solution.m)
    return solution
