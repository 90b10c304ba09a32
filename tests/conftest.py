"""Small named problems reused across the tests (qpsolvers-style)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from goldstar import Problem
from goldstar.inputs.synth import synth_problem

# Tax-Calculator reads this when it is first imported, by whichever test that is: the tests run it on
# slices of a few thousand records, uncompiled in seconds, where compiling its functions takes ~45 s.
os.environ.setdefault("NOTAXCALCJIT", "1")


def tiny_problem() -> Problem:
    """Four records, two targets, numbers small enough to check by hand."""
    A = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 3.0], [1.0, 1.0]])
    w0 = np.array([10.0, 20.0, 5.0, 40.0])
    t = np.array([100.0, 150.0])
    return Problem.from_arrays(A, w0, t, target_names=["count", "amount"])


@pytest.fixture
def tiny() -> Problem:
    return tiny_problem()


@pytest.fixture(scope="session")
def small() -> Problem:
    """300 records, 24 targets: small enough for dense independent solves."""
    return synth_problem(300, 24, seed=3)


@pytest.fixture(scope="session")
def medium() -> Problem:
    """5,000 records, 120 targets: TMD-shaped, solved in well under a second."""
    return synth_problem(5000, 120, seed=11)


@pytest.fixture(scope="session")
def medium_solution(medium):
    from goldstar import solve

    return solve(medium, "newton")


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.fixture(scope="session")
def small_reference(tmp_path_factory):
    """A 600-record problem directory and its reference, made once (read-only: copy before damaging)."""
    from goldstar.cli import main
    from goldstar.store.layout import write_problem

    base = tmp_path_factory.mktemp("small_reference")
    write_problem(synth_problem(600, 30, seed=4), base / "problem")
    argv = ["goldstar", "--problem", str(base / "problem"), "--reference", str(base / "ref"),
            "--lbfgsb-maxiter", "30", "--quiet"]
    assert main(argv) == 0
    return base
