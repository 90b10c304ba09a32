"""`make goldstar`: build the problem, L-BFGS-B to tight tolerance, Newton polish, certify, write.

The L-BFGS-B stage is the notes' recommended solver run tight; the Newton
stage starts from its residual and reaches the unique optimum; the
certificate must pass before anything is written. The reference records how
far the first stage stopped from the final optimum, which is the figure that
explains why the polish exists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .certificate import certify
from .defaults import DEFAULT_REFERENCES
from .hashing import changed_inputs
from .exceptions import GoldstarError, ReferenceFormatError, SolverError
from .store.lock import reference_lock
from .store.outputs import REFERENCE, output_kind, prepare_output, require_writable
from .problem.model import Problem
from .store.reference import read_reference, write_reference
from .solvers.solve import check_options, solve
from .solvers import EXACT_SOLVERS, Solution
from .inputs.source import ProblemSource

DEFAULT_REFERENCE = DEFAULT_REFERENCES["penalized"]
# First-stage settings: the notes' solver, much tighter than their gtol 1e-5.
LBFGSB_STAGE = {"gtol": 1e-10, "ftol": 0.0, "maxiter": 3000, "maxcor": 20}


@dataclass(frozen=True)
class Recipe:
    """How each objective's reference is made: the problem the L-BFGS-B stage runs on, and the
    exact method that polishes its answer, started from it."""

    first_problem: Callable[[Problem], Problem]
    polish: str
    polish_start: Callable[[Problem, Solution], dict[str, Any]]
    start_note: str


def _relative_form(problem: Problem) -> Problem:
    """The band problem with relative slack: in target units rho reaches ~1e30 and L-BFGS-B is
    hopeless there (docs/band.md), so the first stage runs here, capped."""
    return problem.with_objective(dataclass_replace(problem.objective, slack_units="relative"))


RECIPES: dict[str, Recipe] = {
    "penalized": Recipe(lambda p: p, EXACT_SOLVERS["numpy"]["penalized"], lambda p, s: {"y0": p.penalized.residual(s.m)},
                        "residual of the lbfgsb stage"),
    "band": Recipe(_relative_form, EXACT_SOLVERS["numpy"]["band"], lambda p, s: {"x0": s.m},
                   "multipliers of the lbfgsb stage (run on the relative-slack form)"),
}


class ReferenceConflict(GoldstarError):
    """The existing reference was made from other inputs; --force replaces it."""


@dataclass
class GoldstarRun:
    manifest: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)


def stage_record(solution: Solution) -> dict[str, Any]:
    """The stage's summary with its convergence history (iteration, seconds, loss)."""
    record = solution.summary()
    record["history"] = [
        {"iteration": int(e["iteration"]), "seconds": round(float(e["seconds"]), 4), "loss": float(e["loss"])}
        for e in solution.history
    ]
    return record


def distance(problem: Problem, m: np.ndarray, optimum: Solution) -> dict[str, Any]:
    """How far multipliers m are from the optimum: loss and worst relative weight difference."""
    rel = np.abs(m - optimum.m) / optimum.m
    worst = int(np.argmax(rel))
    return {
        "loss_difference": float(problem.loss(m) - optimum.loss),
        "max_relative_weight_difference": float(rel[worst]),
        "record_id_of_max": int(problem.record_ids[worst]),
        "median_relative_weight_difference": float(np.median(rel)),
        "allclose": bool(np.allclose(problem.w0 * m, problem.w0 * optimum.m)),
    }


def check_replaceable(reference_dir: Path, source: ProblemSource, problem_hash: str,
                      inputs: dict[str, Any], force: bool) -> None:
    """Refuse to replace a reference made from other inputs, naming what changed.

    A directory that is not a goldstar reference was refused before
    (goldstar.store.outputs.prepare_output), whatever `force` says.
    """
    if force or output_kind(reference_dir) != REFERENCE:
        return
    try:
        old = read_reference(reference_dir).metadata
    except ReferenceFormatError as exc:
        raise ReferenceConflict(
            f"{reference_dir} holds an unreadable reference ({exc}); pass --force to replace it"
        ) from None
    changed = []
    try:  # read through ProblemSource, so that fields added since (objective) take their defaults
        before_source = ProblemSource.from_dict(old["problem"].get("source")).as_dict()
    except ReferenceFormatError:
        before_source = old["problem"].get("source")
    if before_source != source.as_dict():
        changed.append(f"problem source ({before_source} -> {source.as_dict()})")
    for role, file, before, now in changed_inputs(old["inputs"], inputs):
        changed.append(f"input {role} ({file}: {before} -> {now})")
    if old["problem"].get("problem_hash") != problem_hash:
        changed.append(f"problem hash ({old['problem'].get('problem_hash')} -> {problem_hash})")
    if changed:
        raise ReferenceConflict(
            f"{reference_dir} was made from other inputs: " + "; ".join(changed)
            + ". Pass --force to replace it."
        )


def make_reference(
    source: ProblemSource,  # as recorded: relative paths are relative to reference_dir (goldstar.inputs.source)
    reference_dir: Path = DEFAULT_REFERENCE,
    *,
    force: bool = False,
    lbfgsb_options: dict[str, Any] | None = None,
    progress_factory: Callable[[str], Any] | None = None,
    log: Callable[[str], None] = print,
) -> GoldstarRun:
    """Run the gold-star pipeline and write the reference; see the module docstring.

    The whole run holds the reference's lock (goldstar.store.lock): a second run on
    the same reference stops at once with ReferenceLocked, naming the holder.
    """
    # bad settings are refused before anything is touched
    first_options = check_options("lbfgsb", {**LBFGSB_STAGE, **(lbfgsb_options or {})})
    require_writable(reference_dir, "--reference")
    with reference_lock(reference_dir):
        return _make_reference(source, reference_dir, force, first_options, progress_factory, log)


def _make_reference(
    source: ProblemSource,
    reference_dir: Path,
    force: bool,
    first_options: dict[str, Any],
    progress_factory: Callable[[str], Any] | None,
    log: Callable[[str], None],
) -> GoldstarRun:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    # a directory goldstar did not write is refused before any work
    prepare_output(reference_dir, REFERENCE, replace=True, option="--reference")
    inputs_at = source.resolved(reference_dir)  # the recorded paths are relative to the reference
    problem, build_meta = inputs_at.load()
    inputs = inputs_at.input_hashes()
    problem_hash = problem.content_hash()
    timings["build"] = time.perf_counter() - start
    log(f"problem     n={problem.n:,} J={problem.J} nnz={problem.nnz:,} ({timings['build']:.2f} s)")
    check_replaceable(reference_dir, source, problem_hash, inputs, force)

    recipe = RECIPES[problem.objective.name]
    first = _run_stage(recipe.first_problem(problem), "lbfgsb", first_options, progress_factory)
    timings["lbfgsb"] = first.seconds
    log(f"lbfgsb      loss={first.loss:.15g} pg={first.pg:.3g} iterations={first.iterations} "
        f"({first.seconds:.2f} s; {first.message})")
    final = _run_stage(problem, recipe.polish, recipe.polish_start(problem, first), progress_factory)
    timings[recipe.polish] = final.seconds
    log(f"{recipe.polish:11s} loss={final.loss:.15g} pg={final.pg:.3g} iterations={final.iterations} "
        f"({final.seconds:.2f} s; {final.message})")
    if not final.success:
        raise SolverError(f"the {recipe.polish} polish did not converge: {final.message}; nothing written")

    t0 = time.perf_counter()
    cert = certify(problem, final.m, final.y)
    timings["certificate"] = time.perf_counter() - t0
    if not cert.passed:
        raise SolverError("the polished weights fail their certificate: " + "; ".join(cert.failures()))
    stages = [stage_record(first), stage_record(final)]
    stages[0]["distance_from_optimum"] = distance(problem, first.m, final)
    stages[0]["options"].pop("m0", None)
    stages[1]["options"].pop("y0", None)
    stages[1]["options"].pop("x0", None)
    stages[1]["start"] = recipe.start_note

    t0 = time.perf_counter()
    manifest = write_reference(
        reference_dir,
        record_id=problem.record_ids,
        w0=problem.w0,
        m=final.m,
        target_names=problem.target_names,
        target_values=problem.t,
        fitted=problem.fitted(final.m),
        dual=final.y,
        problem_meta={
            "source": source.as_dict(),
            "problem_hash": problem_hash,
            "n": problem.n, "J": problem.J, "nnz": problem.nnz,
            "objective": problem.objective.as_dict(),
            "lower": problem.lower, "upper": problem.upper,
            **({"penalty": problem.penalty, "L0": problem.penalized.L0}
               if problem.objective.name == "penalized" else {}),
            **build_meta,
        },
        inputs=inputs,
        solver_chain=stages,
        certificate=cert.as_dict(),
        replace=True,  # check_replaceable decided, with --force
        extra_target_columns=target_columns(problem, final.m),
    )
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start
    log(f"certificate fixed-point {cert.fixed_point_error:.3g}, gap {cert.gap:.3g}; "
        + "; ".join(cert.reported().values()) + f" ({timings['certificate']:.2f} s)")
    log(f"wrote       {reference_dir} ({timings['total']:.1f} s in all)")
    return GoldstarRun(manifest=manifest, timings=timings, stages=stages)


def target_columns(problem: Problem, m: np.ndarray) -> dict[str, np.ndarray]:
    """The band objective's extra columns of targets.parquet: each target's band, its miss in
    band widths, and whether it was kept or dropped (NaN band figures for dropped ones)."""
    if problem.objective.name != "band":
        return {}
    form = problem.form
    status = form.band_status(m)
    out = {name: np.full(problem.J, np.nan) for name in ("band_low", "band_high", "violation_widths")}
    for name in out:
        out[name][form.kept] = status[name]
    kept = np.zeros(problem.J, dtype=bool)
    kept[form.kept] = True
    out["status"] = np.where(kept, "kept", "dropped").astype(object)
    return out


def _run_stage(problem: Problem, method: str, options: dict[str, Any],
               progress_factory: Callable[[str], Any] | None) -> Solution:
    if progress_factory is None:
        return solve(problem, method, **options)
    with progress_factory(method) as progress:
        return solve(problem, method, progress=progress, **options)
