"""goldstar.problem.model: the derived quantities of docs/penalized.md and every bad input's error."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from goldstar import InputError, Problem


def test_derived_quantities_match_method_md(tiny):
    A = tiny.A.toarray()
    w0, t = tiny.w0, tiny.t
    B = w0[:, None] * A / (t + 1.0)[None, :]
    np.testing.assert_array_equal(tiny.penalized.B.toarray(), B)
    np.testing.assert_array_equal(tiny.penalized.c, t / (t + 1.0))
    r1 = B.sum(axis=0) - t / (t + 1.0)
    assert tiny.penalized.L0 == pytest.approx(r1 @ r1, rel=1e-15)
    np.testing.assert_allclose(tiny.penalized.lam, 0.01 * tiny.penalized.L0 * w0**2 / np.sum(w0**2), rtol=1e-15)


def test_loss_grad_and_pg(tiny):
    rng = np.random.default_rng(0)
    m = rng.uniform(0.5, 2.0, tiny.n)
    B = tiny.penalized.B.toarray()
    r = B.T @ m - tiny.penalized.c
    assert tiny.loss(m) == pytest.approx(r @ r + tiny.penalized.lam @ (m - 1) ** 2, rel=1e-14)
    g = tiny.penalized.grad(m)
    h = 1e-6
    for i in range(tiny.n):
        e = np.zeros(tiny.n)
        e[i] = h
        numeric = (tiny.loss(m + e) - tiny.loss(m - e)) / (2 * h)
        assert g[i] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    assert tiny.pg(m) == pytest.approx(np.max(np.abs(m - np.clip(m - g, 0.1, 10.0))))
    assert tiny.loss(np.ones(tiny.n)) == pytest.approx(tiny.penalized.L0 * (1 + 0), rel=1e-15)


GOOD = dict(A=np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 3.0]]), w0=[1.0, 2.0, 3.0], t=[5.0, 9.0])


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(w0=[1.0, np.nan, 3.0]), "w0 has a non-finite value"),
        (dict(t=[5.0, np.inf]), "targets has a non-finite value"),
        (dict(A=np.array([[1.0, 0.0], [np.nan, 2.0], [0.0, 3.0]])), "non-finite value"),
        (dict(w0=[1.0, 0.0, 3.0]), "w0 must be > 0: record 1"),
        (dict(w0=[1.0, -2.0, 3.0]), "w0 must be > 0: record 1"),
        (dict(w0=[1.0, 2.0]), "w0 has 2 entries but A has 3 rows"),
        (dict(t=[5.0]), "targets have 1 entries but A has 2 columns"),
        (dict(A=np.zeros((3, 0)), t=[]), "no targets"),
        (dict(target_names=["x", "x"]), "duplicate target names: 'x'"),
        (dict(A=np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])), "no contributing record"),
        (dict(lower=2.0, upper=1.0), "`lower` must be < `upper`"),
        (dict(lower=1.0, upper=1.0), "`lower` must be < `upper`"),
        (dict(penalty=0.0), "`penalty` must be > 0"),
        (dict(penalty=-1.0), "`penalty` must be > 0"),
        (dict(penalty=float("nan")), "`penalty` must be finite"),
        (dict(objective="band"), "objective must be an objective of goldstar.problem.objectives"),
    ],
)
def test_bad_input_names_what_and_where(change, message):
    kwargs = {**GOOD, **change}
    A, w0, t = kwargs.pop("A"), kwargs.pop("w0"), kwargs.pop("t")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Problem.from_arrays(A, w0, t, **kwargs)


def test_empty_target_error_names_the_target():
    A = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(InputError, match="'wages/bin 3'"):
        Problem.from_arrays(A, [1.0, 1.0], [2.0, 3.0, 4.0], target_names=["a", "wages/bin 3", "c"])


def test_explicit_zeros_do_not_change_the_problem_or_its_hash():
    A = sp.csr_matrix((np.array([1.0, 0.0, 2.0]), (np.array([0, 0, 1]), np.array([0, 1, 1]))), shape=(2, 2))
    p1 = Problem.from_arrays(A, [1.0, 2.0], [3.0, 4.0])
    p2 = Problem.from_arrays(A.toarray(), [1.0, 2.0], [3.0, 4.0])
    assert p1.nnz == 2
    assert p1.content_hash() == p2.content_hash()


def test_content_hash_changes_with_any_value(tiny):
    base = tiny.content_hash()
    assert base.startswith("xxh3_128:")
    A = tiny.A.copy()
    A.data[0] += 1e-12
    changed = [
        Problem.from_arrays(A, tiny.w0, tiny.t, target_names=tiny.target_names),
        Problem.from_arrays(tiny.A, tiny.w0 * (1 + 1e-15), tiny.t, target_names=tiny.target_names),
        Problem.from_arrays(tiny.A, tiny.w0, tiny.t, target_names=tiny.target_names, upper=9.0),
        Problem.from_arrays(tiny.A, tiny.w0, tiny.t, target_names=["count", "amounts"]),
    ]
    hashes = {p.content_hash() for p in changed}
    assert base not in hashes and len(hashes) == len(changed)


def test_the_core_calls_say_what_they_were_given():
    """solve, certify and with_objective name a wrong argument themselves (an InputError), not by
    an AttributeError from inside; a dual of the wrong size or m left out are refused."""
    import goldstar

    problem = Problem.from_arrays(**GOOD)
    with pytest.raises(InputError, match="solve: problem must be a goldstar Problem"):
        goldstar.solve("x", "newton")
    with pytest.raises(InputError, match="solve: progress must be a function"):
        goldstar.solve(problem, "newton", progress="x")
    with pytest.raises(InputError, match="certify: problem must be a goldstar Problem"):
        goldstar.certify("x", np.ones(3))
    with pytest.raises(InputError, match="m must be numeric, got None"):
        goldstar.certify(problem, None)
    with pytest.raises(InputError, match="y has 4 entries but the problem has 2 targets"):
        goldstar.certify(problem, np.ones(3), np.zeros(4))
    with pytest.raises(InputError, match="objective must be an objective"):
        problem.with_objective(None)
    for name in ("loss", "pg", "fitted", "bound_violation"):
        with pytest.raises(InputError, match=f"{name}: m must have one entry a record \\(3\\), got shape \\(2,\\)"):
            getattr(problem, name)(np.ones(2))
    solution = goldstar.solve(problem, "newton")
    assert goldstar.certify(problem, solution.m, solution.y).passed
