"""`solve(problem, method, **options) -> Solution`: the one entry point to every solver."""

from __future__ import annotations

import time
from typing import Any

from ..exceptions import InputError
from ..problem.model import Problem, check_problem
from . import EXACT_SOLVERS, SOLVERS, Solution, get_solver
from .base import ProgressFn


def exact_solver(problem: Problem) -> str:
    """The exact numpy solver of the problem's objective (goldstar.solvers.EXACT_SOLVERS)."""
    return EXACT_SOLVERS["numpy"][problem.objective.name]


def check_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options of solver `method`, checked (see solve); for callers that check before long work."""
    return get_solver(method).check_options(options)


def solve(
    problem: Problem,
    method: str | None = None,
    *,
    progress: ProgressFn | None = None,
    **options: Any,
) -> Solution:
    """Solve `problem` with the named method (default: the exact solver of its objective,
    `newton` or `band-newton`); options are the method's own (see SOLVERS).

    Unknown options raise InputError rather than being ignored: a reference run
    must be reproducible from what it recorded. Every option is checked
    against its spec (type and range, goldstar.solvers.base.Option) before
    anything runs: a bad value raises InputError naming the solver, the
    option, the value and what is allowed. Not converging is not an
    error: it comes back as `Solution.status` and `Solution.message`. The
    returned loss and pg are recomputed here from the problem in float64 numpy,
    whatever backend solved it.
    """
    check_problem(problem, "solve")
    if progress is not None and not callable(progress):
        raise InputError(f"solve: progress must be a function of one dict, got {type(progress).__name__}")
    method = method or exact_solver(problem)
    spec = get_solver(method)
    if problem.objective.name not in spec.objectives:
        fits = sorted(name for name, other in SOLVERS.items() if problem.objective.name in other.objectives)
        raise InputError(
            f"solver {method!r} solves the {', '.join(spec.objectives)} objective, not "
            f"{problem.objective.name!r}; solvers for {problem.objective.name!r}: {', '.join(fits)}"
        )
    options = spec.check_options(options)
    run = spec.load()
    start = time.perf_counter()
    solution = run(problem, {**spec.defaults, **options}, progress)
    solution.seconds = time.perf_counter() - start
    solution.method = method  # one module may serve several registered names
    solution.m = problem.check_multipliers(solution.m, f"{method} solution")
    solution.loss = problem.loss(solution.m)
    solution.pg = problem.pg(solution.m)
    return solution
