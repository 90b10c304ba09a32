"""Semismooth Newton on the J-dimensional dual of docs/penalized.md, written once.

The algorithm is written against a small `Kernels` interface (sparse products,
the generalized Jacobian H, a Cholesky solve) and otherwise uses only
operators that numpy arrays and torch tensors share, so the numpy backend
(`newton`) and the torch backend (`newton-torch`, CPU or CUDA) run the same
steps in the same order.

The math, in the notation of goldstar.problem.model:

    m(y)  = clip(1 - (B y) / lam, lower, upper)         best multipliers for residual y
    F(y)  = y + c - B^T m(y)                           zero exactly at the optimum
    H(y)  = I + B_Fr^T diag(1/lam_Fr) B_Fr             Fr: records strictly inside the bounds

F is the gradient of the convex, C^1 function Phi = -D/2 (D the Lagrange
dual), and H is a generalized Hessian of Phi with H >= I. Each iteration
solves H d = -F and then takes the exact minimizer of Phi along d, found as the
root of phi'(t) = d.F(y + t d), which is monotone and piecewise linear in t.
Exactness matters: plain backtracking on ||F|| stalls (docs/penalized.md).

Stopping rule (docs/penalized.md, "When it stops"): ||F||_inf does not reach zero in float64 but stalls
at a floor set by the size of the terms F sums. So F is measured against them,
Frel = max_j |F_j| / max(1, |y_j| + |c_j| + (|B|^T m)_j), which is scale-free:
once Frel is below tol, stop at the first iteration that fails to halve ||F||,
and keep the best iterate. (An absolute threshold left problems with large
residuals, e.g. a target of -5 beside dollar amounts, "not converged" at an
answer whose certificate passes.)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .base import CONVERGED, FAILED, LIMIT_REACHED, ProgressFn, Solution

# Line-search bracket growth and evaluation cap. phi' is piecewise linear, so a
# Newton or secant step inside one linear piece lands on the root exactly; the
# cap only guards against pathological breakpoint clusters.
_LINE_SEARCH_MAX_EVALS = 60
# Relative ridges (x the largest diagonal entry) the kernels add, one after another, when the
# Newton matrix's Cholesky fails in rounding (goldstar.solvers.newton.NumpyKernels.solve).
RIDGES = (1e-14, 1e-12, 1e-10)
_BRACKET_GROWTH = 4.0
_BRACKET_MAX_STEP = 1e12
# phi'(t) counts as zero when it is this small next to the sum of the absolute
# values of its terms: float64 cannot resolve it further.
_LINE_SEARCH_REL_TOL = 1e-15


class Kernels(Protocol):
    """The backend-specific pieces of one Newton iteration."""

    c: Any
    lam: Any
    lower: float
    upper: float

    def Bmul(self, y: Any) -> Any: ...  # noqa: E704  s = B y (n)
    def BTmul(self, m: Any) -> Any: ...  # noqa: E704  B^T m (J)
    def fitted(self, y: Any, free: Any, at_lower: Any, at_upper: Any) -> Any: ...  # noqa: E704  B^T m(y)
    def hessian(self, free: Any) -> Any: ...  # noqa: E704  H for this free set
    def gram(self, free: Any) -> Any: ...  # noqa: E704  G_Fr^T G_Fr, G = diag(1/sqrt(lam)) B
    def solve(self, H: Any, rhs: Any) -> Any: ...  # noqa: E704  H^-1 rhs
    def scalar(self, x: Any) -> float: ...  # noqa: E704
    def count(self, mask: Any) -> int: ...  # noqa: E704


class KernelBase:
    """What the numpy and torch kernels share: the products with B and B^T (both
    libraries spell them `@`), scalar reads, and H kept between iterations.

    H(y) is moved by the records whose status changed.

    H = I + G_Fr^T G_Fr with G = diag(1/sqrt(lam)) B. Between two iterations
    only the records that entered or left the free set change H, by rank-one
    terms; late iterations change few. H is rebuilt from scratch when more
    than `rebuild_fraction` of the free records changed (then the update
    would cost more than the rebuild). Backends supply `_gram(rows)` (G_rows^T
    G_rows, dense), `_where(mask)` (indices) and `_identity()`.
    """

    rebuild_fraction: float = 0.5
    B: Any
    BT: Any

    def Bmul(self, y: Any) -> Any:
        return self.B @ y

    def BTmul(self, m: Any) -> Any:
        return self.BT @ m

    # set by the backend from sign_split (goldstar.solvers.newton): each target's sign where its
    # entries share one, and the targets whose entries have both signs with their rows of |B^T|
    sign: Any
    mixed: Any
    absBT_mixed: Any

    def absBTmul(self, m: Any, BTm: Any) -> Any:
        """|B|^T m for multipliers m >= 0, given BTm = B^T m: the size of the terms B^T m sums
        (the scale-aware stopping rules). A target whose entries share one sign is +-B^T m
        exactly; only the few with entries of both signs take a product of their own."""
        out = self.sign * BTm
        if len(self.mixed):
            out[self.mixed] = self.absBT_mixed @ m
        return out

    def scalar(self, x: Any) -> float:
        return float(x)

    def count(self, mask: Any) -> int:
        return int(mask.sum())

    def _gram(self, rows: Any) -> Any: ...  # noqa: E704
    def _where(self, mask: Any) -> Any: ...  # noqa: E704
    def _identity(self) -> Any: ...  # noqa: E704

    def _changes(self, old: Any, new: Any) -> tuple[Any, Any]:
        """The records in `new` but not `old`, and those in `old` but not `new`."""
        return self._where(new & ~old), self._where(old & ~new)

    @staticmethod
    def _moved(total: Any, entered: Any, left: Any, of_rows: Any) -> Any:
        """A sum over a set of records, moved to another: plus `of_rows` of the records that
        entered, minus of those that left."""
        if len(entered):
            total = total + of_rows(entered)
        if len(left):
            total = total - of_rows(left)
        return total

    def gram(self, free: Any) -> Any:
        """G_Fr^T G_Fr for the free set, moved from the last one by the records that changed."""
        old = getattr(self, "_free", None)
        if old is free:
            return self._gram_sum
        rebuild = old is None
        if not rebuild:
            entered, left = self._changes(old, free)
            rebuild = len(entered) + len(left) > self.rebuild_fraction * max(1, self.count(free))
        if rebuild:
            gram = self._gram(self._where(free))
            self.rebuilds = getattr(self, "rebuilds", 0) + 1
        else:
            gram = self._moved(self._gram_sum, entered, left, self._gram)
            self.updates = getattr(self, "updates", 0) + 1
        self._free = free
        self._gram_sum = gram
        return gram

    def _rowsum(self, rows: Any) -> Any: ...  # noqa: E704  sum of B's rows `rows` (J)

    def fitted(self, y: Any, free: Any, at_lower: Any, at_upper: Any) -> Any:
        """B^T m(y) without a product over every record: with m = 1 - B y / lam on the free set,

            B^T m = B^T 1 - gram(free) y + (lower - 1) S_lower + (upper - 1) S_upper,

        S the sums of B's rows at each bound, kept like the gram (moved by the records whose
        bound changed). Its rounding is that of the gram's running sum and of y's size, so
        band_core uses it only while far from the float64 floor and BTmul below it."""
        if not hasattr(self, "_bound_sums"):
            self._ones_total = self.BTmul(self.lam * 0.0 + 1.0)
            self._bound_sums = {}  # bound -> (mask of the records at it, sum of their rows)
        S_lower = self._bound_sum("lower", at_lower)
        S_upper = self._bound_sum("upper", at_upper)
        return (self._ones_total - self.gram(free) @ y + (self.lower - 1.0) * S_lower
                + (self.upper - 1.0) * S_upper)

    def _bound_sum(self, bound: str, mask: Any) -> Any:
        if bound in self._bound_sums:
            old, total = self._bound_sums[bound]
            total = self._moved(total, *self._changes(old, mask), self._rowsum)
        else:
            total = self._rowsum(self._where(mask))
        self._bound_sums[bound] = (mask, total)
        return total

    def hessian(self, free: Any) -> Any:
        """H = I + G_Fr^T G_Fr, the penalized dual's generalized Jacobian."""
        return self.gram(free) + self._identity()


@dataclass
class DualState:
    """y with everything derived from it: s = B y, m = m(y), F = F(y), and the free set."""

    y: Any
    s: Any
    m: Any
    F: Any
    Fnorm: float
    Frel: float  # max_j |F_j| / max(1, |y_j| + |c_j| + (|B|^T m)_j): F against the size of its terms
    free: Any


@dataclass
class NewtonResult:
    state: DualState
    iterations: int
    status: int
    message: str
    history: list[dict[str, float]] = field(default_factory=list)


def run_newton(
    k: Kernels, y0: Any, options: dict[str, Any], progress: ProgressFn | None, method: str,
    to_numpy: Any = lambda x: x, device: str = "cpu",
) -> Solution:
    """Run newton_dual with a solver's options and wrap the result as a Solution."""
    start = time.perf_counter()
    result = newton_dual(
        k, y0, tol=float(options["tol"]), max_iter=int(options["max_iter"]),
        progress=progress, time_limit=options["time_limit"],
    )
    m, y = to_numpy(result.state.m), to_numpy(result.state.y)  # also waits for a GPU to finish
    return Solution(
        method=method, m=m, y=y, loss=float("nan"), pg=float("nan"),
        iterations=result.iterations, seconds=time.perf_counter() - start,
        status=result.status, message=result.message, history=result.history,
        options={**options, "hessian_rebuilds": k.rebuilds, "hessian_updates": k.updates},
        device=device,
    )


def multipliers(k: Kernels, s: Any) -> Any:
    """m(y) given s = B y."""
    return (1.0 - s / k.lam).clip(k.lower, k.upper)


def dual_state(k: Kernels, y: Any) -> DualState:
    """Everything derived from y, each computed once; `free` marks the records whose
    unclipped best multiplier lies strictly inside the bounds."""
    s = k.Bmul(y)
    unclipped = 1.0 - s / k.lam
    m = unclipped.clip(k.lower, k.upper)
    BTm = k.BTmul(m)
    F = y + k.c - BTm
    free = (unclipped > k.lower) & (unclipped < k.upper)
    scale = (abs(y) + abs(k.c) + k.absBTmul(m, BTm)).clip(1.0, None)
    return DualState(y=y, s=s, m=m, F=F, Fnorm=k.scalar(abs(F).max()), Frel=k.scalar((abs(F) / scale).max()),
                     free=free)


def dual_loss(k: Kernels, st: DualState) -> float:
    """f(m(y)), cheaply: the residual B^T m - c equals y - F."""
    r = st.y - st.F
    d = st.m - 1.0
    return k.scalar((r * r).sum() + (k.lam * d * d).sum())


def newton_step(k: Kernels, st: DualState) -> Any:
    """The Newton direction d = -H(y)^-1 F(y)."""
    H = k.hessian(st.free)
    return -k.solve(H, st.F)


def exact_line_search(k: Kernels, st: DualState, d: Any, u: Any) -> float:
    """The t >= 0 minimizing Phi(y + t d): the root of phi'(t) = d.F(y + t d).

    phi'(t) = d.(y + c) + t |d|^2 - u.m(s + t u) with u = B d; it is monotone
    increasing and piecewise linear with slope |d|^2 + sum_free u_i^2 / lam_i.
    A bracket [a, b] with phi'(a) < 0 <= phi'(b) is kept; candidates are the
    Newton step on the current piece, else the secant, else the midpoint.
    """
    dd = k.scalar((d * d).sum())
    dyc = k.scalar((d * (st.y + k.c)).sum())
    q = u * u / k.lam

    def evaluate(t: float) -> tuple[float, float, float]:
        unclipped = 1.0 - (st.s + t * u) / k.lam
        mt = unclipped.clip(k.lower, k.upper)
        um = u * mt
        value = dyc + t * dd - k.scalar(um.sum())
        free = (unclipped > k.lower) & (unclipped < k.upper)
        slope = dd + k.scalar((q * free).sum())
        size = abs(dyc) + abs(t) * dd + k.scalar(abs(um).sum())
        return value, slope, size

    return monotone_root(evaluate)


def monotone_root(evaluate: Any, f0: float | None = None, bracket_rtol: float = 0.0) -> float:
    """The root t >= 0 of a monotone increasing, piecewise linear phi'(t).

    evaluate(t) returns (phi'(t), its slope on the piece holding t, the sum of
    the absolute values of its terms). A bracket [a, b] with phi'(a) < 0 <=
    phi'(b) is kept; candidates are the Newton step on the current piece, else
    the secant, else the midpoint. 0 when phi'(0) >= 0 (not a descent direction
    in float64: nothing to gain). `f0`: phi'(0) when the caller has it.
    `bracket_rtol` > 0: content with a bracket that narrow next to b, returning
    a (where phi' < 0, so the step still descends) when a > 0.
    """
    if f0 is None:
        f0, _, _ = evaluate(0.0)
    if not f0 < 0:
        return 0.0  # not a descent direction in float64: nothing to gain along d
    a, fa = 0.0, f0
    t = 1.0
    ft, gt, size = evaluate(t)
    while ft < 0 and t < _BRACKET_MAX_STEP:
        a, fa = t, ft
        t *= _BRACKET_GROWTH
        ft, gt, size = evaluate(t)
    if ft < 0:
        return t
    b, fb = t, ft
    x, fx, gx = t, ft, gt
    best_t, best_f = (a, fa) if abs(fa) < abs(fb) else (b, fb)
    # the secant's values at a and b: an end kept while the other moves twice in a row has its
    # value halved (Illinois), so a secant beside a kink of steep slope does not creep up on it
    sa, sb, moved = fa, fb, 0
    for _ in range(_LINE_SEARCH_MAX_EVALS):
        if fx == 0 or abs(fx) <= _LINE_SEARCH_REL_TOL * size:
            return x
        if b - a <= bracket_rtol * b and a > 0:
            return a
        cand = x - fx / gx if gx > 0 else math.nan
        if not a < cand < b:
            cand = a - sa * (b - a) / (sb - sa)
        if not a < cand < b:
            cand = 0.5 * (a + b)
        if not a < cand < b:
            break  # the bracket is down to adjacent floats
        x = cand
        fx, gx, size = evaluate(x)
        if fx < 0:
            a, fa, sa = x, fx, fx
            sb, moved = (sb / 2 if moved < 0 else sb), -1
        else:
            b, fb, sb = x, fx, fx
            sa, moved = (sa / 2 if moved > 0 else sa), 1
        if abs(fx) < abs(best_f):
            best_t, best_f = x, fx
    return best_t


def newton_dual(
    k: Kernels,
    y0: Any,
    *,
    tol: float,
    max_iter: int,
    progress: ProgressFn | None = None,
    time_limit: float | None = None,
) -> NewtonResult:
    """Run semismooth Newton from y0 until the stopping rule of the module docstring holds."""
    start = time.perf_counter()
    threshold = tol
    st = dual_state(k, y0)
    best = st
    reached = st.Frel < threshold
    history: list[dict[str, float]] = []

    def record(it: int, step: float, state: DualState) -> None:
        entry = {
            "iteration": it,
            "seconds": time.perf_counter() - start,
            "loss": dual_loss(k, state),
            "F_inf": state.Fnorm,
            "step": step,
            "free": k.count(state.free),
        }
        history.append(entry)
        if progress is not None:
            progress(entry)

    record(0, 0.0, st)
    for it in range(1, max_iter + 1):
        if st.Fnorm == 0.0:
            return NewtonResult(st, it - 1, CONVERGED, "F(y) is exactly zero", history)
        d = newton_step(k, st)
        u = k.Bmul(d)
        t = exact_line_search(k, st, d, u)
        new = dual_state(k, st.y + t * d)
        record(it, t, new)
        if not math.isfinite(new.Fnorm):
            return NewtonResult(best, it, FAILED, "non-finite F(y): the problem is badly scaled", history)
        if reached and new.Fnorm > 0.5 * best.Fnorm:
            if new.Fnorm < best.Fnorm:
                best = new
            return NewtonResult(
                best, it, CONVERGED,
                f"||F||_inf = {best.Fnorm:.3g} ({best.Frel:.3g} of its terms' size, below {threshold:.3g}) "
                "stopped halving: float64 floor",
                history,
            )
        if t == 0.0 and new.Fnorm >= st.Fnorm:
            return NewtonResult(
                best, it, FAILED,
                f"line search made no progress at ||F||_inf = {st.Fnorm:.3g} ({st.Frel:.3g} of its terms' "
                f"size), above the threshold {threshold:.3g}",
                history,
            )
        st = new
        if st.Fnorm < best.Fnorm:
            best = st
        reached = reached or st.Frel < threshold
        if time_limit is not None and time.perf_counter() - start > time_limit:
            break
    status_message = (
        f"stopped after {it} iterations at ||F||_inf = {best.Fnorm:.3g}"
        + ("" if reached else f" ({best.Frel:.3g} of its terms' size), above the threshold {threshold:.3g}")
    )
    return NewtonResult(best, it, CONVERGED if reached else LIMIT_REACHED, status_message, history)
