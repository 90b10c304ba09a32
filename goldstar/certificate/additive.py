"""The certificate of the additive areas' joint optimum (docs/additive.md, "The joint certificate").

Notation of goldstar.solvers.additive_core. Given stored multipliers X (n x K, the records that
feed a cell) and the stored dual y (every kept target of every area):

1. z = C X (every area), w_k = P(z) its projection on the bands; one inner Newton step of the
   joint method at (w_k, rho_final) from y: y1 = y + d. The optimum is a fixed point of that
   subproblem for w_k = P(z*).
2. Fixed-point error e_ia = |X_ia - x_ia(y1)| / max(x_ia(y1), 1), x(y1) with each record's
   coupling multiplier nu_i(y1) solved exactly (a rescaled answer that sums to one fails here).
3. Duality gap, for y and for y1 (the smaller kept), summed from its terms:
       delta_ia = (X_ia - x_ia) (X_ia + x_ia - 2 + g_ia),  g_ia = S_ia + nu_i s_a,  x = clip(1 - g / 2)
       eps_j    = band_core's band term (certificate/band.py: gap_terms), each >= 0
       coupling = -sum_i nu_i (sum_a s_a X_ia - c)      (>= 0 for the exhaustion cap)
   Q is 2-strongly convex in X, so ||X - X*||_2 <= sqrt(gap).
4. The coupling held per record: |sum_a s_a X_ia - 1| (additive) or sum_a s_a X_ia - E
   (exhaustion) at most COUPLING_TOL, i.e. each record's area weights sum to its national
   weight (or at most E times it) to 1e-12 of it.
5. Every hard band met to BAND_TOL band widths; the box [0, U_a] to BOUND_TOL.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from ..checks import Check
from ..problem.objectives.band import RHO_CAP, band_widths
from ..problem.prepass import BAND_TOL
from ..solvers.additive_core import EXHAUSTION, JointData, JointKernels, coupled_x, joint_state, newton_direction
from ..solvers.band_core import Subproblem
from .band import PROX_MU
from .checks import BOUND_TOL, FIXED_POINT_TOL, GAP_RTOL, Checked, bound_check, fixed_point_check, gap_check

# A record's area weights sum to its national weight (or to at most E times it) within this share
# of it: the sum of K products, each rounded, is exact to ~K eps ~ 1e-14 for K = 51.
COUPLING_TOL = 1e-12


@dataclass(frozen=True)
class JointCertificate(Checked):
    mode: str
    areas: int
    records: int
    targets_kept: int
    loss: float
    gap: float
    gap_at_stored_dual: float
    bound_l2: float
    fixed_point_error: float
    worst_record_id: int
    worst_record: int
    worst_area: str
    coupling_residual: float
    coupling_record_id: int
    hard_targets: int
    max_band_violation: float
    worst_target: str
    bound_violation: float

    def checks(self) -> list[Check]:
        what = "sum to the national weight" if self.mode != EXHAUSTION else "stay within the cap"
        # One area under "additive" (a state with one district): its share is 1, so x_i = 1 is the
        # only point that meets the coupling and it is the optimum whatever the objective; the
        # coupling check below is then the proof, and the gap (0 in exact arithmetic, relative to
        # a Q that is 0 when x = 1 meets every band) is not asked.
        optimal = [] if self.areas == 1 and self.mode != EXHAUSTION else [
            fixed_point_check(self.fixed_point_error, FIXED_POINT_TOL, self.worst_record_id, self.worst_record),
            gap_check(self.gap, GAP_RTOL, self.loss, "Q"),
        ]
        return [
            *optimal,
            Check("coupling", self.coupling_residual <= COUPLING_TOL,
                  f"{self.coupling_residual:.3g} (record_id {self.coupling_record_id})", f"<= {COUPLING_TOL:g}",
                  f"record_id {self.coupling_record_id}'s area weights do not {what}: off by "
                  f"{self.coupling_residual:.3g} of its national weight"),
            Check("hard bands met", self.max_band_violation <= BAND_TOL,
                  f"max {self.max_band_violation:.3g} widths ({self.worst_target})", f"<= {BAND_TOL:g} widths",
                  f"target {self.worst_target} misses its band by {self.max_band_violation:.3g} band widths"),
            bound_check(self.bound_violation, BOUND_TOL),
        ]

    def thresholds(self) -> dict[str, float]:
        return {"fixed_point_error": FIXED_POINT_TOL, "gap_relative_to_loss": GAP_RTOL, "coupling": COUPLING_TOL,
                "band_violation_widths": BAND_TOL, "bound_violation": BOUND_TOL}


def certify_joint(data: JointData, l: np.ndarray, u: np.ndarray, rho: np.ndarray, X: np.ndarray,
                  y: np.ndarray, *, record_ids: np.ndarray, areas: list[str], names: list[str]) -> JointCertificate:
    """Check stored X and y against the joint optimum, as the module docstring says.
    `rho` is the last continuation stage's; `record_ids` (n), `areas` (K) and `names` (N, area after
    area) name what the checks report."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k = JointKernels(data)
    z = data.C(X)
    pz = np.clip(z, l, u)
    sub = Subproblem(wk=pz, rho=rho, mu=np.full(data.N, PROX_MU), l=l, u=u)
    u0 = k.gauge.from_y(y)
    state = joint_state(k, sub, u0)
    u1 = state.y + newton_direction(k, sub, state)  # the state's u has its flat coordinates at their best
    y1 = k.gauge.to_y(u1)
    loss = float(((X - 1.0) ** 2).sum() + (rho * (z - pz) ** 2).sum())
    gaps, fixed = [], None
    for yy, uu in ((y, u0), (y1, u1)):
        # x(y) from the reduced u (solvers.additive_core.FlatGauge): the same x, without the
        # flat part's rounding; nu of y is nu of the reduced u minus the flat part's shift. The
        # state at u0 has them already (its flat coordinates, the only ones it moved, are
        # zeroed in the reduced u)
        if uu is u0:
            S, cp = state.s, state.coupling
        else:
            S = data.CT(k.gauge.reduced(uu))
            cp = coupled_x(data, S, None)
        nu = cp.nu - k.gauge.nu_shift(data, uu)
        g = S + cp.nu[:, None] * data.shares
        delta = (X - cp.x) * (X + cp.x - 2.0 + g)
        sigma = np.where(yy > 0, u, np.where(yy < 0, l, pz))
        root = np.sqrt(rho)
        eps = yy * (sigma - pz) + (root * (z - pz) - yy / (2.0 * root)) ** 2
        coupling = -float((nu * ((X * data.shares).sum(axis=1) - data.bound)).sum())
        gaps.append(float(delta.sum() + eps.sum()) + coupling)
        fixed = cp.x
    e = np.abs(X - fixed) / np.maximum(fixed, 1.0)
    worst_i, worst_a = np.unravel_index(int(np.argmax(e)), e.shape)
    total = (X * data.shares).sum(axis=1)
    residual = np.abs(total - 1.0) if data.mode != EXHAUSTION else np.maximum(total - data.bound, 0.0)
    worst_c = int(np.argmax(residual))
    violation = np.abs(z - pz) / band_widths(l, u)  # as the separate certificate measures a miss
    hard = rho >= RHO_CAP
    worst_t = int(np.argmax(np.where(hard, violation, -1.0))) if hard.any() else int(np.argmax(violation))
    bound = float(np.maximum(np.maximum(-X, X - data.upper[None, :]), 0.0).max())
    gap = min(gaps)
    return JointCertificate(
        mode=data.mode, areas=data.K, records=data.n, targets_kept=data.N, loss=loss, gap=gap,
        gap_at_stored_dual=gaps[0], bound_l2=float(np.sqrt(max(gap, 0.0))),
        fixed_point_error=float(e[worst_i, worst_a]), worst_record_id=int(record_ids[worst_i]),
        worst_record=int(worst_i), worst_area=areas[int(worst_a)],
        coupling_residual=float(residual[worst_c]), coupling_record_id=int(record_ids[worst_c]),
        hard_targets=int(hard.sum()),
        max_band_violation=float(violation[worst_t]) if hard.any() else 0.0,
        worst_target=names[worst_t], bound_violation=bound,
    )

