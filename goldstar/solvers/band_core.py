"""The exact method for the band objective (docs/band.md), written once over the kernels.

Notation of goldstar.problem.objectives.band: C = diag(1/ts) (w0 A)^T (J x n), the band
[l, u], rho per target. The kernels are newton_core's with B := C^T (a
record's row of C) and lam := 2 for every record, so that

    x(y) = clip(1 - (C^T y) / 2, lower, upper)       (newton_core.multipliers)
    gram(Fr) = C_Fr C_Fr^T / 2                        (kept between iterations)

Plain Newton on the band dual stalls at the kink of h* (docs/band.md). So a
proximal-point loop runs on the band variable w. Outer step k solves

    min over x in the box, w in the band of
        sum (x - 1)^2 + sum rho (C x - w)^2 + sum mu (w - w_k)^2

whose dual in y is C^1 and piecewise quadratic; its gradient and generalized
Hessian are

    w(y) = clip(w_k + y / (2 mu), l, u)
    G(y) = y / (2 rho) - C x(y) + w(y)
    H    = diag(1/(2 rho) + [w free] / (2 mu)) + C_Fr C_Fr^T / 2.

Inner: semismooth Newton on G = 0 with a Jacobi-scaled Cholesky solve and an
exact line search (d.G(y + t d) is monotone and piecewise linear in t: one
sort of its breakpoints finds the root), stopped at its float64 floor by newton_core's
rule made patient (two non-halving steps in a row, not one: STALLED_STEPS), on G relative to the size of its terms (G_j / ((|C| x)_j + |w_j| +
|y_j| / (2 rho_j)), whose float64 floor is a few eps whatever the problem's
scale): below `tol`, stop once STALLED_STEPS iterations in a row fail to halve it. Outer: w_{k+1} = w(y); at a fixed point the prox term vanishes and
(x, y) solves the band problem. Stop when ||w_{k+1} - w_k||_inf is 0, or
below `outer_tol` and no longer halving.

In target units rho_j = M ts_j^2 is reached by continuation (BandForm.rho_stages),
each stage warm-started from the last y and w. A stage before the last is only
a warm start for the next: it takes one prox step (its subproblem solved to the
floor) and hands on y and w. Only the last stage runs the prox loop to its fixed
point, so the answer is the last stage's exact optimum whatever the path; running
every stage to its own fixed point cost 2 to 3 times as long and moved no weight
by more than 5e-11 relative (the state areas CA, WY, TX and DC).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .base import CONVERGED, FAILED, LIMIT_REACHED, ProgressFn, Solution
from .newton_core import _BRACKET_GROWTH, _BRACKET_MAX_STEP, Kernels


# The inner stopping rule: below `tol`, stop once ||G|| (relative) has failed to halve this many
# Newton steps in a row. One is newton_core's rule; here a subproblem often starts below `tol`
# (warm, from the last outer step or stage) and a single step from there can fail to halve
# before the next ones reach the floor (seen: a stage ending at 3e-11 where the floor was 1e-14).
STALLED_STEPS = 2
# The size of a target's terms, which G is measured against, counts at least this fraction of the
# terms' size at x = 1, (|C| 1)_j. A multiplier computed as 1 - s/2 carries an absolute rounding of
# eps, so a target whose records all sit at or near x = 0 (a target of 0: no record may count) has
# its float64 floor at eps (|C| 1)_j, however small (|C| x)_j gets; without this floor its relative
# G stalls near 1e-4 and never reaches `tol`. For every other target (|C| x)_j is of the order of
# (|C| 1)_j, so the floor moves its relative G by about 1e-4 of itself.
SIZE_FLOOR = 1e-4
# Below this |G| (relative) every state is computed exactly (band_state): the cheap update's
# rounding, ~1e-13 of the gram's terms times |y|, stays far below it.
EXACT_BELOW = 1e-6


@dataclass
class BandState:
    """y with everything derived from it for one prox subproblem."""

    y: Any
    s: Any  # C^T y
    unclipped: Any  # 1 - s / lam, before the clip to the box
    x: Any
    wa: Any  # w_k + y / (2 mu), before the clip to the band
    w: Any
    r: Any  # C x
    G: Any
    Gnorm: float  # max_j |G_j| / scale_j, scale_j = (|C| x)_j + |w_j| + |y_j| / (2 rho_j): G's float64 floor
    free_x: Any
    free_w: Any
    coupling: Any = None  # the additive areas' per-record multipliers (additive_core); None here


@dataclass
class Subproblem:
    """One prox subproblem: its centre w_k and the stage's rho, with the band and mu."""

    wk: Any
    rho: Any
    mu: Any
    l: Any
    u: Any
    floor: Any = 0.0  # added to the size of G's terms: SIZE_FLOOR x (|C| 1), see run_band


@dataclass
class BandResult:
    x: Any
    y: Any
    status: int
    message: str
    outer: int
    inner: int
    stages: int
    history: list[dict[str, float]] = field(default_factory=list)


def band_state(k: Kernels, sub: Subproblem, y: Any, s: Any = None) -> BandState:
    """The state at y, exactly; or, given s (the inner loop passes s + t v while far from the
    floor), with C^T y = s and C x from the kept gram (KernelBase.fitted): two products with C
    fewer per iteration, at a rounding that only matters near the floor."""
    exact = s is None
    if exact:
        s = k.Bmul(y)
    unclipped = 1.0 - s / k.lam
    x = unclipped.clip(k.lower, k.upper)
    free_x = (unclipped > k.lower) & (unclipped < k.upper)
    wa = sub.wk + y / (2.0 * sub.mu)
    w = wa.clip(sub.l, sub.u)
    r = k.BTmul(x) if exact else k.fitted(y, free_x, unclipped <= k.lower, unclipped >= k.upper)
    yr = y / (2.0 * sub.rho)
    G = yr - r + w
    scale = k.absBTmul(x, r) + abs(w) + abs(yr) + sub.floor
    return BandState(
        y=y, s=s, unclipped=unclipped, x=x, wa=wa, w=w, r=r, G=G, Gnorm=k.scalar((abs(G) / scale).max()),
        free_x=free_x, free_w=(wa > sub.l) & (wa < sub.u),
    )


def band_step(k: Kernels, sub: Subproblem, st: BandState) -> Any:
    """d = -H^-1 G with H of the module docstring."""
    H = k.gram(st.free_x) + k.diag_matrix(1.0 / (2.0 * sub.rho) + st.free_w / (2.0 * sub.mu))
    return -scaled_solve(k, H, st.G)


def scaled_solve(k: Kernels, H: Any, rhs: Any) -> Any:
    """H^-1 rhs after Jacobi scaling (H's diagonal spans many decades when rho is huge). H is
    scaled in place (every caller builds it for this solve; the joint problem's is 3,816 x
    3,816, and a copy of it costs as much as a tenth of its Cholesky factor).

    A target with no free record and its w at a band edge has a zero row in H
    when rho is huge; its diagonal is set to 1 there, so the step moves it along
    the right-hand side (still a descent direction: the line search is exact). D is 1 on
    such a row, so the 1 is added after the scaling, as it would be before."""
    diag = H.diagonal() * 1.0
    empty = (diag <= 0) * 1.0
    D = 1.0 / (diag + empty) ** 0.5
    H *= D[:, None]
    H *= D[None, :]
    if k.count(empty):
        H += k.diag_matrix(empty)
    return D * k.solve(H, D * rhs)


# The line search's bracket grows as newton_core's does: by _BRACKET_GROWTH from 1 until h(T) >= 0,
# at most to _BRACKET_MAX_STEP.


@dataclass
class _Clipped:
    """One family of terms of h(t) (band_line_search): a . (clip(al + t be, L, U) - at0)."""

    a: Any
    al: Any
    be: Any
    L: Any
    U: Any
    at0: Any  # clip(al, L, U): the state's x or w

    def value(self, k: Kernels, t: float) -> float:
        return k.scalar((self.a * ((self.al + t * self.be).clip(self.L, self.U) - self.at0)).sum())

    def events(self, k: Kernels, T: float) -> tuple[float, Any, Any, Any]:
        """The slope at t = 0+ and the (time, slope change) of every term entering or leaving
        its interval in (0, T]. A term with be = 0 is constant: dividing by 1 there keeps its
        times finite and its slope, a be, is 0, so its events change nothing."""
        slope = self.a * self.be
        be = self.be + (self.be == 0) * 1.0
        t1, t2 = (self.L - self.al) / be, (self.U - self.al) / be
        enter, leave = k.minimum(t1, t2), k.maximum(t1, t2)
        slope0 = k.scalar((slope * ((enter <= 0) & (leave > 0))).sum())
        enters = (enter > 0) & (enter <= T)
        leaves = (leave > 0) & (leave <= T)
        return slope0, k.cat([enter[enters], leave[leaves]]), slope[enters], -slope[leaves]


def band_line_search(k: Kernels, sub: Subproblem, st: BandState, d: Any) -> tuple[float, Any]:
    """The t >= 0 where h(t) = d.G(y + t d) = 0, found exactly; with v = C^T d.

    h(t) = d.G(y) + t d.d/(2 rho) + sum_p a_p (clip(al_p + t be_p, L_p, U_p) - clip(al_p, L_p, U_p))
    over the records (a = -v, al = unclipped x, be = -v / lam, box [lower, upper]) and the
    targets (a = d, al = w_k + y / (2 mu), be = d / (2 mu), band [l, u]). Each term has slope
    a_p be_p >= 0 while it is inside its interval and 0 outside, so h is monotone and piecewise
    linear. A bracket [0, T] with h(T) >= 0 is found first (T = 1, 4, 16, ...); then only the
    times in (0, T] where terms enter and leave are sorted, the slope is accumulated, and the
    root is solved for on the segment where h turns non-negative.
    """
    v = k.Bmul(d)
    h0 = k.scalar((d * st.G).sum())
    if not h0 < 0:
        return 0.0, v  # not a descent direction in float64: nothing to gain along d
    dd = k.scalar((d * d / (2.0 * sub.rho)).sum())
    terms = (_Clipped(a=-v, al=st.unclipped, be=-v / k.lam, L=k.lower, U=k.upper, at0=st.x),
             _Clipped(a=d, al=st.wa, be=d / (2.0 * sub.mu), L=sub.l, U=sub.u, at0=st.w))

    def h(t: float) -> float:
        return h0 + t * dd + sum(term.value(k, t) for term in terms)

    T = 1.0
    while h(T) < 0:
        if T >= _BRACKET_MAX_STEP:
            return T, v
        T *= _BRACKET_GROWTH
    slope0, times, changes = dd, [], []
    for term in terms:
        s0, t_term, up, down = term.events(k, T)
        slope0 += s0
        times.append(t_term)
        changes += [up, down]
    return _root_of_piecewise_linear(k, h0, slope0, k.cat(times), k.cat(changes)), v


def _root_of_piecewise_linear(k: Kernels, h0: float, slope0: float, times: Any, changes: Any) -> float:
    """The root of h, monotone and piecewise linear, from h(0) = h0 < 0, its slope at 0+ and the
    (time, slope change) events, which are all those before the root."""
    if len(times) == 0:
        return -h0 / slope0 if slope0 > 0 else 0.0
    order = times.argsort()
    times, changes = times[order], changes[order]
    seg_slope = slope0 + changes.cumsum(0)  # slope after each event
    seg_len = times - k.cat([times[:1] * 0.0, times[:-1]])
    before = k.cat([k.full(times[:1], slope0), seg_slope[:-1]])  # slope before each event
    h_at = h0 + (before * seg_len).cumsum(0)  # h at each event
    hit = h_at >= 0
    if not bool(hit.any()):
        last = k.scalar(seg_slope[-1])
        return k.scalar(times[-1]) - k.scalar(h_at[-1]) / last if last > 0 else k.scalar(times[-1])
    i = int((hit * 1).argmax())  # the first event where h >= 0
    t_prev = 0.0 if i == 0 else k.scalar(times[i - 1])
    h_prev = h0 if i == 0 else k.scalar(h_at[i - 1])
    s_prev = k.scalar(before[i])
    return t_prev - h_prev / s_prev if s_prev > 0 else t_prev


@dataclass(frozen=True)
class Steps:
    """The three steps of the inner Newton loop: the state at y, the Newton direction and the
    exact line search. band-newton's are this module's functions over kernels; the additive
    areas' joint method (goldstar.solvers.additive_core) gives its own, with the same loop."""

    state: Callable[..., BandState]  # (k, sub, y, s=None)
    step: Callable[..., Any]  # (k, sub, st) -> d
    line_search: Callable[..., tuple[float, Any]]  # (k, sub, st, d) -> (t, C^T d)


def prox_newton(
    k: Kernels,
    l: Any,
    u: Any,
    rho_stages: list[Any],
    y0: Any,
    wk0: Any,
    *,
    mu: float,
    tol: float,
    outer_tol: float,
    max_inner: int,
    max_outer: int,
    time_limit: float | None = None,
    progress: ProgressFn | None = None,
    floor: Any = 0.0,
    steps: Steps | None = None,
) -> BandResult:
    """Run the continuation stages of the prox loop from (y0, wk0); see the module docstring.
    `steps`: the inner loop's steps (default: band-newton's, BAND_STEPS)."""
    steps = steps or BAND_STEPS
    start = time.perf_counter()
    history: list[dict[str, float]] = []
    y, wk = y0, wk0
    outer_total = inner_total = 0
    st = None
    for stage, rho in enumerate(rho_stages):
        prev_dw = float("inf")
        for outer in range(1, max_outer + 1):
            sub = Subproblem(wk=wk, rho=rho, mu=mu, l=l, u=u, floor=floor)
            st, inner, status, message = _inner(k, sub, y, tol, max_inner, start, time_limit,
                                                history, progress, stage, outer_total + outer, steps)
            inner_total += inner
            y = st.y
            dw = k.scalar(abs(st.w - wk).max())
            wk = st.w
            history[-1]["dw_inf"] = dw
            if status != CONVERGED:
                return BandResult(st.x, y, status, f"stage {stage + 1}, outer {outer}: {message}",
                                  outer_total + outer, inner_total, stage + 1, history)
            warm_start_only = stage < len(rho_stages) - 1
            if warm_start_only or dw == 0.0 or (dw < outer_tol and dw > 0.5 * prev_dw):
                break
            prev_dw = dw
            if time_limit is not None and time.perf_counter() - start > time_limit:
                return BandResult(st.x, y, LIMIT_REACHED, f"time limit {time_limit} s reached",
                                  outer_total + outer, inner_total, stage + 1, history)
        else:
            return BandResult(st.x, y, LIMIT_REACHED,
                              f"stage {stage + 1}: the prox loop did not settle in {max_outer} outer "
                              f"iterations (|dw| = {dw:.3g})", outer_total + max_outer, inner_total,
                              stage + 1, history)
        outer_total += outer
    message = (f"{len(rho_stages)} stage(s), {outer_total} outer / {inner_total} inner iterations; "
               f"|G| = {st.Gnorm:.3g}, |dw| = {dw:.3g}")
    return BandResult(st.x, y, CONVERGED, message, outer_total, inner_total, len(rho_stages), history)


def _inner(k: Kernels, sub: Subproblem, y: Any, tol: float, max_inner: int, start: float,
           time_limit: float | None, history: list[dict[str, float]], progress: ProgressFn | None,
           stage: int, outer: int, steps: Steps) -> tuple[BandState, int, int, str]:
    """Semismooth Newton on G = 0 for one subproblem; the best state, iterations, status, message."""
    state_at = steps.state
    st = state_at(k, sub, y)
    best = st
    reached = st.Gnorm < tol
    stalled = 0

    def record(it: int, step: float, state: BandState) -> None:
        viol = state.r - state.r.clip(sub.l, sub.u)
        dx = state.x - 1.0
        entry = {
            "iteration": len(history), "stage": stage + 1, "outer": outer, "inner": it,
            "seconds": time.perf_counter() - start,
            "loss": k.scalar((dx * dx).sum() + (sub.rho * viol * viol).sum()),
            "G_inf": state.Gnorm, "step": step, "free": k.count(state.free_x),
        }
        history.append(entry)
        if progress is not None:
            progress(entry)

    for it in range(1, max_inner + 1):
        if st.Gnorm == 0.0:
            record(it - 1, 0.0, st)
            return st, it - 1, CONVERGED, "G(y) is exactly zero"
        d = steps.step(k, sub, st)
        t, v = steps.line_search(k, sub, st, d)
        # far from the floor C^T y moves by t v and C x comes from the gram (band_state); below
        # EXACT_BELOW every state is computed in full, so the floor read is the exact one
        fast = st.Gnorm >= EXACT_BELOW
        new = state_at(k, sub, st.y + t * d, s=st.s + t * v if fast else None)
        if fast and new.Gnorm < EXACT_BELOW:
            new = state_at(k, sub, new.y)
        if new.Gnorm != new.Gnorm or new.Gnorm == float("inf"):
            record(it, t, best)
            return best, it, FAILED, "non-finite G(y): the problem is badly scaled"
        stalled = stalled + 1 if new.Gnorm > 0.5 * best.Gnorm else 0
        if reached and stalled >= STALLED_STEPS:
            if new.Gnorm < best.Gnorm:
                best = new
            record(it, t, best)
            return best, it, CONVERGED, f"|G| = {best.Gnorm:.3g} stopped halving"
        if t == 0.0 and new.Gnorm >= st.Gnorm and stalled >= STALLED_STEPS:
            record(it, t, best)
            return best, it, FAILED, f"line search made no progress at |G| = {st.Gnorm:.3g} (threshold {tol:.3g})"
        st = new
        if st.Gnorm < best.Gnorm:
            best = st
        reached = reached or st.Gnorm < tol
        if time_limit is not None and time.perf_counter() - start > time_limit:
            record(it, t, best)
            return best, it, LIMIT_REACHED, f"time limit {time_limit} s reached"
    record(max_inner, 0.0, best)
    if reached:
        return best, max_inner, CONVERGED, f"|G| = {best.Gnorm:.3g} at the inner cap"
    return best, max_inner, LIMIT_REACHED, f"inner Newton hit its cap of {max_inner} at |G| = {best.Gnorm:.3g}"


BAND_STEPS = Steps(state=band_state, step=band_step, line_search=band_line_search)


def run_band(k: Kernels, problem: Any, options: dict[str, Any], progress: ProgressFn | None, method: str,
             to_numpy: Callable[[Any], np.ndarray] = lambda a: a, device: str = "cpu") -> Solution:
    """band-newton on kernels k (B := C^T, lam := 2) for a band problem; the dual y comes back
    with one entry per target of the problem, NaN for dropped targets."""
    start = time.perf_counter()
    form = problem.form
    stages = form.rho_stages()
    if options["x0"] is None:
        x0 = np.ones(problem.n)
        y0 = np.zeros(form.J)
    else:
        x0 = np.clip(problem.check_multipliers(options["x0"], "x0"), problem.lower, problem.upper)
        z, v = form.violation(x0)
        y0 = 2.0 * stages[0] * v
    wk0 = np.clip(form.C @ x0, form.l, form.u)
    ones = k.vector(np.ones(problem.n))
    floor = SIZE_FLOOR * k.absBTmul(ones, k.BTmul(ones))
    result = prox_newton(
        k, k.vector(form.l), k.vector(form.u), [k.vector(r) for r in stages], k.vector(y0), k.vector(wk0),
        mu=float(options["mu"]), tol=float(options["tol"]), outer_tol=float(options["outer_tol"]),
        max_inner=int(options["max_inner"]), max_outer=int(options["max_outer"]),
        time_limit=options["time_limit"], progress=progress, floor=floor,
    )
    x, y_kept = to_numpy(result.x), to_numpy(result.y)
    y = np.full(problem.J, np.nan)
    y[form.kept] = y_kept
    return Solution(
        method=method, m=x, y=y, loss=float("nan"), pg=float("nan"),
        iterations=result.inner, seconds=time.perf_counter() - start,
        status=result.status, message=result.message, history=result.history,
        options={**options, "x0": None if options["x0"] is None else "given", "outer_iterations": result.outer,
                 "stages": result.stages, "hessian_rebuilds": k.rebuilds, "hessian_updates": k.updates},
        device=device,
    )
