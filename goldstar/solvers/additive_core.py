"""The exact joint method for areas that add up (docs/additive.md), on band-newton's loop.

Areas a = 1..K with population shares s_a, national weights w_i, the national record-by-cell
matrix A (n x J). Area a's weights are s_a w_i x_ia, its kept targets a subset of the J cells
with scales ts_aj, so its band matrix is C_a = s_a diag(1/ts_a) A^T diag(w) on its kept rows.
The joint problem is every area's band problem (band_core) plus, for every record,

    sum_a s_a x_ia = 1     ("additive")    or    sum_a s_a x_ia <= E     ("exhaustion")

Dualizing the targets (y, one entry per kept target of every area, area after area) and
eliminating each record's coupling multiplier nu_i exactly leaves band_core's prox loop with
three steps of its own (`JOINT_STEPS`):

- the state: S = [C_a^T y_a]_a (n x K, one sparse product for all areas), then per record
  x_ia = clip(1 - (S_ia + nu_i s_a) / 2, 0, U_a) with nu_i the root of the monotone,
  piecewise-linear r_i(nu) = sum_a s_a x_ia(nu) - c (c = 1, or E with nu_i >= 0), found
  exactly (`coupled_x`);
- the Newton matrix: blockdiag_a(C_a D_a C_a^T / 2) - sum_i v_i v_i^T / beta_i with D the
  records strictly inside their box, beta_i = sum_a s_a^2 D_ia / 2 and v_i = [s_a D_ia C_a[:, i]
  / 2]_a: the elimination of nu_i (a Schur complement). Every block is a weighted Gram matrix
  of A, so it is assembled from one national Gram plus Grams over the few records at a bound
  (`newton_matrix`), never from n outer products;
- the exact line search: h(t) = d.G(y + t d) is monotone and piecewise linear, a cheap band
  part and a records' part that re-solves every nu_i exactly (`JointLine`); its root is found
  on models exact in the band part and linear in the records' (`model_root`). When the
  full Newton step overshoots and few records' coupling binds, the direction is first scaled
  area by area, each area's part by its own step length along it with the nu_i held
  (`area_step_lengths`): one common step would stop every area at the first kink of any of them.

Only the records that feed some cell enter (others keep x = 1, which meets the coupling
with nu = 0).

`run_joint(..., dual_prox=weight)` wraps the loop in rounds of a proximal point on the dual
(the term weight |P(u - u_r)|^2 / 2, P every coordinate but the flat ones, which stay exact):
the term adds `weight` to the Newton matrix's diagonal, so each round's Newton steps stay of
the size of the gradient over the weight; the weight falls by `prox_decay` a round (tenfold by
default), and the last round has none, so its answer is the joint dual's own (docs/additive.md, "Dual proximal rounds").
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np
import scipy.sparse as sp

from .base import LIMIT_REACHED
from .band_core import SIZE_FLOOR, BandResult, BandState, Steps, Subproblem, prox_newton, scaled_solve
from .newton import cholesky_solve
from .newton_core import _BRACKET_GROWTH, _BRACKET_MAX_STEP, _LINE_SEARCH_REL_TOL, monotone_root

ADDITIVE, EXHAUSTION = "additive", "exhaustion"
# what run_joint calls with each state's relative |G| and dual y (progress, a conflict watch)
StateWatch = Callable[[float, np.ndarray], None]
# what run_joint makes its kernels with: JointKernels itself, or one factoring elsewhere (additive_torch)
KernelsFactory = Callable[["JointData"], "JointKernels"]
# The root of r_i is exact when |r_i| is within this many float64 roundings of its terms' size.
ROOT_ULPS = 8
ROOT_MAX_ROUNDS = 200
# The line search stops once its bracket is this narrow next to its right end (model_root): an
# evaluation solves every record's coupling again (0.2 s for the 51 states), and far from the
# optimum the root sits among thousands of kinks; near it the Newton step on the piece (t = 1)
# is exact at once.
LINE_BRACKET = 1e-3
# area_step_lengths' rounds of Newton-or-bisection per root: bisection alone narrows a bracket
# to LINE_BRACKET in ~10 rounds from [1, 4], and to it from [lo, 1e12] in ~50.
AREA_ROOT_ROUNDS = 60
# Newton rounds before the records still unresolved get their root from sorted breakpoints.
NEWTON_ROUNDS = 3
# The band variable's prox weight mu per target (band_core: w = clip(w_k + y / (2 mu), l, u)):
# PROX_SCALE over the target's own curvature from its records, diag(C_a C_a^T) (`prox_mu`). A
# band whose fit enters its interior adds 1/(2 mu) to the dual's curvature along its entry; at
# band-newton's national mu = 1 that is 1e3 to 1e5 times what the records give a target of the
# areas (the scaled Gram's diagonal is ~1/records), so a crossing bent the line search's h
# sharply and steps stopped at such crossings. At this scale a crossing bends it by ten times the
# target's own curvature, and the prox loop on w still contracts by ~0.1 an outer iteration where
# the records can fit the target (docs/additive.md, "The method", has the figures).
PROX_SCALE = 0.1
# joint_step scales the Newton direction area by area (`area_step_lengths`) only while at most
# this fraction of the records' coupling binds: each area's own step length holds every nu_i at
# the state's, exact for a record whose coupling does not bind and a poor model where most do.
# Under "additive" every record's binds; under a cap of 2 on the 51 states 94 of 215,577 do
# (docs/additive.md, "One step length per area", has a tight cap's figures).
AREA_STEPS_MAX_BINDING = 0.1


@dataclass
class JointData:
    """The joint problem's arrays (module docstring), records restricted to those feeding a cell."""

    A: sp.csr_matrix  # n x J, the records that feed some cell
    absA: sp.csr_matrix
    w: np.ndarray  # n national weights
    shares: np.ndarray  # K
    upper: np.ndarray  # K, the box [0, U_a]
    kept: np.ndarray  # K x J bool: area a keeps cell j
    ts: np.ndarray  # K x J target scales (1 where not kept)
    mode: str = ADDITIVE
    bound: float = 1.0  # c: 1 (additive) or E (exhaustion)

    @property
    def n(self) -> int:
        return int(self.A.shape[0])

    @property
    def K(self) -> int:
        return int(self.shares.size)

    @property
    def N(self) -> int:
        return int(self.kept.sum())

    @property
    def area_of(self) -> np.ndarray:
        """Each dual entry's area (N: y is area after area)."""
        return np.repeat(np.arange(self.K), self.kept.sum(axis=1))

    @property
    def position(self) -> np.ndarray:
        """K x J: the index in y of area a's band of cell j, -1 where a does not keep j."""
        return np.where(self.kept, np.cumsum(self.kept.ravel()).reshape(self.kept.shape) - 1, -1)

    @property
    def target_factor(self) -> np.ndarray:
        """f_aj = s_a^2 / ts_aj (K x J): the Newton matrix's entry (a, j), (b, k) is f_aj f_bk
        times its unscaled Gram sum (newton_matrix)."""
        return self.shares[:, None] ** 2 / self.ts

    def scatter(self, y: np.ndarray) -> np.ndarray:
        """y (N, area after area) -> K x J with zeros where a cell is not kept."""
        full = np.zeros(self.kept.shape)
        full[self.kept] = y
        return full

    def CT(self, y: np.ndarray, absolute: bool = False, rows: np.ndarray | None = None) -> np.ndarray:
        """[C_a^T y_a]_a: n x K ([|C_a|^T y_a]_a with `absolute`; only the records `rows` if given)."""
        M = (self.scatter(y) * self.shares[:, None] / self.ts).T  # J x K
        A, w = (self.absA if absolute else self.A), self.w
        if rows is not None:
            A, w = A[rows], w[rows]
        return w[:, None] * np.asarray(A @ M)

    def C(self, X: np.ndarray, absolute: bool = False) -> np.ndarray:
        """[C_a x_a]_a (|C_a| x_a with `absolute`), area after area: N."""
        A = self.absA if absolute else self.A
        R = np.asarray(A.T @ (self.w[:, None] * X)).T * self.shares[:, None] / self.ts  # K x J
        return R[self.kept]


@dataclass
class Coupled:
    """x(S) with each record's coupling multiplier nu and the records' states."""

    x: np.ndarray  # n x K
    nu: np.ndarray  # n
    free: np.ndarray  # n x K bool: strictly inside [0, U_a]
    active: np.ndarray  # n bool: nu_i responds to S (the coupling binds); always in "additive"


def coupled_x(data: JointData, S: np.ndarray, nu0: np.ndarray | None = None) -> Coupled:
    """The exact nu_i and x_ia for n x K S (module docstring): Newton steps on each record's
    piecewise-linear r_i from the root it has with every x_ia inside its box; the records still
    unresolved after NEWTON_ROUNDS take the root read off their sorted breakpoints, then Newton
    steps kept inside a bracket (bisection when a step leaves it) end on the piece of the root.
    `nu0` is accepted for callers that hold the last roots; the start above is as good.

    Each round's n x K passes are the fewest it needs (this is the joint method's most frequent
    kernel: a Newton step and each line search evaluation solve every record): the slopes only
    for the records whose root is not yet exact, the box's upper side as one number when every
    area has the same (a pass over an array against a scalar bound is twice as fast)."""
    s, c = data.shares, data.bound
    U = float(data.upper[0]) if np.all(data.upper == data.upper[0]) else data.upper
    half_s, s2 = s / 2.0, s * s
    base = np.multiply(S, -0.5)  # x_ia = clip(base_ia - nu s_a / 2, 0, U_a)
    base += 1.0
    n = S.shape[0]
    nu = (2.0 * (base @ s) - 2.0 * c) / s2.sum()
    active = np.ones(n, dtype=bool)
    floor = -np.inf
    if data.mode == EXHAUSTION:
        clipped = np.clip(base, 0.0, U)
        active = clipped @ s - c > 0  # at nu = 0 the cap holds: nu = 0
        floor = 0.0
        nu = np.where(active, np.maximum(nu, 0.0), 0.0)
    todo = np.flatnonzero(active)
    # every record in the first round (always under "additive"): its x and free are the answer's
    # wherever nu does not move after it, and only the others are computed again at the end
    whole = todo.size == n
    first = None
    b = base if whole else base[todo]
    lo, hi = np.full(todo.size, floor), np.full(todo.size, np.inf)
    tiny = ROOT_ULPS * np.finfo(float).eps
    for round_ in range(ROOT_MAX_ROUNDS):
        if todo.size == 0:
            break
        if round_ == NEWTON_ROUNDS:  # the rest: the root read off their sorted breakpoints, bracketed
            nu[todo] = np.maximum(_sorted_root(b, s, U, c), floor)
            lo = np.maximum(lo, np.maximum(((b - U) * 2.0 / s).min(axis=1), floor))
            hi = np.minimum(hi, (b * 2.0 / s).max(axis=1))
        m = nu[todo]
        inner = np.multiply.outer(m, half_s)
        np.subtract(b, inner, out=inner)
        x = np.clip(inner, 0.0, U)
        sx = x @ s
        r = sx - c
        done = np.abs(r) <= tiny * (sx + c)
        lo = np.where(r > 0, m, lo)
        hi = np.where(r < 0, m, hi)
        inside = (inner > 0.0) & (inner < U)
        keep = np.flatnonzero(~done)
        slope = inside[keep] @ s2 / 2.0  # -dr/dnu on this piece
        mk, lk, hk = m[keep], lo[keep], hi[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = mk + r[keep] / slope
            ok = (slope > 0) & (step > lk) & (step < hk)
            nxt = np.where(ok, step, 0.5 * (lk + hk))
        nxt = np.where(np.isfinite(nxt), nxt, mk)  # an unbounded bracket waits for the sorted root
        stuck = (nxt == mk) & np.isfinite(lk) & np.isfinite(hk)  # the bracket is down to adjacent floats
        nu[todo[keep]] = nxt
        keep = keep[~stuck]
        if round_ == 0 and whole:
            first = (x, inside, todo[keep])  # the rows whose nu moves after this round
        todo, lo, hi, b = todo[keep], lo[keep], hi[keep], b[keep]
    if data.mode == EXHAUSTION:  # nu = 0 leaves most records' x at clip(base): only the others move
        x, free = clipped, (base > 0.0) & (base < U)
        rows = np.flatnonzero(nu)
        inner = base[rows] - nu[rows, None] * half_s
        x[rows] = np.clip(inner, 0.0, U)
        free[rows] = (inner > 0.0) & (inner < U)
        return Coupled(x=x, nu=nu, free=free, active=active)
    if first is not None:
        x, free, moved = first
        inner = base[moved] - nu[moved, None] * half_s
        x[moved] = np.clip(inner, 0.0, U)
        free[moved] = (inner > 0.0) & (inner < U)
        return Coupled(x=x, nu=nu, free=free, active=active)
    inner = base - nu[:, None] * half_s
    return Coupled(x=np.clip(inner, 0.0, U), nu=nu, free=(inner > 0.0) & (inner < U), active=active)


def uncoupled_x(data: JointData, y: np.ndarray) -> np.ndarray:
    """x at the dual y with every coupling multiplier zero: each area's own optimum given its
    duals (the separate solves' x from their duals), n x K."""
    return np.clip(1.0 - data.CT(y) / 2.0, 0.0, data.upper[None, :])


def multipliers_of_dual(data: JointData, y: np.ndarray) -> np.ndarray:
    """x at the dual y (n x K), every record's coupling multiplier solved exactly; S from y with
    the flat part taken out (FlatGauge.reduced: the same x, without that part's rounding)."""
    gauge = FlatGauge(data)
    return coupled_x(data, data.CT(gauge.reduced(gauge.from_y(np.asarray(y, dtype=np.float64))))).x


def _sorted_root(b: np.ndarray, s: np.ndarray, U: float | np.ndarray, c: float) -> np.ndarray:
    """The root of r(nu) = sum_a s_a clip(b_a - nu s_a / 2, 0, U_a) - c for each row of b, from its
    2K breakpoints sorted: x_a leaves U at 2 (b_a - U_a) / s_a (r's slope falls by s_a^2 / 2) and
    reaches 0 at 2 b_a / s_a (it rises back); r = sum s U - c before the first."""
    m, K = b.shape
    points = np.concatenate([2.0 * (b - U) / s, 2.0 * b / s], axis=1)
    change = np.concatenate([np.broadcast_to(-s * s / 2.0, (m, K)), np.broadcast_to(s * s / 2.0, (m, K))], axis=1)
    order = np.argsort(points, axis=1, kind="stable")
    points = np.take_along_axis(points, order, axis=1)
    slope = np.cumsum(np.take_along_axis(change, order, axis=1), axis=1)  # r's slope after each point
    gaps = np.diff(points, axis=1)
    r = (s * U).sum() - c + np.concatenate([np.zeros((m, 1)), np.cumsum(slope[:, :-1] * gaps, axis=1)], axis=1)
    k = np.argmax(r <= 0.0, axis=1)  # the first point where r <= 0 (r at the last point is -c < 0)
    rows = np.arange(m)
    before = np.maximum(k - 1, 0)
    seg = slope[rows, before]
    with np.errstate(divide="ignore", invalid="ignore"):
        root = points[rows, before] - r[rows, before] / seg
    return np.where((k > 0) & (seg < 0), root, points[rows, k])


def _gram(A: sp.csr_matrix, weights: np.ndarray) -> np.ndarray:
    """A^T diag(weights) A, dense J x J, over the rows with a nonzero weight."""
    rows = np.flatnonzero(weights)
    if rows.size == 0:
        return np.zeros((A.shape[1], A.shape[1]))
    sub = A[rows]
    return np.asarray((sub.T @ sp.diags(weights[rows]) @ sub).todense())


class JointGrams:
    """The national Gram matrix A^T diag(w^2) A, computed once."""

    def __init__(self, data: JointData):
        self.Gw = _gram(data.A, data.w**2)


# _add_pair_grams takes a record's pairs of areas at a bound in one sparse product over every such
# record (its cost grows as the square of its areas at a bound times its cells), or, where that
# square exceeds DENSE_PAIR_FACTOR times the areas, in dense products, one a pair of cells over
# every record that feeds both (their cost grows with the areas alone). At the start of TMD's
# 175-target state spec's joint solve (51 states, 99,319 records at a bound in two areas or more)
# the Newton matrix took 12.9 s with the sparse product alone, 4.6 s split at nB^2 > 2K
# (docs/additive.md, "The Newton matrix's pairs"; scripts/bench_newton_matrix.py).
DENSE_PAIR_FACTOR = 2.0


def newton_matrix(data: JointData, grams: JointGrams, cp: Coupled, *,
                  dense_pair_factor: float = DENSE_PAIR_FACTOR) -> np.ndarray:
    """The C-part of the Newton matrix (module docstring), N x N, assembled from Gram matrices.

    With B = 1 - D (at a bound) and phi_i = w_i^2 / (4 beta_i) for records whose coupling binds:
      block (a, a) of blockdiag: s_a^2 / 2 diag(1/ts_a) (Gw - A^T diag(w^2 B_a) A) diag(1/ts_a),
      block (a, b) of the coupling: s_a^2 s_b^2 diag(1/ts_a) A^T diag(phi D_a D_b) A diag(1/ts_b),
    and D_a D_b = 1 - B_a - B_b + B_a B_b: one Gram over every record, K over the records at a
    bound in an area, and the B_a B_b terms of every pair of areas at once (`_add_pair_grams`,
    split between its two products at `dense_pair_factor`). The
    K x J x K x J array is filled in place, one pass a term."""
    K, J = data.kept.shape
    s2 = data.shares**2
    Bnd = 1.0 - cp.free
    phi = _phi(data, cp.free, cp.active, data.w)
    w2 = data.w**2
    # a record inside its box in every area, its coupling binding, has phi = w^2 / (2 sum s^2):
    # one national Gram, corrected over the other records
    inside = 0.5 / s2.sum()
    G0 = inside * grams.Gw + _gram(data.A, phi - inside * w2)
    Ga = np.stack([_gram(data.A, phi * Bnd[:, a]) for a in range(K)])  # K x J x J
    W = np.empty((K, J, K, J))
    W[...] = -G0[None, :, None, :]
    W += Ga[:, :, None, :]
    W += np.transpose(Ga, (1, 0, 2))[None, :, :, :]
    for a in range(K):  # B_a B_a = B_a; the blockdiag part
        W[a, :, a, :] += 0.5 / s2[a] * (grams.Gw - _gram(data.A, w2 * Bnd[:, a])) - Ga[a]
    _add_pair_grams(W, data, Bnd, phi, _pair_split(Bnd, phi, dense_pair_factor))
    # W now holds H / (s_a^2 s_b^2) before the scaling by the targets': one pass for both
    f = data.target_factor
    W *= f[:, :, None, None]
    W *= f[None, None, :, :]
    flat = data.kept.ravel()
    return W.reshape(K * J, K * J)[np.ix_(flat, flat)]


def _phi(data: JointData, free: np.ndarray, active: np.ndarray, w: np.ndarray) -> np.ndarray:
    """phi_i = w_i^2 / (4 beta_i), beta_i = sum_a s_a^2 D_ia / 2, for records whose coupling
    binds (0 for the others and where no entry is free), from their states (rows of free, active)
    and weights w."""
    beta = (free * data.shares**2).sum(axis=1) / 2.0
    return np.where(active & (beta > 0), w**2 / np.where(beta > 0, 4.0 * beta, 1.0), 0.0)


def pair_records(data: JointData, cp: Coupled, factor: float = DENSE_PAIR_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """The records in the pairs of areas' term at `cp` (their coupling binds, phi > 0, and they are
    at a bound in two areas or more): those for the sparse product and those for the dense ones,
    at nB^2 > factor K (DENSE_PAIR_FACTOR above)."""
    return _pair_split(1.0 - cp.free, _phi(data, cp.free, cp.active, data.w), factor)


def _pair_split(Bnd: np.ndarray, phi: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """pair_records from newton_matrix's own Bnd (records x areas, 1 at a bound) and phi."""
    at_bound = Bnd.sum(axis=1)
    two = (at_bound >= 2) & (phi > 0)
    many = two & (at_bound**2 > factor * Bnd.shape[1])
    return np.flatnonzero(two & ~many), np.flatnonzero(many)


def _add_pair_grams(W: np.ndarray, data: JointData, Bnd: np.ndarray, phi: np.ndarray,
                    rows: tuple[np.ndarray, np.ndarray]) -> None:
    """W[a, :, b, :] -= A^T diag(phi B_a B_b) A for every pair a != b, over `pair_records`' rows:
    those at a bound in few areas by `_sparse_pair_grams`, those in many by `_dense_pair_grams`."""
    sparse_rows, dense_rows = rows
    _sparse_pair_grams(W, data, Bnd, phi, sparse_rows)
    _dense_pair_grams(W, data, Bnd, phi, dense_rows)


def _sparse_pair_grams(W: np.ndarray, data: JointData, Bnd: np.ndarray, phi: np.ndarray, rows: np.ndarray) -> None:
    """_add_pair_grams' term over `rows` as one sparse product Z^T Z, Z's row i holding
    sqrt(phi_i) A_i in the column block of each area where record i is at a bound."""
    if rows.size == 0:
        return
    K, J = data.kept.shape
    sub = data.A[rows].tocsr()
    sub.sort_indices()
    rec, area = np.nonzero(Bnd[rows] > 0)  # each (record, area at a bound), by record, areas in order
    entry, lengths = _row_entries(sub, rec)
    cols = np.repeat(area * J, lengths) + sub.indices[entry]
    vals = np.repeat(np.sqrt(phi[rows])[rec], lengths) * sub.data[entry]
    # Z's entries come row by row with their columns ascending and none twice: its CSR arrays
    # as they are, without the sort a (row, column) construction would make
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rec, weights=lengths, minlength=rows.size))]).astype(np.int64)
    Z = sp.csr_matrix((vals, cols, indptr), shape=(rows.size, K * J))
    M = (Z.T @ Z).tocsr()  # a sparse product holds each (row, column) once
    at = np.repeat(np.arange(K * J), np.diff(M.indptr))
    cross = (at // J) != (M.indices // J)  # the pairs a != b; a = b is B_a itself, counted above
    W.reshape(K * J, K * J)[at[cross], M.indices[cross]] -= M.data[cross]


def _dense_pair_grams(W: np.ndarray, data: JointData, Bnd: np.ndarray, phi: np.ndarray, rows: np.ndarray) -> None:
    """_add_pair_grams' term over `rows` a pair of cells (j, k), j <= k, at a time: the K x K
    block W[:, j, :, k] takes B^T diag(c) B over the records feeding both cells, c_i =
    phi_i A_ij A_ik and B their rows of Bnd (one dense product), its diagonal (a = b) left out;
    W[:, k, :, j] its transpose. The records come a cell j at a time, so what is held at once
    is one cell's records' pairs."""
    if rows.size == 0:
        return
    J = data.kept.shape[1]
    sub = (sp.diags(np.sqrt(phi[rows])) @ data.A[rows]).tocsr()  # entries sqrt(phi_i) A_ij
    sub.sort_indices()
    by_cell = sub.tocsc()
    at_bound = np.ascontiguousarray(Bnd[rows])
    most = int(np.diff(by_cell.indptr).max())
    gathered, scaled = np.empty((most, data.K)), np.empty((most, data.K))
    for j in range(J):
        records = by_cell.indices[by_cell.indptr[j]:by_cell.indptr[j + 1]]
        if records.size == 0:
            continue
        entry, lengths = _row_entries(sub, records)
        k = sub.indices[entry]
        which = np.repeat(np.arange(records.size), lengths)
        later = k >= j
        k, which = k[later], which[later]
        c = sub.data[entry[later]] * by_cell.data[by_cell.indptr[j] + which]
        order = np.argsort(k, kind="stable")
        k, which, c = k[order], which[order], c[order]
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        for first, end in zip(starts, np.r_[starts[1:], k.size]):
            m = end - first
            B, Bc = gathered[:m], scaled[:m]
            np.take(at_bound, records[which[first:end]], axis=0, out=B)
            np.multiply(B, c[first:end, None], out=Bc)
            block = Bc.T @ B
            np.fill_diagonal(block, 0.0)
            W[:, j, :, k[first]] -= block
            if k[first] != j:
                W[:, k[first], :, j] -= block.T


# IncrementalNewtonMatrix rebuilds the C-part from its Grams (about 0.6 s for the 51 states) when
# the records whose state changed would put more than this many entries into the update's
# sparse product (its cost; the rebuild's own pair Grams hold ~3e7 for the 51 states).
UPDATE_MAX_ENTRIES = 5_000_000


class IncrementalNewtonMatrix:
    """newton_matrix's C-part kept from state to state and updated record by record.

    The C-part is a sum over records of a term that depends only on the record's state: which
    of its x_ia are strictly inside their box (D_i) and whether its coupling binds. From one
    Newton step to the next a few records change state (tens out of 215,577 once the first
    steps are taken), so the C-part at the new state is the last one plus, for each such record,
    its new term minus its old one: every term is a sum of signed outer products u u^T of sparse
    vectors over the kept targets,

        blockdiag:  + w_i^2 / (2 s_a^2) g_a g_a^T for each area a with D_ia = 1,
        coupling:   - phi_i (D_i o g)(D_i o g)^T,  phi_i = w_i^2 / (4 beta_i),

    g holding f_aj A_ij (f = s_a^2 / ts_aj) at each kept (a, j) the record feeds; the update
    is one sparse product U diag(sign) U^T over the changed records' vectors. Where it would be
    large (UPDATE_MAX_ENTRIES) the C-part is built again from its Grams (newton_matrix)."""

    def __init__(self, data: JointData, grams: JointGrams):
        self.data, self.grams = data, grams
        self.position = data.position
        self.f = data.target_factor
        self.H: np.ndarray | None = None
        self.work: np.ndarray | None = None  # the copy handed out, written over at each call
        self.free: np.ndarray | None = None
        self.active: np.ndarray | None = None
        self.rebuilds = self.updates = 0

    def at(self, cp: Coupled) -> np.ndarray:
        """The C-part at cp's state, in an array the caller may write over until the next call."""
        changed = None
        if self.H is not None:
            changed = np.flatnonzero((cp.free != self.free).any(axis=1) | (cp.active != self.active))
        if changed is None or self._entries(changed, cp) > UPDATE_MAX_ENTRIES:
            self.H = newton_matrix(self.data, self.grams, cp)
            self.rebuilds += 1
        elif changed.size:
            self._update(changed, cp)
            self.updates += 1
        self.free, self.active = cp.free.copy(), cp.active.copy()
        if self.work is None:
            self.work = np.empty_like(self.H)
        np.copyto(self.work, self.H)
        return self.work

    def _entries(self, rows: np.ndarray, cp: Coupled) -> int:
        """The update's product size: each changed record's vectors' lengths, squared."""
        cells = np.diff(self.data.A.indptr)[rows].astype(float)
        new, old = cp.free[rows], self.free[rows]
        return int((cells**2 * (new.sum(axis=1) ** 2 + old.sum(axis=1) ** 2 + (new != old).sum(axis=1))).sum())

    def _update(self, rows: np.ndarray, cp: Coupled) -> None:
        data = self.data
        old_free, new_free = self.free[rows], cp.free[rows]
        phi_old = _phi(data, old_free, self.active[rows], data.w[rows])
        phi_new = _phi(data, new_free, cp.active[rows], data.w[rows])
        flip = new_free != old_free
        m = rows.size
        # U's entries a (record, area) pair at a time: (records, areas, scales, columns) and each
        # column's sign; a record's coupling vector is one column over the areas it covers
        parts = []
        for free, phi, sign, first in ((new_free, phi_new, -1.0, 0), (old_free, phi_old, 1.0, m)):
            rec, area = np.nonzero(free & (phi > 0)[:, None])
            parts.append((rec, area, np.sqrt(phi[rec]), first + rec, np.full(m, sign)))
        rec, area = np.nonzero(flip)
        block = data.w[rows[rec]] / (math.sqrt(2.0) * data.shares[area])
        parts.append((rec, area, block, 2 * m + np.arange(rec.size), np.where(new_free[rec, area], 1.0, -1.0)))
        sub = data.A[rows].tocsr()
        rec = np.concatenate([p[0] for p in parts])
        area = np.concatenate([p[1] for p in parts])
        scale = np.concatenate([p[2] for p in parts])
        column = np.concatenate([p[3] for p in parts])
        signs = np.concatenate([p[4] for p in parts])
        entry, lengths = _row_entries(sub, rec)
        cell = sub.indices[entry]
        area_e = np.repeat(area, lengths)
        target = self.position[area_e, cell]
        value = np.repeat(scale, lengths) * sub.data[entry] * self.f[area_e, cell]
        keep = target >= 0
        U = sp.csc_matrix((value[keep], (target[keep], np.repeat(column, lengths)[keep])),
                          shape=(data.N, signs.size))
        delta = (U @ sp.diags(signs) @ U.T).tocoo()
        self.H[delta.row, delta.col] += delta.data


def _row_entries(sub: sp.csr_matrix, rec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions in sub.data and sub.indices of the entries of rows rec[0], rec[1], ... one
    row after the other (a row as often as it appears), and each row's number of entries."""
    starts, lengths = sub.indptr[rec], np.diff(sub.indptr)[rec]
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum()), lengths


class FlatGauge:
    """Coordinates u of the dual in which the coupling's flat directions stand apart.

    Moving every area's dual of a cell j by y_aj += ts_aj q_j (for a cell every area keeps)
    moves S_ia by s_a w_i A_ij q_j: the same share s_a times one number per record, which that
    record's coupling multiplier absorbs exactly ("additive" only; a record whose cap does not
    bind absorbs nothing). x does not move: only the band terms, with curvature 1/(2 rho), see
    such a move, so in y's coordinates the Newton matrix's C-part is singular along them to
    rounding, and at rho = 1e16 the rounding is larger than the curvature.

    In u one area (the anchor, the largest share) holds each such cell's q_j (u = y there) and
    the other areas hold y_aj - ts_aj q_j. Then S comes from u with the anchors' entries zeroed
    (`reduced`), the C-part of the Newton matrix is y's with the anchors' rows and columns
    zeroed, exactly, and the band terms' part is T^T diag(b) T, written out (`newton_matrix`).
    With no such cell (or under a cap) it is the identity."""

    def __init__(self, data: JointData):
        flat = data.kept.all(axis=0) if data.mode == ADDITIVE else np.zeros(data.kept.shape[1], dtype=bool)
        position = data.position  # y's index of (a, j); flat cells are kept everywhere
        anchor_area = int(np.argmax(data.shares))
        cells = np.flatnonzero(flat)
        others = [a for a in range(data.K) if a != anchor_area]
        self.anchor = position[anchor_area, cells]  # one per flat cell
        self.member = position[others][:, cells].ravel()  # the other areas' entries, area by area
        self.owner = np.tile(np.arange(cells.size), len(others))  # each member's flat cell
        self.ratio = (data.ts[others][:, cells] / data.ts[anchor_area, cells][None, :]).ravel()
        self.cells, self.anchor_scale = cells, data.ts[anchor_area, cells]
        # every area's entry of each flat cell (cells x K, the anchor's among them) and its ratio
        self.cell_entries = position[:, cells].T
        self.cell_ratio = (data.ts[:, cells] / data.ts[anchor_area, cells][None, :]).T

    def to_y(self, u: np.ndarray) -> np.ndarray:
        y = u.copy()
        y[self.member] += self.ratio * u[self.anchor][self.owner]
        return y

    def from_y(self, y: np.ndarray) -> np.ndarray:
        u = y.copy()
        u[self.member] -= self.ratio * y[self.anchor][self.owner]
        return u

    def reduced(self, u: np.ndarray) -> np.ndarray:
        """u with the anchors' entries zeroed: what moves x (C^T of it gives S up to nu's shift)."""
        out = u.copy()
        out[self.anchor] = 0.0
        return out

    def gradient(self, g_y: np.ndarray) -> np.ndarray:
        """T^T g: g in y's coordinates to u's."""
        g = g_y.copy()
        np.add.at(g, self.anchor[self.owner], self.ratio * g_y[self.member])
        return g

    def best_flat(self, sub: Subproblem, u: np.ndarray, r: np.ndarray) -> np.ndarray:
        """u with each flat cell's q_j at the root of its own gradient entry (`flat_solve`):
        given the other coordinates and the fit r, each q_j is a one-variable problem."""
        if self.cells.size == 0:
            return u
        out = u.copy()
        out[self.anchor] = flat_solve(self, sub, u, r)
        return out

    def tangent(self, d: np.ndarray, b: np.ndarray) -> np.ndarray:
        """y's velocity when u moves along d and the flat coordinates follow at their best: on a
        flat cell y' = d + c q', q' the root of the cell's linearized gradient entry (band
        curvatures b), q' = -sum_a c_a b_a d_a / sum_a c_a^2 b_a."""
        move = d.copy()
        if self.cells.size:
            E, c = self.cell_entries, self.cell_ratio
            bE = np.broadcast_to(b, d.shape)[E]
            move[E] += c * (-(c * bE * d[E]).sum(axis=1) / (c * c * bE).sum(axis=1))[:, None]
        return move

    def nu_shift(self, data: JointData, u: np.ndarray) -> np.ndarray:
        """g (n): S of u's flat part is g_i s_a, so nu of y is nu of the reduced u minus g."""
        q = np.zeros(data.kept.shape[1])
        q[self.cells] = u[self.anchor] / self.anchor_scale
        return data.w * (data.A @ q)

    def newton_matrix(self, c_part: np.ndarray, b: np.ndarray) -> np.ndarray:
        """T^T (H_c + diag(b)) T with T^T H_c T = H_c without the anchors' rows and columns,
        written over `c_part` (newton_matrix's own array)."""
        H = c_part
        H[self.anchor, :] = 0.0
        H[:, self.anchor] = 0.0
        H[np.diag_indices_from(H)] += b
        coupling = self.ratio * b[self.member]
        H[self.anchor[self.owner], self.member] += coupling
        H[self.member, self.anchor[self.owner]] += coupling
        np.add.at(H, (self.anchor[self.owner], self.anchor[self.owner]), self.ratio * coupling)
        return H


def flat_solve(gauge: FlatGauge, sub: Subproblem, u: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Each flat cell's anchor coordinate z at the root of its gradient entry, exactly.

    With the other coordinates fixed, area a's dual of cell j is y_a = v_a + c_a z (v the area's
    u entry, 0 for the anchor; c = ts_aj / ts_anchor,j), and the entry is
        F(z) = sum_a c_a (y_a / (2 rho_a) + clip(wk_a + y_a / (2 mu_a), l_a, u_a) - r_a),
    increasing and piecewise linear in z: slope sum_a c_a^2 (1 / (2 rho_a) + [inside] / (2 mu_a)),
    with two breakpoints an area where its band clip starts and stops. (sum_a c_a r_a is the cell's
    national total over ts_anchor, whatever x: the coupling fixes it.) F is evaluated at every
    breakpoint, the root read off the sorted values and polished by a Newton step on its piece."""
    E, c = gauge.cell_entries, gauge.cell_ratio  # cells x K
    v = u[E]
    v[np.arange(E.shape[0]), np.argmax(E == gauge.anchor[:, None], axis=1)] = 0.0
    rho, mu, wk, lo, hi, rr = (np.broadcast_to(a, u.shape)[E] for a in (sub.rho, sub.mu, sub.wk, sub.l, sub.u, r))

    def F(z: np.ndarray) -> np.ndarray:  # z: cells x m -> cells x m
        y = v[:, None, :] + c[:, None, :] * z[:, :, None]
        terms = y / (2.0 * rho[:, None, :]) + np.clip(wk[:, None, :] + y / (2.0 * mu[:, None, :]),
                                                      lo[:, None, :], hi[:, None, :]) - rr[:, None, :]
        return (c[:, None, :] * terms).sum(axis=2)

    def slope(z: np.ndarray) -> np.ndarray:  # z: cells
        wa = wk + (v + c * z[:, None]) / (2.0 * mu)
        return (c * c * (1.0 / (2.0 * rho) + ((wa > lo) & (wa < hi)) / (2.0 * mu))).sum(axis=1)

    points = np.sort(np.concatenate([(2.0 * mu * (lo - wk) - v) / c, (2.0 * mu * (hi - wk) - v) / c], axis=1), axis=1)
    values = F(points)
    rows = np.arange(points.shape[0])
    k = np.argmax(values >= 0.0, axis=1)  # the first breakpoint where F >= 0
    none = ~(values >= 0.0).any(axis=1)
    k = np.where(none, points.shape[1] - 1, k)
    z = points[rows, k].copy()
    inside = (k > 0) & ~none
    prev = np.maximum(k - 1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        span = values[rows, k] - values[rows, prev]
        z = np.where(inside & (span > 0),
                     points[rows, prev] - values[rows, prev] * (points[rows, k] - points[rows, prev]) / span, z)
    for _ in range(2):  # on its piece F is linear: a Newton step lands on the root (outside the
        z = z - F(z[:, None])[:, 0] / slope(z)  # breakpoints too, where only the rho terms move)
    return z


class JointKernels:
    """What band_core's loop asks of its kernels, for the joint problem on numpy."""

    def __init__(self, data: JointData):
        self.data = data
        self.grams = JointGrams(data)
        self.c_part = IncrementalNewtonMatrix(data, self.grams)
        self.gauge = FlatGauge(data)
        self.last_nu: np.ndarray | None = None  # the last state's nu: where the next roots start
        # the dual prox term -prox_weight |P(u - center)|^2 / 2 (P: every coordinate but the flat
        # ones, which are solved exactly); weight 0 is the joint dual itself (run_joint)
        self.center: np.ndarray | None = None
        self.prox_weight = 0.0
        self.proxed = np.ones(data.N)
        self.proxed[self.gauge.anchor] = 0.0
        self.area_of = data.area_of
        self.probe: tuple | None = None  # joint_step's h along its direction, for the line search
        self.on_state: StateWatch | None = None  # called with each state's |G| and y (run_joint's `on_state`)
        self.steps = 0  # Newton steps taken (one line search each)

    def prox_gradient(self, u: np.ndarray) -> np.ndarray:
        """The dual prox term's gradient at u (zero when it is off)."""
        if self.prox_weight == 0.0 or self.center is None:
            return np.zeros_like(u)
        return self.prox_weight * self.proxed * (u - self.center)

    @staticmethod
    def scalar(x: Any) -> float:
        return float(x)

    @staticmethod
    def count(mask: Any) -> int:
        return int(np.count_nonzero(mask))

    @staticmethod
    def diag_matrix(v: np.ndarray) -> np.ndarray:
        return np.diag(v)

    @staticmethod
    def solve(H: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        return cholesky_solve(H, rhs)


def joint_state(k: JointKernels, sub: Subproblem, u: np.ndarray, s: Any = None) -> BandState:
    """band_core.band_state for the joint problem at u (FlatGauge's coordinates; state.y is u and
    state.G is u's gradient), always exact: C^T y and C x are recomputed (the loop's cheap update
    `s` is not used), each record's root warm-started from the last. S and nu are those of the
    reduced u (FlatGauge.reduced): the same x, without the flat part. The flat coordinates are
    then set to their exact best (flat_solve): the state's u is u with them so, and its gradient
    is zero there."""
    data, gauge = k.data, k.gauge
    S = data.CT(gauge.reduced(u))
    cp = coupled_x(data, S, k.last_nu)
    k.last_nu = cp.nu
    r = data.C(cp.x)
    u = gauge.best_flat(sub, u, r)
    y = gauge.to_y(u)
    wa = sub.wk + y / (2.0 * sub.mu)
    w = wa.clip(sub.l, sub.u)
    yr = y / (2.0 * sub.rho)
    G = yr - r + w
    scale = data.C(cp.x, absolute=True) + abs(w) + abs(yr) + sub.floor
    Gu = gauge.gradient(G)
    if k.prox_weight:  # the subproblem's own optimality: its gradient in u, against u's term sizes
        p = k.prox_gradient(u)
        Gu = Gu + p
        Gnorm = float((abs(Gu) / gauge.gradient(scale + abs(p))).max())
    else:  # the joint dual's: every entry of y's gradient
        Gnorm = float((abs(G) / scale).max())
    if k.on_state is not None:
        k.on_state(Gnorm, y)
    return BandState(y=u, s=S, unclipped=None, x=cp.x, wa=wa, w=w, r=r, G=Gu, Gnorm=Gnorm, free_x=cp.free,
                     free_w=(wa >= sub.l) & (wa <= sub.u), coupling=cp)


def newton_direction(k: JointKernels, sub: Subproblem, st: BandState) -> np.ndarray:
    """The Newton direction in u's coordinates, in the others than the flat ones: with those at
    their best (G = 0 there), the full system's solution restricted to the others is the Newton
    direction of the dual with the flat coordinates eliminated (a Schur complement). The joint
    certificate's step."""
    b = 1.0 / (2.0 * sub.rho) + st.free_w / (2.0 * sub.mu)
    H = k.gauge.newton_matrix(k.c_part.at(st.coupling), b)
    H[np.diag_indices_from(H)] += k.prox_weight * k.proxed
    d = -scaled_solve(k, H, st.G)
    d[k.gauge.anchor] = 0.0  # the flat coordinates follow the others exactly (joint_state)
    return d


def joint_step(k: JointKernels, sub: Subproblem, st: BandState) -> np.ndarray:
    """The loop's direction: the Newton direction, or, when its full step overshoots (h(1) > 0
    in joint_line_search's terms) and few records' coupling binds (AREA_STEPS_MAX_BINDING),
    each area's part scaled by its own step length (`area_step_lengths`) if the scaled direction
    still descends; the exact line search then runs along it. Near the optimum the full step is
    taken, and with it Newton's local convergence."""
    d = newton_direction(k, sub, st)
    if st.coupling.active.mean() > AREA_STEPS_MAX_BINDING:
        return d  # too many records' nu move for area_step_lengths' model (nu held)
    line = JointLine(k, sub, st, d)
    if not line.h0 < 0:
        return d
    at_one = line(1.0)
    if at_one[0] <= 0:  # the full Newton step still descends: take d (the line search reuses h(1))
        k.probe = (d, line, at_one)
        return d
    scaled = d * area_step_lengths(k, sub, st, d)[k.area_of]
    return scaled if float(scaled @ st.G) < 0 else d


def area_step_lengths(k: JointKernels, sub: Subproblem, st: BandState, d: np.ndarray) -> np.ndarray:
    """One step length per area along d: the root tau_a >= 0 of area a's own part of the line
    search, h_a(tau) = d_a.G_a(u + tau d_a), with every record's coupling multiplier held at the
    state's (K roots at once, each to LINE_BRACKET of its bracket as the joint line search stops).

    With nu held, area a's x_ia = clip(1 - (S_ia + nu_i s_a + tau V_ia) / 2, 0, U_a) and its
    band terms move with tau alone, so h_a is monotone and piecewise linear, like band-newton's
    line search of one area. Where no record's coupling binds the joint problem is the areas side
    by side and these are exactly their own step lengths; one common step along d would stop every
    area at the kink that comes first to any of them. An area whose part does not descend
    (h_a(0) >= 0, possible where the coupling binds) gets 0 here; the caller keeps d unscaled if
    the scaled direction does not descend as a whole."""
    data, K = k.data, k.data.K
    area_of = k.area_of
    V = data.CT(k.gauge.reduced(d))  # n x K: area a's S moves by tau_a V[:, a]
    s, U = data.shares, data.upper
    base = 1.0 - (st.s + st.coupling.nu[:, None] * s) / 2.0
    h0 = np.bincount(area_of, weights=d * st.G, minlength=K)
    linear = np.bincount(area_of, weights=d * d * (1.0 / (2.0 * sub.rho) + k.prox_weight * k.proxed), minlength=K)

    # one row an area, contiguous: h evaluates only the areas whose root is still open
    Vt, bt, xt = np.ascontiguousarray(V.T), np.ascontiguousarray(base.T), np.ascontiguousarray(st.x.T)

    def h(tau: np.ndarray, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """h_a(tau_a) and its slope for a in `areas` (0 for the others)."""
        value, slope = np.zeros(K), np.zeros(K)
        for a in areas:
            v = Vt[a]
            inner = bt[a] - tau[a] * (v / 2.0)
            x = np.clip(inner, 0.0, U[a])
            x -= xt[a]
            value[a] = -float(v @ x)
            on = np.where((inner > 0.0) & (inner < U[a]), v, 0.0)
            slope[a] = float(on @ v) / 2.0
        wa = st.wa + tau[area_of] * d / (2.0 * sub.mu)
        band = np.bincount(area_of, weights=d * (wa.clip(sub.l, sub.u) - st.w), minlength=K)
        free_w = (wa > sub.l) & (wa < sub.u)
        value += h0 + tau * linear + band
        slope += linear + np.bincount(area_of, weights=free_w * d * d / (2.0 * sub.mu), minlength=K)
        return value, slope

    descends = h0 < 0
    lo, hi = np.zeros(K), np.full(K, np.inf)
    T = np.ones(K)
    grow = descends.copy()
    while grow.any():  # a bracket [lo, hi] with h(lo) < 0 <= h(hi) for each descending area
        value, _ = h(T, np.flatnonzero(grow))
        hit = grow & (value >= 0)
        hi = np.where(hit, T, hi)
        grow &= ~hit
        if not grow.any() or T[grow].min() >= _BRACKET_MAX_STEP:
            break
        lo = np.where(grow, T, lo)
        T = np.where(grow, T * _BRACKET_GROWTH, T)
    tau = np.where(np.isinf(hi), T, hi)  # no bracket below _BRACKET_MAX_STEP: that step, as monotone_root
    done = ~descends | np.isinf(hi)
    for _ in range(AREA_ROOT_ROUNDS):  # Newton on the piece inside the bracket, else bisection
        if done.all():
            break
        value, slope = h(tau, np.flatnonzero(~done))
        lo = np.where(~done & (value < 0), tau, lo)
        hi = np.where(~done & (value >= 0), tau, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = tau - value / slope
        step = np.where((slope > 0) & (step > lo) & (step < hi), step, 0.5 * (lo + hi))
        finished = (value == 0) | (hi - lo <= LINE_BRACKET * hi) | ~np.isfinite(value)
        tau = np.where(done, tau, np.where(finished, np.where(value == 0, tau, lo), step))
        done |= finished
    return np.where(descends & np.isfinite(tau), tau, 0.0)


def joint_line_search(k: JointKernels, sub: Subproblem, st: BandState, d: np.ndarray) -> tuple[float, Any]:
    """The root t >= 0 of h(t) = d.G(u + t d) (`model_root`), with the flat coordinates at their
    best at every t (d is zero there, joint_step); and the move of S."""
    probe, k.probe = k.probe, None
    k.steps += 1
    if probe is not None and probe[0] is d:  # joint_step's h along d, already evaluated at t = 1
        _, line, at_one = probe
        known = [(1.0, at_one)]
    else:
        line, known = JointLine(k, sub, st, d), []
    if not line.h0 < 0:
        return 0.0, line.V
    return model_root(line, known, bracket_rtol=LINE_BRACKET), line.V


class JointLine:
    """h(t) = d.G(u + t d) along a direction d, in two parts: h0 + band(t) + records(t).

    band(t), the band variables' and slacks' terms with the flat coordinates at their best
    (flat_solve; the cell's national total fixes sum_a c_a r_a, so they need only the state's
    fit and not the records' at t), costs a pass over the N targets; records(t) = -sum V (x(t) - x(0)), the
    records' terms, costs every record's coupling root at S + t V (about 0.2 s for the 51
    states). Both are monotone and piecewise linear, the records' part with few kinks near a
    step (each a record entry reaching a bound), the band part with the kinks that bend h most
    (a band whose fit enters its interior adds 1/(2 mu) times its d^2). Each part returns
    (value, slope on its piece, the size of its terms); the records' terms V x and V x0 are
    counted apart (x >= 0), since they are rounded before they cancel."""

    def __init__(self, k: JointKernels, sub: Subproblem, st: BandState, d: np.ndarray):
        self.k, self.sub, self.st, self.d = k, sub, st, d
        data, gauge = k.data, k.gauge
        self.V = data.CT(gauge.reduced(d))  # n x K: S moves by t V
        self.h0 = float(d @ st.G)
        self.y0 = gauge.to_y(st.y)
        self.prox_dd = k.prox_weight * float(d @ d)  # d is zero on the flat coordinates, outside the prox
        self.absV = np.abs(self.V)
        self.Vx0 = float(np.vdot(self.absV, st.x))

    def band(self, t: float) -> tuple[float, float, float]:
        sub, st, d, gauge = self.sub, self.st, self.d, self.k.gauge
        dy = gauge.to_y(gauge.best_flat(sub, st.y + t * d, st.r)) - self.y0
        wa = st.wa + dy / (2.0 * sub.mu)
        wt = wa.clip(sub.l, sub.u)
        slack = d * dy / (2.0 * sub.rho)
        value = float(slack.sum()) + float(d @ (wt - st.w)) + t * self.prox_dd
        # the flat coordinates move with t: y' = d + c q' on a flat cell
        b = 1.0 / (2.0 * sub.rho) + ((wa > sub.l) & (wa < sub.u)) / (2.0 * sub.mu)
        move = gauge.tangent(d, b)
        slope = float((b * move * move).sum()) + self.prox_dd
        size = float(np.abs(slack).sum()) + float(np.abs(d) @ (np.abs(wt) + np.abs(st.w))) + t * self.prox_dd
        return value, slope, size

    def records(self, t: float) -> tuple[float, float, float]:
        cp = coupled_x(self.k.data, self.st.s + t * self.V, self.st.coupling.nu)
        dx = cp.x - self.st.x
        value = -float(np.vdot(self.V, dx))
        return value, self._records_slope(cp), float(np.vdot(self.absV, cp.x)) + self.Vx0

    def records_slope_at_start(self) -> float:
        return self._records_slope(self.st.coupling)

    def _records_slope(self, cp: Coupled) -> float:
        """sum over free entries of v (v + nu' s) / 2, nu' from the binding records (nonzero only
        where the coupling binds: every record under "additive", few under a cap)."""
        V, s = self.V, self.k.data.shares
        free_V = V * cp.free  # V where free, else zero (a product: four times faster than np.where)
        on = slice(None) if cp.active.all() else np.flatnonzero(cp.active)
        Dvs = free_V[on] @ s
        Ds2 = cp.free[on] @ (s * s)
        with np.errstate(divide="ignore", invalid="ignore"):
            nu_dot = np.where(Ds2 > 0, -Dvs / np.where(Ds2 > 0, Ds2, 1.0), 0.0)
        return (float(np.vdot(free_V, V)) + float(nu_dot @ Dvs)) / 2.0

    def __call__(self, t: float) -> tuple[float, float, float]:
        """h(t): (value, slope, size), as monotone_root asks."""
        bv, bs, bz = self.band(t)
        rv, rs, rz = self.records(t)
        return self.h0 + bv + rv, bs + rs, abs(self.h0) + bz + rz


# model_root's evaluations of h (each solving every record's coupling) before it returns its best;
# and the evaluations in a row that may leave the bracket more than half as wide before the next
# candidate is its midpoint.
MODEL_MAX_EVALS = 60
MODEL_SLOW_EVALS = 3


def model_root(line: JointLine, known: list[tuple[float, tuple[float, float, float]]],
               bracket_rtol: float) -> float:
    """The root t >= 0 of the monotone, piecewise linear h = h0 + band + records (JointLine),
    with h(0) = h0 < 0, evaluating the records' part as seldom as it can.

    Each candidate is the root of a model that is exact in the cheap band part and linear in the
    records' part: the records' tangent at the last point where h was evaluated (at t = 0, the
    state's own), or, when that root leaves the bracket [a, b] (h(a) < 0 <= h(b)), their chord
    between a and b, whose root is always inside. The model's root is found exactly by
    monotone_root (the band part is piecewise linear). Within a piece of the records' part the
    tangent's root is h's; the band's kinks, which stop a secant or a Newton step on h many times
    over, cost nothing here. After MODEL_SLOW_EVALS evaluations that leave the bracket more than
    half as wide, the midpoint. Stops as newton_core.monotone_root does: at |h| within its
    rounding, or, with `bracket_rtol`, at a bracket that narrow next to b, returning a.
    `known`: evaluations of h already made, (t, (value, slope, size))."""
    h0 = line.h0
    a, Ra = 0.0, 0.0  # the bracket's left end and the records' part there
    b, Rb = math.inf, math.nan
    last = (0.0, 0.0, line.records_slope_at_start())  # t, records(t), its slope: the tangent's point
    best_t, best_f = 0.0, h0

    def model_candidate(lo: float, hi: float, R0: float, slope: float, t0: float) -> float:
        """The root in (lo, hi) of h0 + band(t) + R0 + slope (t - t0); NaN if none."""
        def m(tau: float) -> tuple[float, float, float]:
            t = lo + tau * scale
            bv, bs, bz = line.band(t)
            return h0 + bv + R0 + slope * (t - t0), (bs + slope) * scale, abs(h0) + bz + abs(R0) + abs(slope * (t - t0))
        scale = (hi - lo) if math.isfinite(hi) else max(1.0 - lo, lo, 1.0)
        f_lo = m(0.0)[0]
        if not f_lo < 0:
            return math.nan  # the model's root is not inside: the caller's next model
        t = lo + monotone_root(m, f_lo) * scale
        return t if lo < t < hi else math.nan

    queue = list(known)
    narrowed, width = 0, math.inf
    for _ in range(MODEL_MAX_EVALS):
        if queue:
            t, (value, slope, size) = queue.pop()
            bv, bs, _ = line.band(t)
            R, Rs = value - h0 - bv, slope - bs
        else:
            t = model_candidate(a, b, last[1], last[2], last[0])
            if math.isnan(t) and math.isfinite(b):
                chord = (Rb - Ra) / (b - a)
                t = model_candidate(a, b, Ra, chord, a)
            if narrowed >= MODEL_SLOW_EVALS and math.isfinite(b) or math.isnan(t):
                t = 0.5 * (a + b) if math.isfinite(b) else (2.0 * a if a > 0 else 1.0)
                narrowed = 0
            if not a < t < b:
                break  # the bracket is down to adjacent floats
            bv, bs, bz = line.band(t)
            R, Rs, Rz = line.records(t)
            value, size = h0 + bv + R, abs(h0) + bz + Rz
        if abs(value) < abs(best_f):
            best_t, best_f = t, value
        if value == 0 or abs(value) <= _LINE_SEARCH_REL_TOL * size:
            return t
        if value < 0:
            a, Ra = t, R
        else:
            b, Rb = t, R
        last = (t, R, Rs)
        if math.isfinite(b):
            if b - a <= bracket_rtol * b and a > 0:
                return a
            narrowed = 0 if b - a <= width / 2 else narrowed + 1
            width = min(width, b - a)
        elif t >= _BRACKET_MAX_STEP:
            return t
    return a if a > 0 else best_t  # where h < 0, so that the step descends


JOINT_STEPS = Steps(state=joint_state, step=joint_step, line_search=joint_line_search)


def prox_mu(data: JointData) -> np.ndarray:
    """The band variable's prox weight per kept target (PROX_SCALE): PROX_SCALE / diag(C_a C_a^T)
    with diag(C_a C_a^T)_j = s_a^2 sum_i w_i^2 A_ij^2 / ts_aj^2."""
    A2 = data.A.multiply(data.A).tocsr()
    own = np.asarray(A2.T @ (data.w * data.w)).ravel()  # J
    curvature = (data.shares[:, None] ** 2 * own[None, :] / data.ts ** 2)[data.kept]
    return PROX_SCALE / np.maximum(curvature, np.finfo(float).tiny)


def _time_left(deadline: float) -> float:
    """The seconds left until `deadline` (time.perf_counter's), to 0.1 s, never below 0."""
    return round(max(deadline - time.perf_counter(), 0.0), 1)


class _Stalled(Exception):
    """The loop without the dual term made no progress (solve_from_start); `steps`: the Newton
    steps it took."""

    steps = 0


class Factoring(NamedTuple):
    """What factors the joint loop's Newton systems: the kernels' factory (run_joint's `kernels`)
    and how a record names it (joint.json's solve.factored_on)."""

    kernels: KernelsFactory
    where: str


ON_NUMPY = Factoring(JointKernels, "numpy")  # scipy's Cholesky factor, the default


def run_joint(data: JointData, l: np.ndarray, u: np.ndarray, rho_stages: list[np.ndarray],
              options: dict[str, Any], progress: Any = None, *, x0: np.ndarray | None = None,
              y0: np.ndarray | None = None, dual_prox: float = 0.0, prox_rounds: int = 12,
              prox_decay: float = 0.1, on_state: StateWatch | None = None,
              kernels: KernelsFactory | None = None) -> BandResult:
    """band_core's prox loop with the joint steps, from x = 1 and y = 0, or from a start x0
    (n x K: the band variable's first prox center is its fit) and y0; l, u, y0 and each stage's
    rho are N vectors (area after area, as JointData.scatter orders them); the dual comes back in
    y's coordinates (the loop runs in FlatGauge's). `options`: band-newton's
    (tol, outer_tol, max_inner, max_outer, time_limit; its mu is replaced by `prox_mu`'s, one per
    target, scaled to the areas' curvature).

    `dual_prox` > 0: rounds of a proximal point on the dual around that loop: round r maximizes
    the dual minus dual_prox prox_decay^r |P(u - u_r)|^2 / 2 from the last round's u_r (every
    stage in the first round, the last stage after; the weight 0 once a round leaves u where it
    was), for `prox_rounds` rounds, and a last round without the term; the answer is that round's, the
    joint dual's own optimum. Each round's end goes to `progress` as {"round", "weight", "moved"}.

    `on_state(G, y)`, if given, is called with the relative |G| and the dual y of every state the
    loop computes (each Newton step's, and its line search's end): progress between the outer
    iterations, and what a caller watching for a conflict tests (goldstar.certificate.conflict).

    `kernels(data)` makes the loop's kernels: JointKernels (numpy and scipy) by default, or
    another factoring the Newton systems elsewhere (goldstar.solvers.additive_torch)."""
    k = (kernels or JointKernels)(data)
    k.on_state = on_state
    limit = options.get("time_limit")
    deadline = None if limit is None else time.perf_counter() + float(limit)
    ones = np.ones((data.n, data.K))
    wk = np.clip(data.C(ones if x0 is None else x0), l, u)
    floor = SIZE_FLOOR * data.C(ones, absolute=True)
    point = np.zeros(data.N) if y0 is None else k.gauge.from_y(np.asarray(y0, dtype=np.float64))
    mu = prox_mu(data)
    weight, stages = float(dual_prox), rho_stages
    outer = inner = 0
    history: list[dict[str, float]] = []
    for round_ in range(prox_rounds + 1):
        if round_ == prox_rounds:
            weight = 0.0
        k.center, k.prox_weight = point.copy(), weight
        # a round with the dual term is one proximal step in both centres (w's and u's): one outer
        # iteration a stage; the last round runs band-newton's outer loop to its end
        try:
            result = prox_newton(
                k, l, u, stages, point, wk,
                mu=mu, tol=float(options["tol"]), outer_tol=float(options["outer_tol"]),
                max_inner=int(options["max_inner"]), max_outer=1 if weight else int(options["max_outer"]),
                # the first round the caller's whole limit (its message names that limit), the others what is left
                time_limit=None if deadline is None else float(limit) if round_ == 0 else _time_left(deadline),
                progress=progress, floor=floor, steps=JOINT_STEPS,
            )
        except _Stalled as gave_up:
            gave_up.steps = k.steps
            raise
        outer, inner, history = outer + result.outer, inner + result.inner, history + result.history
        # (a round with the term ends its one outer iteration with LIMIT_REACHED: not the time's)
        if weight == 0.0 or deadline is not None and time.perf_counter() >= deadline:
            break
        moved = float(np.abs(result.y - point).max())
        if progress is not None:
            progress({"round": round_, "weight": weight, "moved": moved, "message": result.message})
        point, stages, weight = result.y, rho_stages[-1:], (weight * prox_decay if moved > 0.0 else 0.0)
        wk = np.clip(data.C(result.x), l, u)
    status = result.status
    if weight:  # the time ran out within a round with the term: its answer is not the joint one
        rounds, status = f"in dual prox round {round_} (weight {weight:.3g}): ", LIMIT_REACHED
    else:
        rounds = f"{round_} dual prox round(s), then " if round_ else ""
    return dataclasses.replace(result, y=k.gauge.to_y(result.y), status=status, outer=outer, inner=inner,
                               history=history, message=rounds + result.message)


# solve_from_start: the loop without the dual term is given up when none of its first
# STALL_STATES states has a relative |G| below its start's, and the dual proximal rounds run from
# the same start, from weight FALLBACK_DUAL_PROX. On the 51 additive states |G| is below the
# start's after the second Newton step; on California's 52 districts within their state the
# first step took it from 0.38 to 0.98 and 300 s of steps of 1e-3 of their direction to 0.94
# (docs/additive.md, "When the loop stalls").
STALL_STATES = 50
FALLBACK_DUAL_PROX = 1e-2


def stalled(seen: list[float]) -> bool:
    """Whether a loop whose states had the relative |G| `seen` (in order) stalls: STALL_STATES
    of them and none after the first below it."""
    return len(seen) == STALL_STATES and min(seen[1:]) >= seen[0]


def solve_from_start(data: JointData, l: np.ndarray, u: np.ndarray, rho_stages: list[np.ndarray],
                     options: dict[str, Any], progress: Any = None, *, x0: np.ndarray, y0: np.ndarray,
                     on_state: StateWatch | None = None,
                     kernels: KernelsFactory | None = None) -> BandResult:
    """run_joint from the start (x0, y0) without the dual term; if that loop stalls (STALL_STATES
    states without a relative |G| below its first state's), run_joint again from the same start
    with the dual proximal rounds from FALLBACK_DUAL_PROX, in the time left (`progress` is told
    {"stalled", "G_start", "best"} first). The answer's Newton steps count both; its message
    says when the rounds ran and why."""
    start = time.perf_counter()
    seen: list[float] = []

    def watch(G: float, y: np.ndarray) -> None:
        seen.append(G)
        if on_state is not None:
            on_state(G, y)
        if stalled(seen):
            raise _Stalled

    try:
        return run_joint(data, l, u, rho_stages, options, progress, x0=x0, y0=y0, on_state=watch, kernels=kernels)
    except _Stalled as gave_up:
        abandoned = gave_up.steps
    if progress is not None:
        progress({"stalled": len(seen), "G_start": seen[0], "best": min(seen[1:])})
    left = options.get("time_limit")
    if left is not None:
        left = _time_left(start + float(left))
    result = run_joint(data, l, u, rho_stages, {**options, "time_limit": left}, progress, x0=x0, y0=y0,
                       dual_prox=FALLBACK_DUAL_PROX, on_state=on_state, kernels=kernels)
    why = (f"without the dual term |G| stayed at or above its start's {seen[0]:.3g} for {len(seen)} states "
           f"({abandoned} Newton steps, best {min(seen[1:]):.3g}); from the start again with the dual prox rounds: ")
    return dataclasses.replace(result, message=why + result.message, inner=result.inner + abandoned)
