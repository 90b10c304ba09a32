"""diag(rows) A diag(columns) for a CSR matrix A, on A's own sparsity pattern.

Every objective and pre-pass scales the records-by-targets matrix by a weight per record and a
scale per target. Multiplying the stored entries in place makes the same products as the
sparse product with diagonal matrices (one product per entry, so the same float64 bits), keeps
A's index order, and costs a tenth as much (a district's 280K x 88 matrix: 2.5 ms against
24 ms a side). Entries that become zero are removed, as the sparse product removes them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def scaled(A: sp.csr_matrix, rows: np.ndarray | None = None, columns: np.ndarray | None = None) -> sp.csr_matrix:
    """A new CSR matrix with entry (i, j) = (rows_i A_ij) columns_j; either scale may be None (1)."""
    out = sp.csr_matrix(A, dtype=np.float64, copy=True)
    if rows is not None:
        out.data *= np.repeat(np.asarray(rows, dtype=np.float64), np.diff(out.indptr))
    if columns is not None:
        out.data *= np.asarray(columns, dtype=np.float64)[out.indices]
    out.eliminate_zeros()
    return out
