"""Assertions for test suites that use goldstar's weights (TMD's, a downstream model's).

    from goldstar.testing import assert_certified, assert_weights_match

    assert_weights_match(result, "reference/default")      # a Result, a Series or a reference dir
    assert_certified(result)                                # the certificate of optimality passes

A failure names the first records off (record id, expected, got, relative difference), how many
are off, and, when the weights carry their input hashes (a goldstar.api.Result), which inputs
and whether the problem differ from the reference's: the usual reason weights moved.
The pytest plugin (goldstar.pytest_plugin) adds a `goldstar_reference` fixture.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .api import Result
from .certificate import certify
from .hashing import changed_inputs
from .params import is_number
from .problem.model import Problem
from .store.layout import read_problem
from .store.reference import Reference, read_reference

# How many records off a failure message lists.
SHOWN = 5
Weights = Result | pd.Series | Reference | str | os.PathLike[str]


def _reference(reference: Reference | str | os.PathLike[str]) -> Reference:
    if isinstance(reference, Reference):
        return reference
    if not isinstance(reference, (str, os.PathLike)):
        raise TypeError(f"the reference must be a reference directory or a loaded Reference, got "
                        f"{type(reference).__name__}")
    return read_reference(reference)


def _series(weights: Weights) -> pd.Series:
    """The weights as a Series indexed by record id: one weight a record, the ids whole numbers."""
    if isinstance(weights, Result):
        return weights.weights
    if isinstance(weights, pd.Series):
        if weights.index.dtype.kind not in "iu":
            raise TypeError(f"the weights' index must hold the record ids as whole numbers, found dtype "
                            f"{weights.index.dtype}")
        if not weights.index.is_unique:
            raise AssertionError(f"the weights' record ids repeat (e.g. {weights.index[weights.index.duplicated()][0]})")
        return weights
    if not isinstance(weights, (Reference, str, os.PathLike)):
        raise TypeError(f"the weights must be a goldstar Result, a Series indexed by record_id, a reference "
                        f"directory or a loaded Reference, got {type(weights).__name__}")
    ref = _reference(weights)
    return pd.Series(ref.weight, index=pd.Index(ref.record_id, name="record_id"), name="weight")


def _rtol(rtol: float) -> float:
    if not (is_number(rtol) and math.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
    return float(rtol)


def assert_weights_match(weights: Weights, reference: Reference | str | os.PathLike[str],
                         rtol: float = 1e-9) -> None:
    """Assert every record's weight is the reference's within `rtol` (relative, per record).

    weights: a goldstar.api.Result, a Series indexed by record id, a reference directory or a
    loaded Reference; reference: a reference directory or a loaded Reference. The default rtol
    is the certificate's fixed-point tolerance: a reference re-solved on another machine agrees
    far inside it (its certificate bounds each multiplier's error near 1e-11), and a weight moved
    by 1e-8 is caught.
    """
    rtol = _rtol(rtol)
    got = _series(weights)
    ref = _reference(reference)
    expected = _series(ref)
    lines: list[str] = []
    missing = expected.index.difference(got.index)
    extra = got.index.difference(expected.index)
    if len(missing):
        lines.append(f"{len(missing):,} record(s) of the reference missing from the weights "
                     f"(first record_id {missing[0]})")
    if len(extra):
        lines.append(f"{len(extra):,} record(s) not in the reference (first record_id {extra[0]})")
    common = expected.index.intersection(got.index, sort=False)
    exp = expected.loc[common].to_numpy(dtype=np.float64)
    now = got.loc[common].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(exp != 0, np.abs(now - exp) / np.abs(exp), np.abs(now - exp))
    off = np.flatnonzero(~(rel <= rtol))  # NaN counts as off
    if off.size:
        lines.append(f"{off.size:,} of {len(expected):,} weights differ from the reference by more than "
                     f"rtol={rtol:g}; the first {min(off.size, SHOWN)}:")
        lines += [f"  record_id {common[i]}: expected {float(exp[i])!r}, got {float(now[i])!r} (relative difference {rel[i]:.6g})"
                  for i in off[:SHOWN]]
    if not lines:
        return
    if isinstance(weights, Result):
        changed = changed_inputs(ref.metadata.get("inputs", {}), weights.input_hashes)
        if changed:
            lines.append("inputs differ from the reference's: " + "; ".join(
                f"input {role} ({file}: {before} -> {now_hash})" for role, file, before, now_hash in changed))
        recorded = ref.metadata.get("problem", {}).get("problem_hash")
        if recorded != weights.problem_hash:
            lines.append(f"problem hash differs: reference {recorded}, weights {weights.problem_hash}")
    raise AssertionError(f"weights do not match the reference {ref.directory}:\n" + "\n".join(lines))


def assert_certified(weights: Weights, problem: Problem | str | os.PathLike[str] | None = None) -> None:
    """Assert the weights are the optimum of `problem` by its certificate (goldstar.certificate).

    problem: a Problem or a problem directory; may be left out for a Result (its own problem).
    Weights are matched to the problem's records by record id.
    """
    if problem is None:
        if not isinstance(weights, Result):
            raise TypeError("assert_certified needs the problem unless the weights are a goldstar Result")
        problem = weights.problem
    elif not isinstance(problem, Problem):
        problem = read_problem(Path(problem))
    got = _series(weights)
    ids = pd.Index(problem.record_ids)
    missing = ids.difference(got.index)
    if len(missing):
        raise AssertionError(f"{len(missing):,} record(s) of the problem have no weight (first record_id {missing[0]})")
    if isinstance(weights, Result) and problem is weights.problem:
        # the Result's own multipliers and dual: exact, where weights / w0 rounds
        m = weights.multipliers.reindex(ids).to_numpy(dtype=np.float64)
        y = weights.dual.reindex(list(problem.target_names)).to_numpy(dtype=np.float64)
    else:
        m, y = got.reindex(ids).to_numpy(dtype=np.float64) / problem.w0, None
    cert = certify(problem, m, y)
    if not cert.passed:
        raise AssertionError("the weights fail their certificate: " + "; ".join(cert.failures()))
