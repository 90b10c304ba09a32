"""`goldstar.reweight`: exact, certified weights from Python, on the command line's own path.

    result = goldstar.reweight("cps.csv", None, year=2015, objective="penalized")
    result.weights          # pandas Series, indexed by record_id
    result.certificate.passed

It runs the two steps of `goldstar build` and `goldstar solve` (goldstar.workflow), so its
weights are bit for bit those of

    goldstar build --records cps.csv --engine cps --out P && goldstar solve P --out W.parquet

`Result.to_reference(path)` writes the gold-star reference as `goldstar goldstar` does
(goldstar.pipeline.make_reference: an L-BFGS-B stage, the exact polish, the certificate).

Nothing is printed unless progress=True; nothing is written but the records engine's cache
(the taxcalc engine's derived table; cache=False turns it off) and what to_reference writes.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .defaults import DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_UPPER
from .exceptions import InputError, SolverError
from .hashing import changed_inputs
from .params import is_integer
from .inputs.engines.cache import cache_disabled
from .inputs.source import ProblemSource
from .pipeline import GoldstarRun, make_reference
from .problem.model import Problem
from .progress import Progress
from .workflow import build, solve_certified

OBJECTIVES = ("penalized", "band")
DROPPED_COLUMNS = ("name", "reason", "low", "high", "distance_in_band_widths")
Table = str | os.PathLike[str] | pd.DataFrame | None


@dataclass(frozen=True)
class Result:
    """Certified weights and what they were made from.

    weights       final weights w0 x m, a Series indexed by record_id (the records' RECID)
    multipliers   m, the same index
    dual          the dual y, a Series indexed by target name
    dropped       the band targets the box cannot reach (name, reason, low, high,
                  distance_in_band_widths); empty for the penalized objective
    certificate   goldstar.certificate's Certificate or BandCertificate (`.passed`)
    problem_hash  the problem's content hash (as problem.json and a reference record it)
    input_hashes  role -> {file, hash}: files by their bytes, DataFrames by their values
    seconds       build + solve + certificate, wall clock
    warnings      what the build warned about (dropped targets), collected, in order
    problem       the Problem the weights solve
    """

    weights: pd.Series
    multipliers: pd.Series
    dual: pd.Series
    dropped: pd.DataFrame
    certificate: Any
    problem_hash: str
    input_hashes: dict[str, dict[str, str]]
    seconds: float
    warnings: tuple[str, ...]
    problem: Problem = field(repr=False, compare=False)
    # The build's settings for a reference's ProblemSource; None when an input was a DataFrame.
    _source_fields: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"Result(n={len(self.weights):,}, targets={len(self.dual)}, dropped={len(self.dropped)}, "
                f"objective={self.problem.objective.name}, certificate "
                f"{'passed' if self.certificate.passed else 'FAILED'}, problem_hash={self.problem_hash}, "
                f"seconds={self.seconds:.2f}, warnings={len(self.warnings)})")

    def to_reference(
        self,
        path: str | os.PathLike[str],
        *,
        force: bool = False,
        lbfgsb_options: dict[str, Any] | None = None,
        progress: bool = False,
    ) -> GoldstarRun:
        """Write the gold-star reference of these inputs to `path`, as `goldstar goldstar` does:
        the problem rebuilt from the recorded files, an L-BFGS-B stage (`lbfgsb_options`, as
        --lbfgsb-maxiter/--lbfgsb-gtol), the exact polish, the certificate, an atomic write.
        `goldstar verify --reference path` then checks it. An existing reference made from other
        inputs is replaced only with force=True.

        A reference names files that verify can hash and rebuild from, so the records and the
        targets must have been given as paths (or left to the defaults), not as DataFrames.
        """
        if self._source_fields is None:
            raise InputError("to_reference needs the records and the targets as paths (CSV, CSV.gz or Parquet "
                             "files that `goldstar verify` can rebuild the problem from), not DataFrames: "
                             "write them to files and call goldstar.reweight with the paths")
        source = ProblemSource.given(path, kind="build", **self._source_fields)
        self._check_inputs_unchanged(source.resolved(Path(path)).input_hashes())
        return make_reference(
            source, Path(path), force=force, lbfgsb_options=lbfgsb_options,
            progress_factory=(lambda name: Progress(name)) if progress else None,
            log=print if progress else _silent,
        )


    def _check_inputs_unchanged(self, now: dict[str, dict[str, str]]) -> None:
        """InputError when an input file no longer hashes as it did when these weights were made:
        the reference would be another problem's, not this Result's."""
        changed = changed_inputs(self.input_hashes, now)
        if changed:
            role, file, before, after = changed[0]
            raise InputError(f"to_reference: the {role} file {file} changed since these weights were made "
                             f"(hash {before}, now {after}); nothing written: call goldstar.reweight again on it")


def _absolute(path: str | pd.DataFrame | None) -> str | pd.DataFrame | None:
    """A path as it is now, whatever the working directory is when the reference is written."""
    return os.path.abspath(path) if isinstance(path, str) else path


def _silent(_: str) -> None:
    return None


def _objective_spec(objective: str, *, eps: float, slack_penalty: float, slack_units: str,
                    unreachable: str) -> dict[str, Any] | None:
    """The stored objective spec, as the command line's --objective and band flags give it."""
    if objective not in OBJECTIVES:
        raise InputError(f"objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
    if objective == "penalized":
        return None
    return {"name": "band", "eps": eps, "slack_penalty": slack_penalty, "slack_units": slack_units,
            "unreachable": unreachable}


def _table(value: Table, what: str) -> str | pd.DataFrame | None:
    if value is None or isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise InputError(f"{what}: expected a path or a pandas DataFrame, got {type(value).__name__}")


def reweight(
    records: Table,
    targets: Table,
    *,
    year: int,
    objective: str,
    engine: str | None = "cps",
    penalty: float = DEFAULT_PENALTY,
    eps: float = 0.005,
    slack_penalty: float = 1e6,
    slack_units: str = "target",
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
    unreachable: str = "drop",
    solver: str | None = None,
    device: str | None = None,
    solver_options: dict[str, Any] | None = None,
    progress: bool = False,
    cache: bool = True,
    **engine_options: Any,
) -> Result:
    """Exact, certified weights for `records` against `targets`.

    records      Tax-Calculator input variables with s006 and RECID (like the embedded CPS file,
                 goldstar.defaults.DEFAULT_RECORDS): a DataFrame or a CSV/CSV.gz/Parquet path;
                 None: the embedded CPS file. With engine=None: a table already in SOI names
                 (`goldstar build --records` without --engine).
    targets      the SOI table (TMD's soi.csv columns): a DataFrame or a path; None: the embedded one.
    year         the SOI year to target.
    objective    "penalized" (reads `penalty`) or "band" (reads eps, slack_penalty, slack_units,
                 unreachable); each reads only its own parameters.
    engine       "cps" (default) or "taxcalc" (a path or a DataFrame; **engine_options: weights,
                 growfactors, data_year, s006_scale, aged, as the --tc-* flags).
    solver       default: the exact solver of the objective (newton, band-newton); `device` and
                 `solver_options` are that solver's options (device: the torch solvers').
    progress     print the build's warnings and show the solver's progress bar (on a terminal).
    cache        False: the engine's derived-table cache is neither read nor written.

    Raises InputError for bad input (naming the column, row or setting), SolverError when the
    solver does not converge or its answer fails the certificate (a Result is always certified).
    """
    start = time.perf_counter()
    if not is_integer(year):
        raise InputError(f"reweight: year must be a whole number (the SOI year), got {year!r}")
    if solver_options is not None and not isinstance(solver_options, dict):
        raise InputError(f"reweight: solver_options must be a dict, got {type(solver_options).__name__}")
    spec = _objective_spec(objective, eps=eps, slack_penalty=slack_penalty, slack_units=slack_units,
                           unreachable=unreachable)
    records, targets = _table(records, "records"), _table(targets, "targets")
    options = dict(solver_options or {})
    if device is not None:
        options["device"] = device
    with (nullcontext() if cache else cache_disabled()), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = build(records, targets, year, objective=spec, penalty=penalty, lower=lower, upper=upper,
                      engine=engine, engine_options=engine_options, source="goldstar.reweight")
        problem = built.problem
        if progress:
            for message in built.warnings:
                print(f"WARNING: {message}", file=sys.stderr)
        method = solver
        bar = Progress(method or "solve") if progress else nullcontext()
        with bar as feed:
            solution, cert = solve_certified(problem, method, options, progress=feed)
    later = [str(w.message) for w in caught]
    if progress:
        for message in later:
            print(f"WARNING: {message}", file=sys.stderr)
    faults = []
    if not solution.success:
        faults.append(f"{solution.method} did not converge: {solution.message}")
    if not cert.passed:
        faults.append("its answer fails the certificate: " + "; ".join(cert.failures()))
    if faults:
        raise SolverError("; ".join(faults))

    index = pd.Index(problem.record_ids, name="record_id")
    names = pd.Index(list(problem.target_names), name="target")
    dual = solution.y if solution.y is not None else np.full(problem.J, np.nan)
    dropped = pd.DataFrame([{k: d[k] for k in DROPPED_COLUMNS} for d in built.prepass.dropped]
                           if built.prepass is not None else [], columns=list(DROPPED_COLUMNS))
    paths = not any(isinstance(t, pd.DataFrame) for t in (records, targets))
    fields = {"records": _absolute(records), "targets": _absolute(targets), "year": year, "penalty": penalty, "lower": lower,
              "upper": upper, "objective": spec, "engine": engine,
              "engine_options": {k: v for k, v in engine_options.items() if v is not None} or None}
    if progress:
        print(f"{solution.method}: loss {solution.loss:.15g}, certificate "
              f"{'passed' if cert.passed else 'FAILED'}, {time.perf_counter() - start:.2f} s", file=sys.stderr)
    return Result(
        weights=pd.Series(problem.w0 * solution.m, index=index, name="weight"),
        multipliers=pd.Series(solution.m, index=index, name="m"),
        dual=pd.Series(np.asarray(dual, dtype=np.float64), index=names, name="dual"),
        dropped=dropped,
        certificate=cert,
        problem_hash=problem.content_hash(),
        input_hashes={role: {"file": e["file"], "hash": e["hash"]} for role, e in built.inputs.items()},
        seconds=time.perf_counter() - start,
        warnings=tuple(built.warnings) + tuple(later),
        problem=problem,
        _source_fields=fields if paths else None,
    )
