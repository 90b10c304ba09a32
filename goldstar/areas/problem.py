"""One area: its settings, its Problem, its pre-pass, its solve and its certificate.

An area's starting weights are w0 = pop_share x w (w: the national reference
weights; goldstar.areas.targets for pop_share), its targets the SOI-share
targets of goldstar.areas.targets, its objective TMD's band QP
(goldstar.problem.objectives.band) with TMD's area settings (goldstar.defaults: eps, M,
slack in target units, multipliers in [0, 25] for states and [0, 50] for districts
and synthetic areas). Records with national weight 0 stay at 0 and are left out.

With `unreachable = drop`, the pre-pass (goldstar.areas.prepass) names the
targets no multipliers in the box can meet, alone (`range`) or together
(`joint`); they are dropped by name and the area is solved exactly on the
rest: status `ok`, with its dropped list. With `error`, such an area is
`infeasible` and is not solved. An area is never solved with a target it
cannot meet.

A kept hard band that the box barely lets the records reach can be missed at
the continuation's usual last stage by more than the certificate allows, while
the answer is that stage's exact optimum (fixed point and gap pass). Such an
area is solved once more with the last stage one step further (the band
objective's `rho_cap`, RHO_CAP_MAX); the row records the cap it was certified
at (`rho_cap`), and so does the areas reference, whose verify certifies at it.

`run_area` is the function each Dask task runs; it returns a plain dict (the
summary row plus the multipliers) and never raises: a failure is a row.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..defaults import (
    AREA_LOWER, AREA_UPPER_BY_KIND, DEFAULT_EPS, DEFAULT_SLACK_PENALTY, DEFAULT_SLACK_UNITS, DEFAULT_UNREACHABLE,
)
from ..exceptions import InputError
from ..hashing import arrays_hash
from .inputs import NationalData
from .memory import keep_arrays_on_heap, peak_rss_mb, reset_peak_rss
from .targets import AreaSpec
from ..certificate import certify
from ..params import number
from ..problem.model import Problem
from ..problem.objectives import Band
from ..problem.objectives.band import RHO_CAP, RHO_CAP_MAX
from ..solvers import get_solver
from ..solvers.solve import solve
from .overrides import SETTING_OF_COLUMN
from .prepass import find_unreachable_area

UPPER_BY_KIND = AREA_UPPER_BY_KIND
STATUSES = ("ok", "infeasible", "failed", "time_limit")
SOLVER = "band-newton"


@dataclass(frozen=True)
class AreaSettings:
    """The band objective's settings for one area (module docstring for the defaults)."""

    eps: float = DEFAULT_EPS
    slack_penalty: float = DEFAULT_SLACK_PENALTY
    slack_units: str = DEFAULT_SLACK_UNITS
    lower: float = AREA_LOWER
    upper: float = AREA_UPPER_BY_KIND["state"]
    unreachable: str = DEFAULT_UNREACHABLE
    slack_penalty_by_target: tuple[tuple[str, float], ...] = ()
    drop_targets: tuple[str, ...] = ()
    time_limit: float | None = None
    solver: str = SOLVER

    def __post_init__(self) -> None:
        """The same checks as `goldstar build --objective band` (goldstar.problem.objectives.band and
        .params are their one home): eps > 0, slack_penalty > 0, both finite; finite bounds
        with 0 <= lower < upper; a time limit, when given, finite and > 0."""

        where = "area settings"
        Band(eps=self.eps, slack_penalty=self.slack_penalty, slack_units=self.slack_units,
             unreachable=self.unreachable, slack_penalty_by_target=self.slack_penalty_by_target)
        lower = number("lower", self.lower, where, at_least=0.0)
        number("upper", self.upper, where, above=lower)
        if self.time_limit is not None:
            number("time_limit", self.time_limit, where, above=0.0)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["slack_penalty_by_target"] = [list(p) for p in self.slack_penalty_by_target]
        out["drop_targets"] = list(self.drop_targets)
        return out


def settings_for(spec: AreaSpec, base: AreaSettings, overrides: pd.DataFrame | None,
                 upper: float | None = None) -> AreaSettings:
    """The settings of one area: the base, the kind's multiplier cap (unless `upper` is
    given), then the area's rows of the overrides table (goldstar.areas.overrides), in order."""
    s = dataclasses.replace(base, upper=float(upper) if upper is not None else UPPER_BY_KIND[spec.kind])
    if overrides is None:
        return s
    for _, row in overrides[overrides["area"] == spec.name.upper()].iterrows():
        given = {setting: float(row[column]) for column, setting in SETTING_OF_COLUMN.items() if row[column].strip()}
        if given:
            s = dataclasses.replace(s, **given)
        if row["drop"].strip():
            drops = set(s.drop_targets) | {x for x in row["drop"].split(";") if x}
            s = dataclasses.replace(s, drop_targets=tuple(sorted(drops)))
        if row["slack_penalty"].strip():
            pairs = dict(s.slack_penalty_by_target)
            for name in (x.strip() for x in row["targets"].split(";") if x.strip()):
                pairs[name] = float(row["slack_penalty"])
            s = dataclasses.replace(s, slack_penalty_by_target=tuple(sorted(pairs.items())))
    return s


def area_input_hash(national_hash: str, spec: AreaSpec, settings: AreaSettings, cell_names) -> str:
    """Everything an area's answer depends on, by value: the national data (records,
    national reference weights, recipe), the area's targets and share, and its settings."""
    return arrays_hash([
        ("national", np.array([national_hash], dtype=object)),
        ("area", np.array([spec.name, spec.kind], dtype=object)),
        ("pop_share", np.array([spec.pop_share])),
        ("target_name", np.array(list(cell_names), dtype=object)),
        ("target", spec.targets),
        ("settings", np.array([json.dumps(settings.as_dict(), sort_keys=True)], dtype=object)),
    ])


def build_area_problem(national: NationalData, spec: AreaSpec, settings: AreaSettings, dropped=(),
                       rho_cap: float = RHO_CAP):
    """The area's Problem under the band objective (records with national weight > 0)."""

    keep, A = national.positive
    objective = Band(
        eps=settings.eps, slack_penalty=settings.slack_penalty, slack_units=settings.slack_units,
        unreachable=settings.unreachable, dropped=tuple(dropped),
        slack_penalty_by_target=settings.slack_penalty_by_target, rho_cap=rho_cap,
    )
    return Problem.from_arrays(
        A, spec.pop_share * national.weight[keep], spec.targets,
        lower=settings.lower, upper=settings.upper, record_ids=national.record_ids[keep],
        target_names=list(national.cell_names), objective=objective,
    ), keep


def kept_area_problem(national: NationalData, spec: AreaSpec, settings: AreaSettings):
    """The area's band Problem over the targets its own pre-pass keeps (as run_area solves it)."""
    return build_area_problem(national, spec, settings, area_prepass(national, spec, settings).names)[0]


def default_solve(problem, settings: AreaSettings, time_left: float | None):
    """goldstar.solvers.solve with the band solver, its time limit when it takes one; and the certificate."""

    options = {}
    if time_left is not None and "time_limit" in get_solver(settings.solver).defaults:
        options["time_limit"] = max(time_left, 1.0)
    sol = solve(problem, settings.solver, **options)
    cert = certify(problem, sol.m, getattr(sol, "y", None))
    return sol, cert


def only_hard_bands_missed(cert: Any) -> bool:
    """The certificate failed on its hard bands alone: the answer is its stage's exact optimum."""
    failed = [c.name for c in cert.checks() if not c.passed] if hasattr(cert, "checks") else []
    return failed == ["hard bands met"]


def solve_area(problem: Problem, settings: AreaSettings, time_left: float | None, solve_fn: Callable | None = None,
               ) -> tuple[Problem, Any, Any]:
    """(problem, solution, certificate): solved at the usual last stage, and once more with
    rho_cap = RHO_CAP_MAX when only the hard bands failed there (module docstring)."""
    solve_fn = solve_fn or default_solve
    start = time.perf_counter()
    sol, cert = solve_fn(problem, settings, time_left)
    if sol.success and not cert.passed and only_hard_bands_missed(cert) \
            and problem.objective.rho_cap < RHO_CAP_MAX and problem.form.hard:
        left = None if time_left is None else time_left - (time.perf_counter() - start)
        if left is None or left > 0:
            raised = problem.with_objective(dataclasses.replace(problem.objective, rho_cap=RHO_CAP_MAX))
            sol2, cert2 = solve_fn(raised, settings, left)
            if sol2.success and cert2.passed:
                return raised, sol2, cert2
    return problem, sol, cert


# Area workers keep arrays up to 64 MB on the heap (goldstar.areas.memory.keep_arrays_on_heap):
# the solver's per-record arrays (a few MB each). Dask's nanny starts workers with
# MALLOC_TRIM_THRESHOLD_ set, which freezes glibc's mmap threshold at 128 KB: then every
# temporary array of the solver is a fresh mmap whose pages the kernel zeroes on first touch.
# Measured on one state (CA): the solve took 4.0 s with that setting and 1.5 s without; the
# 51-state batch spent a third of its CPU time in the kernel. Setting it in the task covers
# workers of any deployment.
AREA_HEAP_BYTES = 64 << 20


def new_row(national: NationalData, spec: AreaSpec, settings: AreaSettings, input_hash: str) -> dict[str, Any]:
    """An area's row before its pre-pass: every field, failed until the area is solved."""
    return {
        "area": spec.name, "kind": spec.kind, "synthetic": spec.synthetic, "state": spec.state,
        "status": "failed", "message": "", "targets": national.recipe_size,
        "empty": len(national.dropped_cells), "kept": None,
        "dropped": [], "input_hash": input_hash, "pop_share": spec.pop_share,
        "eps": settings.eps, "upper": settings.upper, "seconds_prepass": None, "seconds_solve": None, "seconds_weights_file": None,
        "seconds": None, "certified": False, "certificate": {}, "max_band_violation_widths": None, "rho_cap": None,
        "deviation": None, "worker": f"{socket.gethostname()}:{os.getpid()}", "rss_peak_mb": None, "m": None,
    }


def area_prepass(national: NationalData, spec: AreaSpec, settings: AreaSettings):
    """The area's pre-pass (goldstar.areas.prepass): its overrides' drops, then what it cannot meet."""
    return find_unreachable_area(
        national.A, national.weight, spec.pop_share, spec.targets, national.cell_names, settings.eps,
        settings.lower, settings.upper, cache_key=(national.hashes.get("content", id(national)),
                                                   settings.lower, settings.upper),
        given=settings.drop_targets,
    )


def run_area(
    national: NationalData, spec: AreaSpec, settings: AreaSettings, input_hash: str,
    solve_fn: Callable | None = None,
) -> dict[str, Any]:
    """Pre-pass, drop or refuse, solve, certify one area (module docstring). Never raises."""

    keep_arrays_on_heap(AREA_HEAP_BYTES)
    reset_peak_rss()
    start = time.perf_counter()
    row = new_row(national, spec, settings, input_hash)
    try:
        pre = area_prepass(national, spec, settings)
        row["seconds_prepass"] = pre.seconds
        row["dropped"] = pre.dropped
        row["kept"] = len(national.cells) - len(pre.dropped)
        if pre.dropped and settings.unreachable == "error":
            row["status"] = "infeasible"
            row["message"] = (f"{len(pre.dropped)} target(s) cannot be met ("
                              + ", ".join(f"{d['name']} [{d['reason']}]" for d in pre.dropped[:5])
                              + (" ..." if len(pre.dropped) > 5 else "") + "); not solved (unreachable=error)")
            return row
        problem, keep = build_area_problem(national, spec, settings, pre.names)
        time_left = None if settings.time_limit is None else settings.time_limit - (time.perf_counter() - start)
        if time_left is not None and time_left <= 0:
            row["status"] = "time_limit"
            row["message"] = f"the pre-pass alone took {pre.seconds:.1f} s of the {settings.time_limit:g} s limit"
            return row
        t0 = time.perf_counter()
        problem, sol, cert = solve_area(problem, settings, time_left, solve_fn)
        row["seconds_solve"] = time.perf_counter() - t0
        row["rho_cap"] = float(problem.objective.rho_cap)
        m = np.zeros(national.n)
        m[keep] = sol.m
        form = problem.form
        status = form.band_status(sol.m)
        row["max_band_violation_widths"] = float(np.max(np.abs(status["violation_widths"])))
        row["deviation"] = form.deviation(sol.m)
        row["certified"] = bool(cert.passed)
        row["certificate"] = _plain(cert.as_dict() if hasattr(cert, "as_dict") else {})
        row["m"] = m
        y = getattr(sol, "y", None)
        # each dual by its target's name (null for a dropped target: it has no band, so no dual)
        row["y"] = None if y is None else {name: (float(v) if np.isfinite(v) else None) for name, v in
                                           zip(national.cell_names, np.asarray(y, dtype=np.float64))}
        if not sol.success:
            limit = settings.time_limit is not None and time.perf_counter() - start >= settings.time_limit
            row["status"] = "time_limit" if limit else "failed"
            row["message"] = f"{settings.solver}: {sol.message}"
        elif not cert.passed:
            row["status"] = "failed"
            row["message"] = "certificate failed: " + "; ".join(cert.failures())
        else:
            row["status"] = "ok"
            row["message"] = (f"{settings.solver}: {sol.message}; certified" +
                              (f" at rho_cap {problem.objective.rho_cap:g}" if problem.objective.rho_cap != RHO_CAP
                               else "") +
                              (f"; {len(pre.dropped)} target(s) dropped" if pre.dropped else ""))
    except Exception as exc:  # a failed area is a row, never a crashed batch
        row["status"] = "failed"
        row["message"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=6)
    finally:
        row["seconds"] = time.perf_counter() - start
        row["rss_peak_mb"] = peak_rss_mb()
    return row


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe scalars only."""
    out = {}
    for k, v in d.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, (np.floating, np.integer, np.bool_)):
            out[k] = v.item()
        elif isinstance(v, dict):
            out[k] = _plain(v)
    return out
