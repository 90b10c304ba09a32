"""The certificate of the band objective (docs/band.md, "The band certificate").

Notation of goldstar.problem.objectives.band; rho is the form's rho_final (TMD's rho
in relative units; in target units capped at RHO_CAP, where the problem is
the hard band QP to float precision). Given stored multipliers x_hat:

1. z = C x_hat, w_k = P(z) (its projection on the band), and a dual point
   y_hat: the stored dual when given, else the least-squares fit of both
   optimality conditions, (C_F C_F^T / 2 + diag(1/(2 rho))) y = C_F (1 - x_F) + (z - P z),
   F the records strictly inside the box (x_F = 1 - (C^T y)_F / 2 and
   y = 2 rho (z - P z) at the optimum; the second alone is rounding noise
   times rho when rho is huge).
2. One inner Newton step of solvers/band_core at (w_k, rho): y1 = y_hat + d.
   The optimum is a fixed point of that subproblem for w_k = P(z*), any mu.
3. Fixed-point error e_i = |x_hat_i - x_i(y1)| / x_i(y1) (denominator
   max(x_i(y1), 1) where lower = 0, since x* = 0 is allowed there).
4. Duality gap Q(x_hat) - D(y), for y = y_hat and y = y1 (the smaller is kept;
   both bound Q(x_hat) - Q(x*) by weak duality), summed from non-negative terms:
       delta_i = (x_i - x_i(y)) (x_i + x_i(y) - 2 + (C^T y)_i)
       eps_j   = y_j (sigma_j - P(z)_j) + (sqrt(rho_j) v_j - y_j / (2 sqrt(rho_j)))^2,
   v = z - P z, sigma_j = u_j if y_j > 0 else l_j: each term >= 0.
5. Proven bound ||x_hat - x*||_2 <= sqrt(gap) (Q is 2-strongly convex).
6. Every kept target's band status (violation in band widths); every hard
   band (target units with rho_j = M ts_j^2 >= RHO_CAP: BandForm.hard_targets)
   must be met to BAND_TOL widths (the hard band QP). A soft band's miss is
   part of Q's optimum, which the gap certifies.
   TMD's own Q (rho = M ts^2) is reported beside the certified one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import Check
from .checks import BOUND_TOL, FIXED_POINT_TOL, GAP_RTOL, Checked, bound_check, fixed_point_check, gap_check
from ..problem.objectives.band import RHO_CAP
from ..problem.model import Problem
from ..problem.prepass import BAND_TOL  # hard bands are met to it (its reason is there)
from ..solvers.band_core import Subproblem, band_state, band_step, scaled_solve
from ..solvers.band_newton import band_kernels

PROX_MU = 1.0  # the subproblem's prox weight; any mu > 0 leaves the optimum fixed (step 2)


@dataclass(frozen=True)
class BandCertificate(Checked):
    """How far stored multipliers are from the band optimum, record and target named."""

    n: int
    loss: float
    tmd_loss: float
    deviation: float
    dual_value: float
    gap: float
    gap_at_stored_dual: float
    stored_dual: bool
    bound_l2: float
    fixed_point_error: float
    worst_record: int
    worst_record_id: int
    hard_bands: bool
    hard_targets: int
    targets_kept: int
    targets_dropped: int
    targets_outside_band: int
    max_band_violation: float
    worst_target: str
    pg: float
    bound_violation: float
    newton_G_inf: float

    def checks(self) -> list[Check]:
        """The pass/fail checks, each with its figure, threshold and the record or target at fault."""
        out = [
            fixed_point_check(self.fixed_point_error, FIXED_POINT_TOL, self.worst_record_id, self.worst_record),
            gap_check(self.gap, GAP_RTOL, self.loss, "Q"),
        ]
        if self.stored_dual:
            out.append(Check(
                "stored dual", self.gap_at_stored_dual <= GAP_RTOL * max(self.loss, 1e-300),
                f"gap {self.gap_at_stored_dual:.3g}", f"<= {GAP_RTOL:g} x Q",
                f"the stored dual leaves a gap of {self.gap_at_stored_dual:.3g}: it is not the optimal dual",
            ))
        if self.hard_bands:
            out.append(Check(
                "hard bands met", self.max_band_violation <= BAND_TOL,
                f"max {self.max_band_violation:.3g} widths ({self.worst_target})", f"<= {BAND_TOL:g} widths",
                f"target {self.worst_target!r} misses its band by {self.max_band_violation:.3g} band widths "
                f"(> {BAND_TOL:g}; its slack penalty M ts^2 >= {RHO_CAP:g} makes it hard)",
            ))
        out.append(bound_check(self.bound_violation, BOUND_TOL))
        return out

    def reported(self) -> dict[str, str]:
        """Figures shown beside the checks, judged by nothing."""
        return {
            "proven distance from x*": f"||x - x*||_2 <= {self.bound_l2:.3g}",
            "targets outside their band": f"{self.targets_outside_band} of {self.targets_kept} kept "
                                          f"({self.hard_targets} hard, {self.targets_dropped} dropped); "
                                          f"worst{' hard' if self.hard_bands else ''} {self.max_band_violation:.3g} widths",
            "objective": f"sum (x-1)^2 = {self.deviation:.12g}; TMD's Q = {self.tmd_loss:.12g} (its slack "
                         "term weighs rounding-level misses by up to 1e30: not comparable between answers)",
            "projected gradient": f"{self.pg:.3g}",
        }

    def thresholds(self) -> dict[str, float]:
        return {
            "fixed_point_error": FIXED_POINT_TOL, "gap_relative_to_loss": GAP_RTOL,
            "bound_violation": BOUND_TOL, **({"band_violation_widths": BAND_TOL} if self.hard_bands else {}),
        }


def gap_terms(form: Any, x: np.ndarray, y: np.ndarray, s: np.ndarray, z: np.ndarray,
              rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """delta_i and eps_j of the module docstring (step 4), each >= 0 up to rounding."""
    xy = np.clip(1.0 - s / 2.0, form.lower, form.upper)
    delta = (x - xy) * (x + xy - 2.0 + s)
    pz = np.clip(z, form.l, form.u)
    v = z - pz
    sigma = np.where(y > 0, form.u, np.where(y < 0, form.l, pz))
    root = np.sqrt(rho)
    eps = y * (sigma - pz) + (root * v - y / (2.0 * root)) ** 2
    return delta, eps


def certify_band(problem: Problem, x: np.ndarray, y: np.ndarray | None = None) -> BandCertificate:
    """Check `x` against the optimum of the band problem as the module docstring describes."""
    x = problem.check_multipliers(x)
    form = problem.form
    rho = form.rho_final
    k = band_kernels(problem)
    z, v = form.violation(x)
    wk = z - v
    stored = y is not None and bool(np.all(np.isfinite(np.asarray(y, dtype=np.float64)[form.kept])))
    if stored:
        y_hat = np.asarray(y, dtype=np.float64)[form.kept]
    else:
        free = (x > problem.lower) & (x < problem.upper)
        H = k.gram(free) + np.diag(1.0 / (2.0 * rho))
        y_hat = scaled_solve(k, H, form.C @ np.where(free, 1.0 - x, 0.0) + v)
    sub = Subproblem(wk=wk, rho=rho, mu=np.full(form.J, PROX_MU), l=form.l, u=form.u)
    state = band_state(k, sub, y_hat)
    y1 = y_hat + band_step(k, sub, state)
    s1 = form.CT @ y1
    x1 = np.clip(1.0 - s1 / 2.0, problem.lower, problem.upper)
    scale = np.maximum(x1, 1.0) if problem.lower == 0 else x1
    e = np.abs(x - x1) / scale
    worst = int(np.argmax(e))

    loss = form.loss(x)
    gaps = []
    for yy, ss in ((y_hat, state.s), (y1, s1)):
        delta, eps = gap_terms(form, x, yy, ss, z, rho)
        gaps.append(float(np.sum(delta) + np.sum(eps)))
    gap = min(gaps)
    status = form.band_status(x)
    viol = np.abs(status["violation_widths"])
    hard = form.hard_targets
    worst_target = int(np.argmax(np.where(hard, viol, -1.0))) if hard.any() else int(np.argmax(viol))
    return BandCertificate(
        n=problem.n, loss=loss, tmd_loss=form.tmd_loss(x), deviation=form.deviation(x),
        dual_value=loss - gap, gap=gap, gap_at_stored_dual=gaps[0], stored_dual=stored, bound_l2=float(np.sqrt(max(gap, 0.0))),
        fixed_point_error=float(e[worst]), worst_record=worst, worst_record_id=int(problem.record_ids[worst]),
        hard_bands=bool(hard.any()), hard_targets=int(hard.sum()), targets_kept=form.J, targets_dropped=problem.J - form.J,
        targets_outside_band=int(np.sum(viol > BAND_TOL)), max_band_violation=float(viol[worst_target]),
        worst_target=form.names[worst_target], pg=form.pg(x), bound_violation=problem.bound_violation(x),
        newton_G_inf=state.Gnorm,
    )
