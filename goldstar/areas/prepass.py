"""The unreachable-target pre-pass for areas, fast enough to run once per area.

docs/band.md, docs/areas.md: an area is solved exactly only on targets it can meet. Band of
target j: [t_j - eps|t_j|, t_j + eps|t_j|]; its width w_j = 2 eps |t_j|
(max(|t_j|, 1) when t_j = 0); B = diag(w0) A; multipliers x in [lo, hi].

1. Range (alone): target j's reachable range is
   [sum_i min(lo B_ij, hi B_ij), sum_i max(lo B_ij, hi B_ij)]; a target whose
   band misses it is dropped with reason `range`, its distance in band widths.
2. Joint: one elastic LP over the rest,
       minimize sum_j (s_lo_j + s_hi_j)  subject to
       band_low_j <= (B^T x)_j + w_j (s_lo_j - s_hi_j) <= band_high_j,  x in box, s >= 0,
   slack in band widths. An optimum of 0 proves the bands jointly feasible
   (the LP's x is then measured in float64: max_violation_after, in band
   widths); otherwise the targets with slack > BAND_TOL are dropped with
   reason `joint` and their slack as the distance.

Why it is fast (the national elastic LP took 95 s):
- Columns are only the records that feed a remaining target (non-filers and
  records the recipe never counts are gone).
- The LP's matrix is built once per process in a fixed form: the rows are
  (A^T diag(w) x)_j / S_j with the national weights w and scales S_j = |T_j|,
  which do not depend on the area (w0 = pop_share w). An area changes only its
  row bounds and its slack coefficients (w_j / S_j / pop_share).
- Column generation: the master LP starts from 1,000 records and takes in at
  most 1,000 more a round (ElasticLP): a small master's simplex solves are
  cheap, and pricing all records again is one sparse product (on TMD's 107
  district targets: 0.45 s an area's LP against 0.79 s with 4,000, on the 175
  state targets 0.48 s against 0.72 s, the same drops in every area tried). Each area starts a fresh master from the shared matrix, so its
  answer depends on its own data alone, never on the areas a worker solved
  before it (a master kept from area to area grew to 100K columns over a
  worker's 200 districts and its solves slowed from 1 s to 4 s).
- A range-dropped target's row is freed (bounds -inf, inf) rather than removed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from ..problem.prepass import BAND_TOL, bands as national_bands, range_drops, reachable
from ..problem.scaling import scaled

# A band of t = 0 is measured in units of max(|t|, 1) = 1 (module docstring).
ZERO_TARGET_WIDTH = 1.0


def quiet_highs():
    """highspy.Highs() without the banner that HiGHS writes straight to file descriptor 1 the
    first time a process makes one (its output_flag can only be set after): the user of a batch
    sees goldstar's lines, not one banner a worker."""
    import highspy

    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# Column generation adds a record whose reduced cost is below -PRICE_TOL: the
# objective (band widths) would fall by more than that per unit of its x.
PRICE_TOL = 1e-9


@dataclass
class PrepassResult:
    """Targets that cannot be met, in the lead's band_prepass format, and what it cost."""

    dropped: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    lp_seconds: float = 0.0
    lp_iterations: int = 0
    lp_status: str = ""
    lp_rounds: int = 0
    lp_columns: int = 0
    route: str = ""
    max_violation_after: float = 0.0  # of the LP's x on the kept targets, in band widths

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d["name"] for d in self.dropped)


def bands(t: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The areas' bands and widths (goldstar.problem.prepass.bands, a t = 0 band ZERO_TARGET_WIDTH wide)."""
    return national_bands(t, eps, zero_width=ZERO_TARGET_WIDTH)


def range_test(B: sp.csr_matrix, t: np.ndarray, eps: float, lo: float, hi: float, names) -> list[dict[str, Any]]:
    """Step 1 of the module docstring: targets unreachable alone (goldstar.problem.prepass's test 1)."""
    low, high = reachable(B, lo, hi)
    return range_drops(names, low, high, *bands(t, eps))


class ElasticLP:
    """The fixed-form elastic LP of one national data set, reused area after area.

    Solved by column generation (sifting), which is exact: the master LP holds
    the slack columns and a subset of the records; every other record is held
    at x = lo (0 for areas, so it adds nothing to a row). After each master
    solve, the reduced cost of every record, -a_i^T y, is one sparse product
    with the row duals y; records whose bound is no longer optimal (reduced
    cost < -PRICE_TOL at lo) join the master, and the loop ends when none is
    left: then the master's optimum is the full LP's. The matrix is shared by the
    process's areas; each area's master starts fresh (module docstring).
    """

    def __init__(self, A: sp.csr_matrix, weight: np.ndarray, scale: np.ndarray, lo: float, hi: float,
                 initial: int = 1000, batch: int = 1000, seed: int = 0):
        if lo != 0.0:
            raise ValueError("the sifted pre-pass LP holds records outside the master at x = 0: it needs lo = 0")
        self.lo, self.hi = lo, hi
        Bw = scaled(A, weight, 1.0 / scale)
        used = np.flatnonzero(np.diff(Bw.indptr) > 0)
        self.used = used
        Bw = Bw[used]  # rows: records that feed some cell; CSR rows are the LP's columns
        Bw.sort_indices()
        self.Bw = Bw
        self.n_cols, self.J = Bw.shape
        self.scale = scale
        self.batch = batch
        self.initial, self.seed = initial, seed
        self.lock = threading.Lock()
        self.solves = 0

    def _new_master(self) -> None:
        """A fresh master LP: the slack columns and `initial` records drawn with a fixed seed."""
        import highspy

        h = quiet_highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("random_seed", 0)
        self.inf = inf = highspy.kHighsInf
        J = self.J
        lp = highspy.HighsLp()
        lp.num_col_ = 2 * J
        lp.num_row_ = J
        lp.col_cost_ = np.ones(2 * J)
        lp.col_lower_ = np.zeros(2 * J)
        lp.col_upper_ = np.full(2 * J, inf)
        lp.row_lower_ = np.full(J, -inf)
        lp.row_upper_ = np.full(J, inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.arange(2 * J + 1, dtype=np.int32)
        lp.a_matrix_.index_ = np.concatenate([np.arange(J), np.arange(J)]).astype(np.int32)
        lp.a_matrix_.value_ = np.concatenate([np.ones(J), -np.ones(J)])
        h.passModel(lp)
        self.h = h
        self.in_master = np.zeros(self.n_cols, dtype=bool)
        self.master: list[int] = []  # record positions (in `used`) of master columns 2J, 2J+1, ...
        rng = np.random.default_rng(self.seed)
        self._add(np.sort(rng.choice(self.n_cols, size=min(self.initial, self.n_cols), replace=False)))

    def _add(self, cols: np.ndarray) -> None:
        cols = cols[~self.in_master[cols]]
        if cols.size == 0:
            return
        sub = self.Bw[cols]
        self.h.addCols(
            int(cols.size), np.zeros(cols.size), np.full(cols.size, self.lo), np.full(cols.size, self.hi),
            int(sub.nnz), sub.indptr[:-1].astype(np.int32), sub.indices.astype(np.int32), sub.data,
        )
        self.in_master[cols] = True
        self.master.extend(int(c) for c in cols)

    def solve(self, pop_share: float, t: np.ndarray, eps: float, active: np.ndarray):
        """Elastic LP of one area (targets `active`): (x over `used`, slack, status, iterations, rounds).

        Each area starts from a fresh master, so what it returns depends on its own data alone,
        not on which areas the process solved before it."""
        self._new_master()
        band_low, band_high, width = bands(t, eps)
        # the fixed rows are (A^T w x)_j / S_j; the area's rows are pop_share times those
        lower = np.where(active, band_low / (pop_share * self.scale), -self.inf)
        upper = np.where(active, band_high / (pop_share * self.scale), self.inf)
        coeff = width / (pop_share * self.scale)  # one unit of slack = one band width
        J = self.J
        h = self.h
        h.changeRowsBounds(J, np.arange(J, dtype=np.int32), lower, upper)
        for j in range(J):
            h.changeCoeff(j, j, float(coeff[j]))
            h.changeCoeff(j, J + j, float(-coeff[j]))
        iterations, rounds = 0, 0
        while True:
            h.run()
            rounds += 1
            iterations += int(h.getInfo().simplex_iteration_count)
            status = h.modelStatusToString(h.getModelStatus())
            if status != "Optimal":
                break
            y = np.asarray(h.getSolution().row_dual)
            reduced = -(self.Bw @ y)
            reduced[self.in_master] = 0.0
            # scale-free test: a record whose weight share moves the objective by
            # more than PRICE_TOL per unit of x is priced in
            candidates = np.flatnonzero(reduced < -PRICE_TOL)
            if candidates.size == 0:
                break
            self._add(np.sort(candidates[smallest(reduced[candidates], self.batch)]))
        self.solves += 1
        col = np.asarray(h.getSolution().col_value)
        x = np.zeros(self.n_cols)
        x[np.asarray(self.master, dtype=np.int64)] = col[2 * J:]
        return x, col[:J] + col[J:2 * J], status, iterations, rounds


def smallest(values: np.ndarray, k: int) -> np.ndarray:
    """The positions of the k smallest values, ties at the k-th taken in position order: the set
    the first k of a stable argsort hold, found by one partition instead of a sort (the pricing
    round's candidates are up to all 280K records, its batch 1,000)."""
    if values.size <= k:
        return np.arange(values.size)
    kth = np.partition(values, k - 1)[k - 1]
    below = np.flatnonzero(values < kth)
    return np.concatenate([below, np.flatnonzero(values == kth)[: k - below.size]])


_LPS: dict[tuple, ElasticLP] = {}
_LPS_LOCK = threading.Lock()


def elastic_lp_for(key: tuple, A: sp.csr_matrix, weight: np.ndarray, scale: np.ndarray, lo: float, hi: float) -> ElasticLP:
    """The process's ElasticLP for this national data and box, built on first use."""
    with _LPS_LOCK:
        lp = _LPS.get(key)
        if lp is None:
            if len(_LPS) > 4:
                _LPS.clear()
            lp = _LPS[key] = ElasticLP(A, weight, scale, lo, hi)
        return lp


def find_unreachable_area(
    A: sp.csr_matrix, weight: np.ndarray, pop_share: float, t: np.ndarray, names, eps: float,
    lo: float, hi: float, *, cache_key: tuple | None = None, scale: np.ndarray | None = None,
    given: Sequence[str] = (),
) -> PrepassResult:
    """The pre-pass of one area (module docstring): w0 = pop_share x weight, targets t. The
    targets in `given` (an overrides file's drops) are dropped first, with reason `override`,
    and the tests run on the rest."""
    start = time.perf_counter()
    w0 = pop_share * weight
    B = scaled(A, w0)
    result = PrepassResult()
    given = set(given)
    result.dropped = [{"name": name, "reason": "override"} for name in names if name in given]
    result.dropped += [d for d in range_test(B, t, eps, lo, hi, names) if d["name"] not in given]
    active = np.ones(t.size, dtype=bool)
    for d in result.dropped:
        active[list(names).index(d["name"])] = False
    if scale is None:
        scale = np.maximum(np.abs(A.T @ weight), 1.0)
    lp = elastic_lp_for(cache_key or ("anon", id(A)), A, weight, scale, lo, hi)
    with lp.lock:
        lp_start = time.perf_counter()
        x_used, slack, status, iterations, rounds = lp.solve(pop_share, t, eps, active)
        result.lp_seconds = time.perf_counter() - lp_start
    result.lp_status, result.lp_iterations, result.lp_rounds = status, iterations, rounds
    result.lp_columns = len(lp.master)
    if status != "Optimal":
        raise RuntimeError(f"the pre-pass LP ended {status!r}")
    x = np.zeros(A.shape[0])
    x[lp.used] = x_used
    fitted = B.T @ x
    band_low, band_high, width = bands(t, eps)
    conflict = active & (slack > BAND_TOL)
    for j in np.flatnonzero(conflict):
        result.dropped.append({
            "name": names[j], "reason": "joint", "low": float(fitted[j]), "high": float(fitted[j]),
            "band_low": float(band_low[j]), "band_high": float(band_high[j]),
            "distance_in_band_widths": float(slack[j]),
        })
    kept = active & ~conflict
    miss = np.maximum(band_low - fitted, 0.0) + np.maximum(fitted - band_high, 0.0)
    result.max_violation_after = float(np.max(miss[kept] / width[kept])) if kept.any() else 0.0
    result.route = "range + elastic LP"
    result.seconds = time.perf_counter() - start
    return result
