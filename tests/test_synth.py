"""The synthetic generator makes TMD-shaped problems, the same for a seed on every run."""

from __future__ import annotations

import numpy as np
import pytest

from goldstar import InputError
from goldstar.inputs.synth import synth_problem


@pytest.mark.parametrize("n, J", [(300, 24), (5000, 120), (20000, 550)])
def test_shape_of_the_generated_problem(n, J):
    p = synth_problem(n, J, seed=1)
    assert (p.n, p.J) == (n, J)
    # heavy-tailed w0: lam (which goes as w0^2) spans at least six orders of magnitude
    assert p.penalized.lam.max() / p.penalized.lam.min() >= 1e6
    # about ten nonzeros a record once J reaches the per-bin targets (small J keeps only
    # the all-incomes columns, which a record meets about five times)
    if J >= 100:
        assert 7 <= p.nnz / p.n <= 13
    # count targets (indicator columns) and amount targets both present
    names = p.target_names
    assert any(name.startswith("count/") for name in names)
    assert any(not name.startswith("count/") for name in names)
    counts = [j for j, name in enumerate(names) if name.startswith("count/")]
    assert np.all(p.A[:, counts].data == 1.0)


def test_same_seed_same_problem_other_seed_other_problem():
    a, b, c = synth_problem(2000, 60, seed=4), synth_problem(2000, 60, seed=4), synth_problem(2000, 60, seed=5)
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_inconsistent_targets_put_multipliers_on_both_bounds(medium, medium_solution):
    m = medium_solution.m
    assert np.mean(m == medium.lower) > 0.01 and np.mean(m == medium.upper) > 0.01


def test_too_many_targets_for_the_records_is_a_clear_error():
    with pytest.raises(InputError, match="ask for fewer targets"):
        synth_problem(20, 500, seed=0)
