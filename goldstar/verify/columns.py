"""Every stored column and MANIFEST.json checked against what the inputs and `m` imply.

The certificate (goldstar.verify's certificate mode) proves `m` optimal; these
checks prove that the other numbers stored beside it are the ones `m` and the
problem give, so that no column can be edited, or go stale, unnoticed:

From the files alone (run with the hash mode):
- weights.parquet `weight` == `w0 * m`, bit for bit: it is written as exactly
  that product, and one float64 multiplication rounds the same everywhere;
- MANIFEST.json against the weights and the metadata: the weights hash (of the
  decoded arrays), the weight fingerprint (recomputed, rtol SAME_WEIGHTS_FINGERPRINT_RTOL),
  and the fields copied from the metadata (problem hash, input hashes, loss,
  solver chain, certificate summary, schema version, number of targets), equal.

Against the problem (run with the certificate mode; records matched by
record_id, targets by name):
- `w0` equals the problem's w0 and `target` the problem's t, bit for bit
  (both are copied, never computed);
- `fitted` = A^T (w0 m) to FITTED_RTOL of sum_i |A_ij| w0_i m_i;
- `rel_error` = (fitted + 1) / (target + 1) - 1 of the stored columns, bit for bit;
- `dual` = B^T m - c to DUAL_ATOL x max(1, ||c||_inf);
- MANIFEST.json's loss = f(m) recomputed, rtol LOSS_RTOL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..problem.model import Problem
from ..problem.objectives.penalized import relative_error
from ..store.reference import MISSING, Reference, weight_fingerprint
from ..store.tables import rows_by_id
from ..checks import Check
from ..params import is_number

MODE = "columns"
# A float64 sum of k terms, in any order, is within about sqrt(k) eps of the sum
# of their absolute values in practice (k eps at worst); numpy's pairwise sums
# and scipy's sparse products on the same arrays differ between machines and
# versions only in that order. With k up to ~1e5 terms a target, that is
# ~4e-14; 1e-12 leaves a 25x margin and still catches any edited value.
FITTED_RTOL = 1e-12
# MANIFEST.json's fingerprint against one recomputed from the same stored weights: its
# statistics are sums and order statistics of the weights, so the same argument, with
# pairwise summation (error ~log2(n) eps ~ 2e-15).
SAME_WEIGHTS_FINGERPRINT_RTOL = 1e-12
# f(m) is a sum of n + J non-negative terms: no cancellation, same argument.
LOSS_RTOL = 1e-12
# The stored dual is Newton's last y and m = m(y), so dual - (B^T m - c) is
# exactly F(y), Newton's own residual, which it drove below its stopping rule
# tol x max(1, ||c||_inf) with tol = 1e-10 (goldstar.solvers NEWTON_OPTIONS);
# in practice it ends near 1e-13. The recomputation of B^T m - c adds rounding
# of ~1e-16 x ||B^T m||, far below. A dual that is not the one that goes with
# m (edited, or of another solve) misses by orders of magnitude more.
DUAL_ATOL = 1e-10


def _check(name: str, passed: bool, figure: str, threshold: str, detail: str = ""):

    return Check(name, bool(passed), figure, threshold, detail, mode=MODE)


def file_checks(ref: Reference) -> list[Any]:
    """The checks that need only the reference's files (see the module docstring)."""
    checks = []
    product = ref.w0 * ref.m
    bad = np.flatnonzero(product != ref.weight)
    detail = ""
    if bad.size:
        i = int(bad[0])
        detail = (f"{bad.size} / {ref.m.size} records have weight != w0 * m; first: record_id "
                  f"{ref.record_id[i]}: weight {ref.weight[i]!r}, w0 * m {product[i]!r}")
    checks.append(_check("weight = w0 * m", bad.size == 0, f"{bad.size} records differ", "exact", detail))

    meta, manifest = ref.metadata, ref.manifest
    actual_hash = ref.computed_weights_hash()
    copied = {
        "weights_hash": actual_hash,
        "schema_version": meta["schema_version"],
        "problem_hash": meta["problem"]["problem_hash"],
        "inputs": {k: v.get("hash") for k, v in sorted(meta["inputs"].items())},
        "loss": meta["solver_chain"][-1]["loss"] if meta["solver_chain"] else None,
        "solver_chain": [s["method"] for s in meta["solver_chain"]],
        "targets": ref.targets.num_rows,
    }
    certificate = meta["certificate"]
    summary = manifest.get("certificate")
    if isinstance(summary, dict):
        copied["certificate"] = {k: certificate.get(k) for k in summary}
    else:
        copied["certificate"] = "an object"
    differ = [k for k, v in copied.items() if manifest.get(k, MISSING) != v]
    checks.append(_check(
        "MANIFEST.json fields", not differ, "all equal" if not differ else f"differ: {', '.join(differ)}",
        "equal to the weights and metadata",
        "; ".join(f"{k}: MANIFEST {manifest.get(k, 'missing')!r:.120}, expected {copied[k]!r:.120}"
                  for k in differ),
    ))

    expected = weight_fingerprint(ref.weight)
    stored = manifest.get("weight_fingerprint")
    off = _fingerprint_differences(stored, expected)
    checks.append(_check(
        "MANIFEST.json fingerprint", not off, "all statistics agree" if not off else f"differ: {', '.join(off)}",
        f"n exact, others rtol {SAME_WEIGHTS_FINGERPRINT_RTOL:g}",
        "; ".join(f"{k}: MANIFEST {stored.get(k) if isinstance(stored, dict) else None!r}, "
                  f"weights {expected[k]!r}" for k in off),
    ))
    return checks


def _fingerprint_differences(stored: Any, expected: dict[str, float]) -> list[str]:
    if not isinstance(stored, dict):
        return list(expected)
    off = []
    for key, value in expected.items():
        got = stored.get(key)
        if not is_number(got):
            off.append(key)
        elif key == "n":
            if got != value:
                off.append(key)
        elif not abs(got - value) <= SAME_WEIGHTS_FINGERPRINT_RTOL * abs(value):
            off.append(key)
    return off


def problem_checks(ref: Reference, problem: Problem, m: np.ndarray) -> list[Any]:
    """The checks against the problem; `m` is the reference's m in the problem's record order."""
    checks = []
    pos = _record_positions(ref, problem)
    w0 = ref.w0[pos]
    bad = np.flatnonzero(w0 != problem.w0)
    checks.append(_check(
        "w0 = problem's w0", bad.size == 0, f"{bad.size} records differ", "exact",
        f"first: record_id {problem.record_ids[bad[0]]}: stored {w0[bad[0]]!r}, problem {problem.w0[bad[0]]!r}"
        if bad.size else "",
    ))

    order, missing = _target_positions(ref, problem)
    if missing:
        checks.append(_check(
            "targets = problem's targets", False, f"{len(missing)} targets missing", "the same names",
            f"targets.parquet lacks {', '.join(map(repr, missing[:5]))}",
        ))
        return checks
    names = problem.target_names
    stored = {c: ref.targets.column(c).to_numpy()[order] for c in ("target", "fitted", "rel_error", "dual")}

    bad = np.flatnonzero(stored["target"] != problem.t)
    checks.append(_check(
        "target = problem's target", bad.size == 0, f"{bad.size} targets differ", "exact",
        f"first: {names[bad[0]]!r}: stored {stored['target'][bad[0]]!r}, problem {problem.t[bad[0]]!r}"
        if bad.size else "",
    ))

    fitted = problem.fitted(m)
    scale = abs(problem.A).T @ (problem.w0 * m)
    err = np.abs(stored["fitted"] - fitted)
    bad = np.flatnonzero(~(err <= FITTED_RTOL * scale))
    worst = int(np.argmax(err / np.maximum(scale, np.finfo(float).tiny)))
    checks.append(_check(
        "fitted = A^T (w0 m)", bad.size == 0,
        f"max {err[worst] / max(scale[worst], np.finfo(float).tiny):.3g} of sum |A w0 m|",
        f"rtol {FITTED_RTOL:g}",
        f"{bad.size} / {problem.J} targets differ; worst {names[worst]!r}: stored {stored['fitted'][worst]!r}, "
        f"recomputed {fitted[worst]!r}",
    ))

    rel = relative_error(stored["fitted"], stored["target"])
    bad = np.flatnonzero(rel != stored["rel_error"])
    checks.append(_check(
        "rel_error = (fitted + 1) / (target + 1) - 1", bad.size == 0, f"{bad.size} targets differ", "exact",
        f"first: {names[bad[0]]!r}: stored {stored['rel_error'][bad[0]]!r}, recomputed {rel[bad[0]]!r}"
        if bad.size else "",
    ))

    checks.append(DUAL_CHECKS[problem.objective.name](problem, m, stored["dual"], names))

    loss = problem.loss(m)
    stored_loss = ref.manifest.get("loss")
    ok = (is_number(stored_loss) and abs(stored_loss - loss) <= LOSS_RTOL * abs(loss))
    checks.append(_check(
        "MANIFEST.json loss = f(m)", ok,
        f"relative difference {abs(stored_loss - loss) / abs(loss):.3g}" if ok else f"{stored_loss!r:.40} vs {loss!r}",
        f"rtol {LOSS_RTOL:g}",
        f"MANIFEST.json loss {stored_loss!r}, f(m) recomputed {loss!r}",
    ))
    return checks


def _record_positions(ref: Reference, problem: Problem) -> np.ndarray:
    """For each record of the problem, its row in the reference (verify.aligned_multipliers checked the match)."""
    return rows_by_id(ref.record_id, problem.record_ids)[0]


def _target_positions(ref: Reference, problem: Problem) -> tuple[np.ndarray, list[str]]:
    """For each target of the problem, its row in targets.parquet (by name), and the names not found."""
    names = ref.targets.column("name").to_pylist()
    if len(set(names)) != len(names) or len(set(problem.target_names)) != len(problem.target_names):
        # names do not identify targets: they must come in the same order
        if list(problem.target_names) != names:
            return np.arange(0), [n for n in problem.target_names if n not in set(names)] or ["(order)"]
        return np.arange(len(names)), []
    where = {name: i for i, name in enumerate(names)}
    missing = [n for n in problem.target_names if n not in where]
    extra = len(names) - (len(problem.target_names) - len(missing))
    if missing or extra:
        return np.arange(0), missing or [f"({extra} extra targets in targets.parquet)"]
    return np.array([where[n] for n in problem.target_names], dtype=np.int64), []


def _penalized_dual_check(problem: Problem, m: np.ndarray, dual: np.ndarray, names: tuple[str, ...]) -> Any:
    """The penalized dual is the residual: dual = B^T m - c to Newton's stopping threshold."""
    residual = problem.penalized.residual(m)
    threshold = DUAL_ATOL * max(1.0, float(np.max(np.abs(problem.penalized.c), initial=0.0)))
    err = np.abs(dual - residual)
    worst = int(np.argmax(err)) if err.size else 0
    worst_err = float(err[worst]) if err.size else 0.0
    return _check(
        "dual = B^T m - c", worst_err <= threshold,
        f"max {worst_err:.3g}",
        f"<= {threshold:.3g} (Newton's stopping rule)",
        f"{int(np.sum(err > threshold))} / {problem.J} targets' dual differ; worst {names[worst]!r}: stored "
        f"{dual[worst]!r}, B^T m - c {residual[worst]!r}" if err.size else "",
    )


def _band_dual_check(problem: Problem, m: np.ndarray, dual: np.ndarray, names: tuple[str, ...]) -> Any:
    """The band dual: finite for every kept target, NaN for the dropped ones (no multiplier). Its
    value is checked by the certificate, which starts from it (BandCertificate, stored-dual gap)."""
    dropped = np.isin(np.array(names, dtype=object), np.array(problem.objective.dropped, dtype=object))
    bad = np.flatnonzero(np.isfinite(dual) == dropped)
    return _check(
        "dual finite exactly for kept targets", bad.size == 0, f"{bad.size} targets wrong", "NaN iff dropped",
        f"first: {names[bad[0]]!r} ({'dropped' if dropped[bad[0]] else 'kept'}) has dual {dual[bad[0]]!r}"
        if bad.size else "",
    )


DUAL_CHECKS = {"penalized": _penalized_dual_check, "band": _band_dual_check}
