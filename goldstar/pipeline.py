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
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .certificate import certify
from .exceptions import GoldstarError, ReferenceFormatError, SolverError
from .problem import Problem
from .reference import read_reference, write_reference
from .solve import solve
from .solvers import Solution
from .source import ProblemSource

DEFAULT_REFERENCE = Path("reference") / "default"
# First-stage settings: the notes' solver, much tighter than their gtol 1e-5.
LBFGSB_STAGE = {"gtol": 1e-10, "ftol": 0.0, "maxiter": 3000, "maxcor": 20}


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
    """Refuse to replace a reference made from other inputs, naming what changed."""
    if not reference_dir.exists() or force:
        return
    try:
        old = read_reference(reference_dir).metadata
    except ReferenceFormatError as exc:
        raise ReferenceConflict(
            f"{reference_dir} holds an unreadable reference ({exc}); pass --force to replace it"
        ) from None
    changed = []
    if old["problem"].get("source") != source.as_dict():
        changed.append(f"problem source ({old['problem'].get('source')} -> {source.as_dict()})")
    for role, entry in inputs.items():
        before = old["inputs"].get(role, {}).get("hash")
        if before != entry["hash"]:
            changed.append(f"input {role} ({entry['file']}: {before} -> {entry['hash']})")
    if old["problem"].get("problem_hash") != problem_hash:
        changed.append(f"problem hash ({old['problem'].get('problem_hash')} -> {problem_hash})")
    if changed:
        raise ReferenceConflict(
            f"{reference_dir} was made from other inputs: " + "; ".join(changed)
            + ". Pass --force to replace it."
        )


def make_reference(
    source: ProblemSource,
    reference_dir: Path = DEFAULT_REFERENCE,
    *,
    force: bool = False,
    lbfgsb_options: dict[str, Any] | None = None,
    progress_factory: Callable[[str], Any] | None = None,
    log: Callable[[str], None] = print,
) -> GoldstarRun:
    """Run the gold-star pipeline and write the reference; see the module docstring."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    problem, build_meta = source.load()
    inputs = source.input_hashes()
    problem_hash = problem.content_hash()
    timings["build"] = time.perf_counter() - start
    log(f"problem     n={problem.n:,} J={problem.J} nnz={problem.nnz:,} ({timings['build']:.2f} s)")
    check_replaceable(reference_dir, source, problem_hash, inputs, force)

    first_options = {**LBFGSB_STAGE, **(lbfgsb_options or {})}
    first = _run_stage(problem, "lbfgsb", first_options, progress_factory)
    timings["lbfgsb"] = first.seconds
    log(f"lbfgsb      loss={first.loss:.15g} pg={first.pg:.3g} iterations={first.iterations} "
        f"({first.seconds:.2f} s; {first.message})")
    y0 = problem.penalized.residual(first.m)
    final = _run_stage(problem, "newton", {"y0": y0}, progress_factory)
    timings["newton"] = final.seconds
    log(f"newton      loss={final.loss:.15g} pg={final.pg:.3g} iterations={final.iterations} "
        f"({final.seconds:.2f} s; {final.message})")
    if not final.success:
        raise SolverError(f"the Newton polish did not converge: {final.message}; nothing written")

    t0 = time.perf_counter()
    cert = certify(problem, final.m)
    timings["certificate"] = time.perf_counter() - t0
    if not cert.passed:
        raise SolverError("the polished weights fail their certificate: " + "; ".join(cert.failures()))
    stages = [stage_record(first), stage_record(final)]
    stages[0]["distance_from_optimum"] = distance(problem, first.m, final)
    stages[0]["options"].pop("m0", None)
    stages[1]["options"]["y0"] = "residual of the lbfgsb stage"

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
            "penalty": problem.penalty, "lower": problem.lower, "upper": problem.upper,
            "L0": problem.penalized.L0,
            **build_meta,
        },
        inputs=inputs,
        solver_chain=stages,
        certificate=cert.as_dict(),
    )
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start
    log(f"certificate fixed-point {cert.fixed_point_error:.3g}, gap {cert.gap:.3g}, "
        f"max proven bound {cert.bound_max_relative:.3g} ({timings['certificate']:.2f} s)")
    log(f"wrote       {reference_dir} ({timings['total']:.1f} s in all)")
    return GoldstarRun(manifest=manifest, timings=timings, stages=stages)


def _run_stage(problem: Problem, method: str, options: dict[str, Any],
               progress_factory: Callable[[str], Any] | None) -> Solution:
    if progress_factory is None:
        return solve(problem, method, **options)
    with progress_factory(method) as progress:
        return solve(problem, method, progress=progress, **options)
