"""Which targets of a band problem cannot be met, found before solving (docs/band.md).

In target units (TMD's construction) every band is hard to float64 precision,
so a target that no multiplier in the box can bring into its band sends the
dual to ~1e20 and leaves the answer to rounding. Two tests, cheapest first:

1. Alone: target j's reachable range over the box is
       [sum_i min(lower b_ij, upper b_ij), sum_i max(lower b_ij, upper b_ij)],  b_ij = w0_i A_ij;
   a band that does not meet it cannot be met (`reason` "range"; the distance
   is the gap between range and band, in band widths).
2. Together: the elastic LP
       minimize sum_j (s_lo_j + s_hi_j)
       subject to (B^T x)_j / W_j + s_lo_j - s_hi_j in [t_j - eps|t_j|, t_j + eps|t_j|] / W_j,
                  lower <= x <= upper, s >= 0,
   W_j the band width 2 eps |t_j|, so each slack is a violation in band widths.
   Its optimal value is 0 exactly when all remaining bands can be met
   together; otherwise the targets it leaves violated (by more than
   BAND_TOL widths) are named ("joint"; distance = that violation).

The LP runs in a canonical order (targets by name, records by record_id),
so the dropped set does not depend on the order the problem came in; HiGHS
is deterministic for a given input. The set is recorded in problem.json and
checked again by verify.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError, UnreachableTargets
from .objectives.band import MIN_WIDTH_SCALE

if TYPE_CHECKING:
    from .model import Problem

# A band is met when it is missed by at most BAND_TOL of its width: the one tolerance, in band
# widths, of both pre-passes (national and areas), verify's check of the recorded conflict, the
# band certificate's hard bands and the reports. HiGHS's primal feasibility tolerance is 1e-7 on
# rows scaled to band widths, so an LP slack below 1e-6 widths is rounding of a met band, not a
# violation; and at rho = RHO_CAP = 1e16 a kept hard band is missed by |y_j| / (2 rho) ~ 1e-13 of
# the target (docs/band.md), ~1e-11 of a band width at eps = 0.005, far inside it.
BAND_TOL = 1e-6


@dataclass
class Prepass:
    """The targets that cannot be met, each with the figures that prove it."""

    dropped: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    lp: dict[str, Any] = field(default_factory=dict)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(d["name"] for d in self.dropped))

    def as_dict(self) -> dict[str, Any]:
        return {"dropped": self.dropped, "seconds": self.seconds, "lp": self.lp}

    def describe(self) -> list[str]:
        """One line per dropped target: its band, what the box can reach, how far off."""
        out = []
        for d in self.dropped:
            reach = (f"reachable [{d['low']:.6g}, {d['high']:.6g}]" if d["reason"] == "range"
                     else "met alone, not together with the others")
            out.append(f"{d['name']}: band [{d['band_low']:.6g}, {d['band_high']:.6g}], {reach}; "
                       f"{d['distance_in_band_widths']:.3g} band widths away ({d['reason']})")
        return out


def bands(t: np.ndarray, eps: float, *, zero_width: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each target's band [t - eps |t|, t + eps |t|] in target units, and its width 2 eps |t|.

    A width is floored at MIN_WIDTH_SCALE of max(|t|, 1) (t = 0, or eps |t| below it); the areas'
    pre-pass instead gives `zero_width` (1.0: max(|t|, 1) at t = 0) to a band with t = 0."""
    half = eps * np.abs(t)
    if zero_width is None:
        width = np.maximum(2.0 * half, MIN_WIDTH_SCALE * np.maximum(np.abs(t), 1.0))
    else:
        width = np.where(t != 0, 2.0 * half, zero_width)
    return t - half, t + half, width


def band_limits(problem: "Problem") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every target's band in target units, and its width (floored: MIN_WIDTH_SCALE)."""
    return bands(problem.t, problem.objective.eps)


def reachable(B: sp.spmatrix, lower: float, upper: float) -> tuple[np.ndarray, np.ndarray]:
    """Each target's lowest and highest weighted total over the box [lower, upper], B = diag(w0) A
    (module docstring, test 1)."""
    Bpos = sp.csr_matrix(B, copy=True)
    Bneg = Bpos.copy()
    Bpos.data = np.maximum(Bpos.data, 0.0)
    Bneg.data = np.minimum(Bneg.data, 0.0)
    ones = np.ones(Bpos.shape[0])
    pos, neg = Bpos.T @ ones, Bneg.T @ ones
    return lower * pos + upper * neg, upper * pos + lower * neg


def reachable_ranges(problem: "Problem") -> tuple[np.ndarray, np.ndarray]:
    """Each target's lowest and highest weighted total over the problem's box."""
    return reachable(sp.diags(problem.w0) @ problem.A, problem.lower, problem.upper)


def out_of_reach(low: np.ndarray, high: np.ndarray, band_low: np.ndarray, band_high: np.ndarray) -> np.ndarray:
    """Test 1: the targets whose band misses their reachable range [low, high]."""
    return (high < band_low) | (low > band_high)


def range_drops(names, low: np.ndarray, high: np.ndarray, band_low: np.ndarray, band_high: np.ndarray,
                width: np.ndarray) -> list[dict[str, Any]]:
    """Test 1's dropped targets (reason `range`), in target order, each with its distance in band widths."""
    out = []
    for j in np.flatnonzero(out_of_reach(low, high, band_low, band_high)):
        gap = band_low[j] - high[j] if high[j] < band_low[j] else low[j] - band_high[j]
        out.append(_entry(names[j], "range", low[j], high[j], band_low[j], band_high[j], gap / width[j]))
    return out


def find_unreachable(problem: "Problem", *, time_limit: float | None = None) -> Prepass:
    """Run both tests of the module docstring on every target of a band problem."""
    if problem.objective.name != "band":
        raise InputError(f"the unreachable-target pre-pass is for the band objective, not {problem.objective.name!r}")
    out = Prepass()
    start = time.perf_counter()
    band_low, band_high, width = band_limits(problem)
    low, high = reachable_ranges(problem)
    names = problem.target_names
    alone = out_of_reach(low, high, band_low, band_high)
    out.dropped.extend(range_drops(names, low, high, band_low, band_high, width))
    out.seconds["ranges"] = time.perf_counter() - start

    start = time.perf_counter()
    keep = np.flatnonzero(~alone)
    violation, out.lp = elastic_lp(problem, keep, band_low, band_high, width, time_limit)
    for j, v in zip(keep, violation):
        if v > BAND_TOL:
            out.dropped.append(_entry(names[j], "joint", low[j], high[j], band_low[j], band_high[j], v))
    out.seconds["lp"] = time.perf_counter() - start
    out.dropped.sort(key=lambda d: d["name"])
    return out


def _entry(name: str, reason: str, low: float, high: float, band_low: float, band_high: float,
           distance: float) -> dict[str, Any]:
    return {"name": name, "reason": reason, "low": float(low), "high": float(high),
            "band_low": float(band_low), "band_high": float(band_high),
            "distance_in_band_widths": float(distance)}


def elastic_lp(problem: "Problem", keep: np.ndarray, band_low: np.ndarray, band_high: np.ndarray,
               width: np.ndarray, time_limit: float | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Test 2 over the targets `keep`: each one's least violation, in band widths, when all are
    met as well as they can be together. Targets by name, records by record_id (canonical)."""
    from scipy.optimize import linprog

    if keep.size == 0:
        return np.zeros(0), {"status": "no targets"}
    names = np.array(problem.target_names, dtype=object)[keep]
    t_order = np.argsort(names, kind="stable")
    targets = keep[t_order]
    r_order = np.argsort(problem.record_ids, kind="stable")
    R = (sp.diags(problem.w0[r_order]) @ problem.A[r_order][:, targets] @ sp.diags(1.0 / width[targets])).T.tocsr()
    J, n = R.shape
    lo = band_low[targets] / width[targets]
    hi = band_high[targets] / width[targets]
    eye = sp.identity(J, format="csr")
    # R x + s_lo - s_hi <= hi  and  -(R x + s_lo - s_hi) <= -lo
    A_ub = sp.vstack([sp.hstack([R, eye, -eye]), sp.hstack([-R, -eye, eye])], format="csr")
    b_ub = np.concatenate([hi, -lo])
    cost = np.concatenate([np.zeros(n), np.ones(2 * J)])
    bounds = [(problem.lower, problem.upper)] * n + [(0.0, None)] * (2 * J)
    options = {"presolve": True}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    result = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs", options=options)
    if result.status != 0 or result.x is None:
        raise InputError(f"the elastic LP of the band pre-pass did not solve: {result.message}")
    # The LP's dual, one multiplier per target (mu = lambda_hi - lambda_lo, clipped to the
    # dual-feasible [-1, 1]), proves a lower bound on the total violation: conflict_bound.
    lam = -np.asarray(result.ineqlin.marginals, dtype=np.float64)
    mu = np.clip(lam[:J] - lam[J:], -1.0, 1.0)
    info = {"status": str(result.message), "value": float(result.fun),
            "iterations": int(getattr(result, "nit", 0) or 0),
            "dual": {str(name): float(v) for name, v in zip(names[t_order], mu)}}
    slack = result.x[n:n + J] + result.x[n + J:]
    violation = np.empty(J)
    violation[t_order] = slack
    return violation, info


def conflict_bound(problem: "Problem", dual: dict[str, float]) -> float:
    """A proven lower bound on the elastic LP's value (total band violation, in widths) from its dual.

    For any mu in [-1, 1]^J (Lagrange duality of the module docstring's LP),
        value >= sum_j (mu_j^- lo_j - mu_j^+ hi_j) + sum_i min(lower g_i, upper g_i),  g = R^T mu,
    R the rows in band widths and [lo, hi] the bands in widths. So a positive bound proves that
    the targets named in `dual` cannot all be met together, on this machine, in O(nnz).
    """
    index = {name: j for j, name in enumerate(problem.target_names)}
    missing = [name for name in dual if name not in index]
    if missing:
        raise InputError(f"the recorded LP dual names target(s) not in the problem: {missing[:5]}")
    targets = np.array([index[name] for name in dual], dtype=np.int64)
    mu = np.clip(np.array(list(dual.values()), dtype=np.float64), -1.0, 1.0)
    band_low, band_high, width = band_limits(problem)
    lo, hi = band_low[targets] / width[targets], band_high[targets] / width[targets]
    g = sp.diags(problem.w0) @ problem.A[:, targets] @ (mu / width[targets])
    records = np.minimum(problem.lower * g, problem.upper * g)
    terms = np.concatenate([np.maximum(-mu, 0.0) * lo - np.maximum(mu, 0.0) * hi, records])
    return float(np.sum(np.sort(terms)))


def apply_policy(problem: "Problem", recorded: tuple[str, ...] | None = None) -> tuple["Problem", Prepass | None]:
    """The band problem with its unreachable targets dropped, by the objective's `unreachable` policy.

    Relative slack: nothing to do (every target soft). Target units: the pre-pass
    runs (unless `recorded`, a dropped set read from a reference, is given: then
    that set is applied as recorded, and verify checks it separately); under
    `error` any unreachable target raises UnreachableTargets naming each.
    """
    from dataclasses import replace

    objective = problem.objective
    if objective.name != "band" or objective.slack_units != "target":
        return problem, None
    if recorded is not None:
        return problem.with_objective(replace(objective, dropped=tuple(recorded))), None
    prepass = find_unreachable(problem.with_objective(replace(objective, dropped=())))
    if prepass.dropped and objective.unreachable == "error":
        raise UnreachableTargets(
            f"{len(prepass.dropped)} target(s) cannot be met within the multiplier box "
            f"[{problem.lower:g}, {problem.upper:g}]:\n  " + "\n  ".join(prepass.describe())
            + "\n(--unreachable drop solves the rest and records these)"
        )
    return problem.with_objective(replace(objective, dropped=prepass.names())), prepass
