"""`make verify`: check a committed reference on this machine.

Modes (each a list of Checks with a figure and a threshold):
- hash:        the input files hash to what the reference recorded, and the
               weights hash to their own recorded hash (milliseconds); with
               goldstar.verify.columns.file_checks (weight = w0 m, MANIFEST.json);
- certificate: the reference is the optimum of the current inputs, by the
               certificate of goldstar.certificate (about one Newton step, no solve),
               and every stored column against the problem and m
               (goldstar.verify.columns.problem_checks);
- recompute:   re-solve here with a backend and compare record by record, matched
               by record_id. Newton backends (numpy, torch) must agree to rtol
               1e-9, atol 0; lbfgsb reports how far it lands and compares the
               weight fingerprint as TMD's test_weights does (np.allclose defaults).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import columns as verify_columns
from ..certificate import certify
from ..checks import Check
from ..exceptions import InputError, ReferenceFormatError
from ..hashing import changed_inputs
from ..problem.model import Problem
from ..store.reference import Reference, read_reference, weight_fingerprint
from ..store.tables import rows_by_id
from ..solvers.solve import solve
from ..solvers import EXACT_SOLVERS
from ..inputs.source import ProblemSource
from ..inputs.engines import engine_version_checks
from ..problem.prepass import BAND_TOL, band_limits, conflict_bound, reachable_ranges

MODES = ("hash", "certificate", "recompute")
DEFAULT_MODES = MODES
# --mode recompute: a re-solved answer agrees with the reference's record by record to
# RECOMPUTE_RTOL. Newton on any backend reaches the optimum to ~1e-11 relative (docs/tolerances.md:
# 4e-11 across orders and numpy vs torch); 1e-9 is the project's bar. National weights are
# compared relatively, |w - w_ref| <= RECOMPUTE_RTOL |w_ref|; an area's multipliers (goldstar
# areas --verify) by |x - x_ref| <= RECOMPUTE_RTOL max(|x_ref|, 1): multipliers start at 1 and
# an area's box starts at 0, so a multiplier at 0 is held to the same 1e-9 (of its starting
# value) as one near 1, where a relative test alone would compare rounding noise with 0.
RECOMPUTE_RTOL = 1e-9
# recompute backend -> the method that solves each objective with it
BACKENDS = {**EXACT_SOLVERS, "lbfgsb": {"penalized": "lbfgsb", "band": "lbfgsb"}}
WORST_ROWS = 5


def multiplier_difference(x: np.ndarray, x_ref: np.ndarray) -> float:
    """The largest |x - x_ref| / max(|x_ref|, 1) over area multipliers: what RECOMPUTE_RTOL bounds
    when two solves of the same area problems are compared."""
    x, x_ref = np.asarray(x, dtype=np.float64), np.asarray(x_ref, dtype=np.float64)
    return float(np.max(np.abs(x - x_ref) / np.maximum(np.abs(x_ref), 1.0), initial=0.0))


def check(mode: str, name: str, passed: bool, figure: str, threshold: str, detail: str = "") -> Check:
    return Check(name, bool(passed), figure, threshold, detail, mode=mode)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    reported: list[tuple[str, str, str]] = field(default_factory=list)  # (mode, name, figure): shown, not judged
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def table(self) -> str:
        rows = [("mode", "check", "result", "figure", "threshold")]
        for c in self.checks:
            rows.append((c.mode, c.name, "ok" if c.passed else "FAIL", c.figure, c.threshold))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.reported:
            lines.append("\nreported (figures, not checks):")
            lines += [f"  {mode}/{name}: {figure}" for mode, name, figure in self.reported]
        for c in self.checks:
            if c.detail and not c.passed:
                lines.append(f"\n{c.mode}/{c.name}: {c.detail}")
        timing = ", ".join(f"{mode} {s:.3f} s" for mode, s in self.seconds.items())
        lines.append(f"\nseconds: {timing}")
        return "\n".join(lines)


def verify(
    reference_dir: str | Path,
    modes: tuple[str, ...] = DEFAULT_MODES,
    *,
    backend: str = "numpy",
    device: str = "auto",
    problem_dir: str | Path | None = None,
) -> Report:
    """Run the asked-for modes against the reference in `reference_dir`.

    `problem_dir` checks the reference against another problem directory (the
    records may come in another order: they are matched by record_id) instead
    of the source the reference recorded.
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise InputError(f"unknown verify mode(s) {unknown}; modes are {', '.join(MODES)}")
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; backends are {', '.join(BACKENDS)}")
    report = Report()
    ref = read_reference(reference_dir)
    source = (
        ProblemSource(kind="directory", path=str(problem_dir)) if problem_dir is not None
        else ProblemSource.from_dict(ref.metadata["problem"]["source"]).resolved(ref.directory)
    )
    if "hash" in modes:
        start = time.perf_counter()
        report.checks += hash_checks(ref, source, compare_inputs=problem_dir is None)
        report.checks += verify_columns.file_checks(ref)
        report.seconds["hash"] = time.perf_counter() - start
    problem = None
    if "certificate" in modes or "recompute" in modes:
        start = time.perf_counter()
        problem, m_ref = load_problem(ref, source)
        report.seconds["load problem"] = time.perf_counter() - start
    if "certificate" in modes:
        start = time.perf_counter()
        report.checks += certificate_mode_checks(ref, problem, m_ref, compare_hash=problem_dir is None,
                                                 reported=report.reported)
        report.seconds["certificate"] = time.perf_counter() - start
    if "recompute" in modes:
        start = time.perf_counter()
        report.checks += recompute_checks(problem, m_ref, backend, device)
        report.seconds[f"recompute ({backend})"] = time.perf_counter() - start
    return report


def load_problem(ref: Reference, source: ProblemSource | None = None) -> tuple[Problem, np.ndarray]:
    """The problem a reference solved, from its recorded source (or `source`), with the
    reference's multipliers in the problem's record order."""
    if source is None:
        source = ProblemSource.from_dict(ref.metadata["problem"]["source"]).resolved(ref.directory)
    problem, _ = source.load(dropped=recorded_dropped(ref))
    return problem, aligned_multipliers(ref, problem)


def certificate_mode_checks(ref: Reference, problem: Problem, m: np.ndarray, *, compare_hash: bool,
                            reported: list[tuple[str, str, str]]) -> list[Check]:
    """The checks of the certificate mode: the problem hash, the certificate, every stored column
    against the problem, and the proof of each dropped target (what `goldstar report` shows too)."""
    return (certificate_checks(ref, problem, m, compare_hash=compare_hash, reported=reported)
            + verify_columns.problem_checks(ref, problem, m) + prepass_checks(ref, problem))


def hash_checks(ref: Reference, source: ProblemSource, compare_inputs: bool) -> list[Check]:
    checks = []
    recorded = ref.metadata["weights_hash"]
    actual = ref.computed_weights_hash()
    checks.append(check(
        "hash", "weights", actual == recorded, actual, f"recorded {recorded}",
        "the weights file's values changed since the reference was written"
        " (or the recorded hash is outdated): regenerate with `make goldstar`",
    ))
    if not compare_inputs:
        return checks
    # hook (goldstar.inputs.engines): the records engine's version, e.g. Tax-Calculator's, against the recorded one

    checks += [c.in_mode("hash") for c in engine_version_checks(ref.metadata["problem"].get("engine"))]
    current = source.input_hashes()
    changed = {role: before for role, _, before, _ in changed_inputs(ref.metadata["inputs"], current)}
    for role, entry in current.items():
        before = changed.get(role, entry["hash"])
        checks.append(check(
            "hash", f"input {role}", role not in changed, entry["hash"], f"recorded {before}",
            f"input {role} ({entry['file']}) changed since the reference was made "
            "(or the recorded hash is outdated): rerun `make goldstar` if the change is intended",
        ))
    return checks


def aligned_multipliers(ref: Reference, problem: Problem) -> np.ndarray:
    """The reference's m in the problem's record order, matched by record_id."""
    if ref.record_id.size != problem.n:
        raise InputError(
            f"the reference has {ref.record_id.size} records, the problem {problem.n}: "
            "they are not the same records"
        )
    rows, found = rows_by_id(ref.record_id, problem.record_ids)
    if not found.all():
        missing = problem.record_ids[~found][:5].tolist()
        raise InputError(f"record_id(s) {missing} of the problem are not in the reference")
    return ref.m[rows]


def certificate_checks(ref: Reference, problem: Problem, m: np.ndarray, compare_hash: bool,
                       reported: list[tuple[str, str, str]]) -> list[Check]:
    """The problem hash, then the certificate's own checks (it owns their thresholds)."""
    checks = []
    if compare_hash:
        recorded = ref.metadata["problem"]["problem_hash"]
        actual = problem.content_hash()
        checks.append(check(
            "certificate", "problem hash", actual == recorded, actual, f"recorded {recorded}",
            "the problem built from the current inputs differs from the one the reference solved",
        ))
    cert = certify(problem, m, aligned_dual(ref, problem))
    for c in cert.checks():
        checks.append(c.in_mode("certificate"))
    for name, figure in cert.reported().items():
        reported.append(("certificate", name, figure))
    return checks


def recorded_dropped(ref: Reference) -> tuple[str, ...] | None:
    """The band targets the reference dropped, as recorded (None for other objectives)."""
    objective = ref.metadata["problem"].get("objective")
    if isinstance(objective, dict) and objective.get("name") == "band":
        dropped = objective.get("dropped", [])
        if not isinstance(dropped, list) or not all(isinstance(n, str) for n in dropped):
            raise ReferenceFormatError("the reference's objective: `dropped` must be a list of target names")
        return tuple(dropped)
    return None


def prepass_checks(ref: Reference, problem: Problem) -> list[Check]:
    """For a band problem in target units: every dropped target proven unreachable, on this machine.

    "range" targets: the band misses the reachable range recomputed here. "joint" targets: the
    recorded elastic LP's dual, evaluated on this problem (band_prepass.conflict_bound), proves a
    total violation of at least the recorded LP value (to HiGHS's tolerance), so those bands
    cannot all be met. That the kept bands can be met is the certificate's "hard bands met".
    """

    objective = problem.objective
    if objective.name != "band" or objective.slack_units != "target":
        return []
    prepass = ref.metadata["problem"].get("prepass")
    if not isinstance(prepass, dict) or not isinstance(prepass.get("dropped"), list):
        return [check("certificate", "dropped targets", not objective.dropped, "no pre-pass recorded",
                      "a recorded pre-pass", "the reference drops targets but records no proof")]
    entries = {d.get("name"): d for d in prepass["dropped"] if isinstance(d, dict)}
    checks = [check(
        "certificate", "dropped set = pre-pass", set(entries) == set(objective.dropped),
        f"{len(objective.dropped)} dropped", "the same names",
        "the objective's dropped targets and the recorded pre-pass differ",
    )]
    index = {name: j for j, name in enumerate(problem.target_names)}
    low, high = reachable_ranges(problem)
    band_low, band_high, _ = band_limits(problem)
    by_range = [n for n, d in entries.items() if d.get("reason") == "range"]
    reachable = [n for n in by_range if n in index
                 and not (high[index[n]] < band_low[index[n]] or low[index[n]] > band_high[index[n]])]
    checks.append(check(
        "certificate", "dropped: out of reach alone", not reachable,
        f"{len(by_range) - len(reachable)} of {len(by_range)} proven", "every one",
        f"these bands can be reached after all: {reachable[:5]}",
    ))
    joint = [n for n, d in entries.items() if d.get("reason") == "joint"]
    if joint:
        lp = prepass.get("lp", {})
        value, dual = lp.get("value"), lp.get("dual")
        bound = conflict_bound(problem, dual) if isinstance(dual, dict) else float("nan")
        ok = isinstance(value, (int, float)) and bound > BAND_TOL and bound >= value - BAND_TOL * max(1.0, value)
        checks.append(check(
            "certificate", "dropped: jointly in conflict", bool(ok),
            f"LP dual bound {bound:.6g} (value {value})", "> 0 and = the LP value",
            "the recorded elastic LP's dual no longer proves the conflict: the inputs changed",
        ))
    return checks


def aligned_dual(ref: Reference, problem: Problem) -> np.ndarray | None:
    """The reference's stored dual in the problem's target order (by name); None if names differ."""
    stored = dict(zip(ref.targets.column("name").to_pylist(), ref.targets.column("dual").to_numpy()))
    if set(stored) != set(problem.target_names):
        return None
    return np.array([stored[name] for name in problem.target_names], dtype=np.float64)


def compare_weights(problem: Problem, reference_m: np.ndarray, m: np.ndarray) -> dict[str, Any]:
    """Record-by-record comparison in the pytest-regressions style."""
    ref_w = problem.w0 * reference_m
    new_w = problem.w0 * m
    abs_err = np.abs(new_w - ref_w)
    rel_err = abs_err / np.abs(ref_w)
    differ = ~(abs_err <= RECOMPUTE_RTOL * np.abs(ref_w))
    worst = np.argsort(rel_err)[::-1][:WORST_ROWS]
    rows = "\n".join(
        f"    record_id {problem.record_ids[i]}: reference {ref_w[i]:.12g}, here {new_w[i]:.12g}, "
        f"relative {rel_err[i]:.3g}" for i in worst
    )
    return {
        "differ": int(differ.sum()),
        "max_abs": float(abs_err.max()),
        "mean_abs": float(abs_err.mean()),
        "max_rel": float(rel_err.max()),
        "mean_rel": float(rel_err.mean()),
        "worst_rows": rows,
    }


def recompute_checks(problem: Problem, reference_m: np.ndarray, backend: str, device: str) -> list[Check]:
    method = BACKENDS[backend][problem.objective.name]
    options = {"device": device} if backend == "torch" else {}
    solution = solve(problem, method, **options)
    stats = compare_weights(problem, reference_m, solution.m)
    label = f"recompute {backend}" + (f" on {solution.device}" if backend == "torch" else "")
    ref_loss = problem.loss(reference_m)
    detail = (
        f"{stats['differ']} / {problem.n} records differ by more than rtol {RECOMPUTE_RTOL:g}; "
        f"max abs {stats['max_abs']:.3g}, mean abs {stats['mean_abs']:.3g}, max rel "
        f"{stats['max_rel']:.3g}, mean rel {stats['mean_rel']:.3g}; worst records:\n{stats['worst_rows']}\n"
        "regenerate the reference with `make goldstar` if the inputs changed on purpose"
    )
    checks = [check(
        "recompute", f"{label}: converged", solution.success,
        f"{solution.summary()['status']} in {solution.iterations} iterations", "converged",
        solution.message,
    )]
    if backend == "lbfgsb":
        checks.append(check(
            "recompute", f"{label}: weights", True,
            f"max rel diff {stats['max_rel']:.3g}, {stats['differ']}/{problem.n} records beyond {RECOMPUTE_RTOL:g}; "
            f"loss +{solution.loss - ref_loss:.3g}", "(reported: a tolerance-stopped solve)",
        ))
        ref_fp = weight_fingerprint(problem.w0 * reference_m)
        new_fp = weight_fingerprint(problem.w0 * solution.m)
        off = [k for k in ref_fp if not np.allclose([new_fp[k]], [ref_fp[k]])]
        checks.append(check(
            "recompute", f"{label}: fingerprint", not off,
            "all stats allclose" if not off else f"differ: {', '.join(off)}", "np.allclose defaults",
            "; ".join(f"{k}: here {new_fp[k]:.10g}, reference {ref_fp[k]:.10g}" for k in off),
        ))
        return checks
    checks.append(check(
        "recompute", f"{label}: weights", stats["differ"] == 0,
        f"max rel diff {stats['max_rel']:.3g} ({solution.seconds:.2f} s solve)",
        f"rtol {RECOMPUTE_RTOL:g}, atol 0", detail,
    ))
    return checks
