"""`newton`: the exact dual semismooth Newton solver on numpy/scipy (float64, CPU).

The algorithm lives in newton_core; this module supplies its numpy kernels.
H is kept between iterations and moved by the records whose free/clipped status
changed (a rank-k update), rebuilt from scratch only when many changed: late
iterations touch few records, so they cost little more than two sparse
products.
"""

from __future__ import annotations

import warnings

from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from ..exceptions import InputError
from ..problem.model import Problem
from ..problem.scaling import scaled
from .base import ProgressFn, Solution
from .newton_core import RIDGES, KernelBase, run_newton


# From this many rows on, G_rows^T G_rows is summed from the rows' outer products
# (gram_by_outer_products), about twice as fast as scipy's sparse product there; below it
# the sparse product's lower overhead wins.
_OUTER_PRODUCT_ROWS = 20000
# Products summed per bincount: enough to amortize its pass over the J^2 bins, few enough to stay
# in cache (1M synthetic records, J = 550: 4.9 s in one piece, 1.4 s in chunks of this size).
_PAIRS_PER_CHUNK = 1 << 18


def gram_by_outer_products(G: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """G_rows^T G_rows (dense J x J) as the sum of each row's outer product g g^T.

    Rows are taken in groups of equal length k, so that each group's k(k+1)/2 products
    per row are vectorized multiplies and bincounts into the upper triangle."""
    J = G.shape[1]
    start = G.indptr[rows]
    length = G.indptr[rows + 1] - start
    order = np.argsort(length, kind="stable")
    upper = np.zeros(J * J)
    for group in np.split(order, np.flatnonzero(np.diff(length[order])) + 1):
        k = int(length[group[0]])
        if k == 0:
            continue
        a, b = np.triu_indices(k)
        step = max(1, _PAIRS_PER_CHUNK // a.size)
        for chunk in range(0, group.size, step):
            entry = start[group[chunk:chunk + step]][:, None] + np.arange(k)[None, :]
            col, val = G.indices[entry].astype(np.int64), G.data[entry]
            upper += np.bincount((col[:, a] * J + col[:, b]).ravel(), weights=(val[:, a] * val[:, b]).ravel(),
                                 minlength=J * J)
    M = upper.reshape(J, J)  # each pair once, on either side of the diagonal
    return M + M.T - np.diag(np.diag(M))


def sign_split(BT: sp.csr_matrix, lower: float) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """What KernelBase.absBTmul needs: per target (row of BT) +1 when its entries are all >= 0,
    -1 when all <= 0 (so that |B|^T m = sign * B^T m for m >= 0), and the targets with entries
    of both signs with their rows of |BT|. When multipliers may be negative (lower < 0) every
    target counts as mixed."""
    positive = np.asarray((BT > 0).sum(axis=1)).ravel() > 0
    negative = np.asarray((BT < 0).sum(axis=1)).ravel() > 0
    mixed = np.flatnonzero((positive & negative) | (lower < 0))
    sign = np.where(negative & ~positive, -1.0, 1.0)
    return sign, mixed, abs(BT[mixed]).tocsr()


class NumpyKernels(KernelBase):
    """Sparse products and the generalized Jacobian H on scipy CSR matrices."""

    def __init__(self, B: sp.csr_matrix, lam: np.ndarray, lower: float, upper: float,
                 c: np.ndarray | None = None, rebuild_fraction: float = 0.5,
                 BT: sp.csr_matrix | None = None) -> None:
        """B: n x J, a record's row; lam: n positive record scales; c: J (penalized only);
        BT: B's transpose in CSR when the caller holds it already (else it is made here)."""
        self.B = B
        self.BT = B.T.tocsr() if BT is None else BT
        self.sign, self.mixed, self.absBT_mixed = sign_split(self.BT, lower)
        self.G = scaled(B, 1.0 / np.sqrt(lam))
        self.c = c
        self.lam = lam
        self.lower = lower
        self.upper = upper
        self.rebuild_fraction = rebuild_fraction
        self.rebuilds = 0
        self.updates = 0

    def _gram(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) >= _OUTER_PRODUCT_ROWS:
            return gram_by_outer_products(self.G, rows)
        Gs = self.G[rows]
        return (Gs.T @ Gs).toarray()

    def _rowsum(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.B[rows].sum(axis=0)).ravel()

    def _where(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask)

    def _identity(self) -> np.ndarray:
        return np.eye(self.G.shape[1])

    def diag_matrix(self, v: np.ndarray) -> np.ndarray:
        return np.diag(v)

    def vector(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=np.float64)

    # array operations numpy and torch spell differently (band_core's line search)
    cat = staticmethod(np.concatenate)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def full(like: np.ndarray, value: float) -> np.ndarray:
        return np.full(like.shape, value)

    @classmethod
    def penalized(cls, problem: Problem, rebuild_fraction: float = 0.5) -> "NumpyKernels":
        form = problem.penalized
        return cls(form.B, form.lam, problem.lower, problem.upper, c=form.c, rebuild_fraction=rebuild_fraction)

    def solve(self, H: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        return cholesky_solve(H, rhs)


def cholesky_solve(H: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """H^-1 rhs for a symmetric positive semidefinite H, by Cholesky, with a ridge when it fails."""
    try:
        factor = la.cho_factor(H, lower=True, check_finite=False)
        return la.cho_solve(factor, rhs, check_finite=False)
    except la.LinAlgError:
        pass
    # H >= I in exact arithmetic for the penalized objective; the band subproblems' H is
    # singular in rounding when targets are proportional (e02400 and c02500 at $1M and
    # over) and sit at their band edges, where rho ~ 1e16 leaves nothing on the diagonal.
    # A ridge of RIDGE x its largest diagonal entry, grown until Cholesky takes it, gives a
    # descent direction; the exact line search judges the step and the certificate the answer.
    scale = float(np.max(np.abs(np.diag(H)))) or 1.0
    for ridge in RIDGES:
        try:
            factor = la.cho_factor(H + np.diag(np.full(H.shape[0], ridge * scale)), lower=True,
                                   check_finite=False)
            return la.cho_solve(factor, rhs, check_finite=False)
        except la.LinAlgError:
            continue
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", la.LinAlgWarning)
        return la.solve(H, rhs, assume_a="sym", check_finite=False)


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    k = NumpyKernels.penalized(problem, rebuild_fraction=float(options["rebuild_fraction"]))
    y0 = np.zeros(problem.J) if options["y0"] is None else dual_start(options["y0"], problem.J)
    return run_newton(k, y0, options, progress, "newton")


def dual_start(values: Any, length: int) -> np.ndarray:
    """The `y0` option as a float64 vector, or an InputError saying what it must be."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.shape != (length,) or not np.all(np.isfinite(arr)):
        raise InputError(f"`y0` must be {length} finite numbers (one per target)")
    return arr
