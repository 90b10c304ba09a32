"""diag(rows) A diag(columns) on A's pattern (goldstar.problem.scaling) is the sparse product's matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from goldstar.problem.scaling import scaled


def test_the_same_products_as_the_sparse_product_with_diagonals():
    rng = np.random.default_rng(3)
    A = sp.random(500, 40, density=0.2, format="csr", random_state=rng) * 1e4 - sp.random(
        500, 40, density=0.05, format="csr", random_state=rng)
    A.sort_indices()
    rows, columns = rng.lognormal(0, 3, 500), 1.0 / rng.lognormal(5, 4, 40)
    for r, c in ((rows, columns), (rows, None), (None, columns)):
        product = A
        if r is not None:
            product = sp.diags(r) @ product
        if c is not None:
            product = product @ sp.diags(c)
        product = sp.csr_matrix(product)
        product.sort_indices()
        mine = scaled(A, r, c)
        assert mine.has_sorted_indices
        assert np.array_equal(mine.indptr, product.indptr) and np.array_equal(mine.indices, product.indices)
        assert np.array_equal(mine.data, product.data)  # bit for bit: one product per entry either way


def test_a_zero_scale_removes_its_entries_and_the_input_is_left_alone():
    A = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0], [5.0, 0.0, 6.0]]))
    before = A.copy()
    out = scaled(A, np.array([1.0, 0.0, 2.0]), np.array([1.0, 1.0, 0.5]))
    assert out.nnz == 4 and np.array_equal(out.toarray(), [[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [10.0, 0.0, 6.0]])
    assert np.array_equal(A.data, before.data) and A.nnz == before.nnz
