"""The two steps `goldstar build` and `goldstar solve` run, as functions: the command line and the
Python API (goldstar.api) call these, so both give the same problem and bit for bit the same weights.

- `build`: records and targets (paths or DataFrames) -> the Problem under its objective, with the
  band pre-pass applied (goldstar.problem.prepass), what the build did, and problem.json's metadata.
  Warnings are collected, never printed: the caller decides.
- `solve_certified`: the problem -> the solver's answer and its certificate (the exact solver of
  the objective unless another is named).

What the command line adds (printing, writing a problem directory or a Parquet file) stays in
goldstar.cli; a problem written by `build` and read back is the same problem (goldstar.store.layout
round-trips bit for bit), so solving it in memory or from the directory gives the same weights.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .certificate import certify
from .inputs.build import BuildInfo
from .inputs.assemble import build_with_objective
from .problem.model import Problem
from .problem.objectives import objective_from_dict
from .problem.objectives.penalized import Penalized
from .problem.validate import check_bounds
from .problem.prepass import Prepass
from .solvers import Solution
from .solvers.base import ProgressFn
from .solvers.solve import check_options, exact_solver, solve

Table = str | os.PathLike[str] | pd.DataFrame | None


@dataclass
class Built:
    """A built problem and what the build did."""

    problem: Problem
    info: BuildInfo
    inputs: dict[str, dict[str, str]]  # role -> {file, hash[, adapter]}
    metadata: dict[str, Any]  # problem.json's metadata: inputs, build, source, prepass, engine
    prepass: Prepass | None
    seconds: float
    warnings: list[str] = field(default_factory=list)


def build(
    records: Table,
    targets: Table,
    year: int,
    *,
    objective: dict[str, Any] | None,
    penalty: float,
    lower: float,
    upper: float,
    engine: str | None = None,
    engine_options: dict[str, Any] | None = None,
    source: str = "goldstar build",
) -> Built:
    """Build the problem as `goldstar build` does. `objective`: the stored spec of a non-default
    objective ({"name": "band", ...}), validated before any work; None: penalized with `penalty`."""
    parsed = objective_from_dict(objective) if objective is not None else None
    # the box and the objective's own parameters, before the records are read
    (parsed or Penalized(penalty=penalty)).check_bounds(*check_bounds(lower, upper))
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problem, info, inputs, prepass = build_with_objective(
            records, targets, year, objective=parsed, penalty=penalty, lower=lower, upper=upper,
            engine=engine, engine_options=engine_options,
        )
    metadata: dict[str, Any] = {"inputs": inputs, "build": info.metadata(), "source": source}
    if prepass is not None:
        metadata["prepass"] = prepass.as_dict()
    if info.engine is not None:
        metadata["engine"] = info.engine
    return Built(problem, info, inputs, metadata, prepass, time.perf_counter() - start,
                 [str(w.message) for w in caught])


def solve_certified(
    problem: Problem,
    method: str | None = None,
    options: dict[str, Any] | None = None,
    *,
    progress: ProgressFn | None = None,
) -> tuple[Solution, Any]:
    """Solve as `goldstar solve` does (default: the exact solver of the objective) and certify
    the answer (any dual point gives a valid gap: weak duality). Not converging is no error here:
    it is the solution's status, and the certificate says whether the answer is the optimum."""
    method = method or exact_solver(problem)
    checked = check_options(method, dict(options or {}))
    solution = solve(problem, method, progress=progress, **checked)
    return solution, certify(problem, solution.m, solution.y)
