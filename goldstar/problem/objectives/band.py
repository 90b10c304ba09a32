"""TMD's band objective (docs/band.md): every target within +/- eps of its value.

Records i carry w0_i, targets t_j, contributions A_ij (goldstar.problem.model). With
ts_j = max(|t_j|, 1), C = diag(1/ts) (w0 A)^T (J x n) and the band
[l_j, u_j] = (t_j -/+ eps |t_j|) / ts_j, the objective over multipliers x is

    Q(x) = sum_i (x_i - 1)^2 + sum_j rho_j dist((C x)_j, [l_j, u_j])^2,
    lower <= x_i <= upper   (lower = 0 allowed: TMD's areas use [0, 25]),

which is TMD's QP with its slack eliminated. The slack's units decide rho:
- `target` (TMD's construction: rows and slack divided by ts together, so the
  slack is in dollars or counts): rho_j = M ts_j^2, up to ~1e30 on a real
  table. Every band is hard to float64 precision, so this is the hard band QP
  wherever all kept bands can be met together; targets no multiplier in the
  box can bring into their band are found first and dropped by name
  (objectives/band_prepass.py).
- `relative` (slack relative to the target): rho_j = M; every target soft.

Q is 2-strongly convex, so x* is unique. Targets named in `dropped` take no
part in Q. The dual, the proximal-point Newton method and the certificate
are in solvers/band_core.py and certificate.py; they refer here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...exceptions import InputError
from ..arrays import ProblemArrays
from ..scaling import scaled
from ...hashing import canonical_array
from ...defaults import (
    DEFAULT_EPS, DEFAULT_SLACK_PENALTY, DEFAULT_SLACK_UNITS, DEFAULT_UNREACHABLE, SLACK_UNITS, UNREACHABLE_POLICIES,
)
from ...params import choice, number, unknown_keys

# In target units rho_j = M ts_j^2 reaches ~1e30, beyond what a Newton system in
# float64 can hold beside its other terms (entries of C C^T / 2 are O(1e-6..1)).
# The solver reaches such rho by continuation, stage rho = min(rho_j, cap) for
# cap = CONTINUATION_START x CONTINUATION_FACTOR^k, up to RHO_CAP. At rho = 1e16 (relative) a
# band's violation is |y_j| / (2 rho) ~ 1e-13 of the target, 1e-11 of the band
# width at eps = 0.005, and the 1/(2 rho) term of the Newton matrix is below
# float64 resolution of its other entries: the problem is the hard band QP to
# float precision (a prototype measured violations 6.6e-4 ... 6.8e-12 over 1e6 ... 1e16).
RHO_CAP = 1e16
# Stages 1e10, 1e13, 1e16. A prototype needed 1e6, 1e8, ..., 1e16: it
# failed when started at the final rho, where a target with no free record and its
# w at a band edge leaves a zero row in H; band_core's scaled_solve handles that row.
# Measured (band-newton on the default problem with its unreachable targets dropped,
# and five state areas): starting at 1e6 took 167 inner iterations on the national
# problem, 1e10 x 1000 took 108, a single stage at 1e16 took 109; the weights agree to
# 2e-12. Three stages keep a warm start for the hardest bands at little cost.
CONTINUATION_START = 1e10
CONTINUATION_FACTOR = 1000.0
# A hard band that the box barely lets the records reach has a huge dual y_j, and at RHO_CAP its
# miss |y_j| / (2 rho) can exceed the certificate's BAND_TOL widths although the bands are
# jointly feasible (measured: a district's all-AGI e18400 band, y ~ 6.6e8, missed by 3.29e-6
# widths). The objective's `rho_cap` carries the continuation one stage further for such a
# problem: at 1e19 that band is met to 9.0e-8 widths with a gap of 2.5e-7 (4.3e-14 of Q); at 1e22
# the gap, 3.4e-4, is at the float64 floor of Q's rho-weighted terms and fails. So the largest cap
# is RHO_CAP x CONTINUATION_FACTOR; RHO_CAP stays the default and the line between soft and
# hard bands.
RHO_CAP_MAX = RHO_CAP * CONTINUATION_FACTOR


@dataclass(frozen=True)
class Band:
    """TMD's band objective and its parameters (module docstring)."""

    eps: float = DEFAULT_EPS
    slack_penalty: float = DEFAULT_SLACK_PENALTY
    slack_units: str = DEFAULT_SLACK_UNITS
    unreachable: str = DEFAULT_UNREACHABLE
    dropped: tuple[str, ...] = ()
    slack_penalty_by_target: tuple[tuple[str, float], ...] = ()
    rho_cap: float = RHO_CAP  # the last continuation stage's cap (RHO_CAP_MAX above)
    name: ClassVar[str] = "band"

    def __post_init__(self) -> None:
        where = "band objective"
        number("eps", self.eps, where, above=0.0)
        number("slack_penalty", self.slack_penalty, where, above=0.0)
        choice("slack_units", self.slack_units, SLACK_UNITS, where)
        choice("unreachable", self.unreachable, UNREACHABLE_POLICIES, where)
        number("rho_cap", self.rho_cap, where)
        if self.rho_cap not in (RHO_CAP, RHO_CAP_MAX):
            raise InputError(f"{where}: `rho_cap` must be {RHO_CAP:g} or {RHO_CAP_MAX:g}, got {self.rho_cap!r}")
        if not all(isinstance(n, str) for n in self.dropped):
            raise InputError(f"{where}: `dropped` must be target names, got {self.dropped!r}")
        object.__setattr__(self, "dropped", tuple(sorted(set(self.dropped))))
        pairs = []
        for item in self.slack_penalty_by_target:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise InputError(f"{where}: `slack_penalty_by_target` entries must be [name, M], got {item!r}")
            pairs.append((item[0], number(f"slack_penalty_by_target[{item[0]!r}]", item[1], where, above=0.0)))
        object.__setattr__(self, "slack_penalty_by_target", tuple(sorted(pairs)))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "objective") -> "Band":
        known = ("eps", "slack_penalty", "slack_units", "unreachable", "dropped", "slack_penalty_by_target", "rho_cap")
        unknown_keys(data, known, where)
        dropped = data.get("dropped", [])
        if not isinstance(dropped, list):
            raise InputError(f"{where}: `dropped` must be a list of target names, got {dropped!r}")
        by_target = data.get("slack_penalty_by_target", [])
        if not isinstance(by_target, list):
            raise InputError(f"{where}: `slack_penalty_by_target` must be a list of [name, M], got {by_target!r}")
        return cls(
            eps=data.get("eps", DEFAULT_EPS),
            slack_penalty=data.get("slack_penalty", DEFAULT_SLACK_PENALTY),
            slack_units=data.get("slack_units", DEFAULT_SLACK_UNITS),
            unreachable=data.get("unreachable", DEFAULT_UNREACHABLE),
            dropped=tuple(dropped),
            slack_penalty_by_target=tuple(tuple(p) if isinstance(p, list) else p for p in by_target),
            rho_cap=data.get("rho_cap", RHO_CAP),
        )

    def as_dict(self) -> dict[str, Any]:
        """The parameters; `rho_cap` only when raised, so a default problem's hash is what it was."""
        return {
            "name": self.name, "eps": float(self.eps), "slack_penalty": float(self.slack_penalty),
            "slack_units": self.slack_units, "unreachable": self.unreachable,
            "dropped": list(self.dropped),
            "slack_penalty_by_target": [[n, float(m)] for n, m in self.slack_penalty_by_target],
            **({"rho_cap": float(self.rho_cap)} if self.rho_cap != RHO_CAP else {}),
        }

    def check_bounds(self, lower: float, upper: float) -> None:
        if not lower >= 0:
            raise InputError(f"the band objective needs `lower` >= 0, got lower={lower!r}")

    def hash_items(self) -> list[tuple[str, np.ndarray]]:
        """The objective and every parameter, dropped targets included, by value."""
        import json

        text = json.dumps(self.as_dict(), sort_keys=True)
        return [("objective", canonical_array(np.array([text], dtype=object)))]

    def form(self, problem: ProblemArrays) -> "BandForm":
        return BandForm(problem, self)


def rho_stages(rho: np.ndarray, hard: bool, last: float = RHO_CAP) -> list[np.ndarray]:
    """The rho of each continuation stage for targets with slack penalties `rho` (RHO_CAP above):
    min(rho, cap) for cap = CONTINUATION_START x CONTINUATION_FACTOR^k up to `last`, a stage
    kept only when it changes some rho; one stage, rho itself, when not `hard` (relative units)."""
    if not hard:
        return [rho]
    stages, cap = [], CONTINUATION_START
    while True:
        stage = np.minimum(rho, min(cap, last))
        if not stages or np.any(stage != stages[-1]):
            stages.append(stage)
        if cap >= last:
            return stages
        cap *= CONTINUATION_FACTOR


# A band of zero width (t = 0, or eps = 0) still gets a scale: 1e-12 of max(|t|, 1) (the
# pre-passes' widths in target units, band_widths' in scaled ones).
MIN_WIDTH_SCALE = 1e-12


def band_widths(l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """u - l of scaled bands (eps |t| / ts), floored where that vanishes (t = 0, or eps = 0) at
    MIN_WIDTH_SCALE of the scale (ts = max(|t|, 1)): a miss is then a finite number of widths."""
    return np.maximum(u - l, MIN_WIDTH_SCALE)


class BandForm:
    """The module docstring's C, band and rho for one problem, with Q and the band status."""

    def __init__(self, problem: ProblemArrays, objective: Band) -> None:
        names = problem.target_names
        index = {name: j for j, name in enumerate(names)}
        for name in objective.dropped:
            if name not in index:
                raise InputError(f"band objective: dropped target {name!r} is not a target of the problem")
        for name, _ in objective.slack_penalty_by_target:
            if name not in index:
                raise InputError(f"band objective: slack_penalty_by_target names {name!r}, not a target")
        dropped = set(objective.dropped)
        self.kept = np.array([j for j in range(len(names)) if names[j] not in dropped], dtype=np.int64)
        if self.kept.size == 0:
            raise InputError("band objective: every target is dropped; nothing is left to fit")
        self.objective = objective
        self.names = tuple(names[j] for j in self.kept)
        t = problem.t[self.kept]
        self.t = t
        self.ts = np.maximum(np.abs(t), 1.0)
        half = objective.eps * np.abs(t)
        self.l = (t - half) / self.ts
        self.u = (t + half) / self.ts
        M = np.full(t.size, float(objective.slack_penalty))
        overrides = dict(objective.slack_penalty_by_target)
        for k, name in enumerate(self.names):
            if name in overrides:
                M[k] = overrides[name]
        self.M = M
        self.rho = M * self.ts**2 if objective.slack_units == "target" else M
        self.hard = objective.slack_units == "target"
        # C^T = diag(w0) A[:, kept] diag(1/ts): n x J, a record's row is its contributions
        A = problem.A if self.kept.size == len(names) else problem.A[:, self.kept]
        CT = scaled(A, problem.w0, 1.0 / self.ts)
        CT.sort_indices()
        self.CT = CT
        self.C = CT.T.tocsr()
        self.lower, self.upper = problem.lower, problem.upper

    @property
    def J(self) -> int:
        return int(self.kept.size)

    def rho_stages(self) -> list[np.ndarray]:
        """The rho of each continuation stage (RHO_CAP above); one stage in relative units."""
        return rho_stages(self.rho, self.hard, self.objective.rho_cap)

    @property
    def hard_targets(self) -> np.ndarray:
        """The kept targets whose band is hard to float64 precision: in target units, those with
        rho_j = M ts_j^2 >= RHO_CAP. A small target (a few dozen returns in an area: ts ~ 50,
        rho ~ 2.5e9) keeps a soft band even in target units, and its miss is part of the optimum."""
        return self.rho >= RHO_CAP if self.hard else np.zeros(self.J, dtype=bool)

    @property
    def rho_final(self) -> np.ndarray:
        """The rho the solver ends at and the certificate checks: rho, capped at the objective's
        rho_cap (RHO_CAP unless raised)."""
        return self.rho_stages()[-1]

    def violation(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z = C x and its signed distance from the band, z - P(z)."""
        z = self.C @ x
        return z, z - np.clip(z, self.l, self.u)

    def loss(self, x: np.ndarray, rho: np.ndarray | None = None) -> float:
        """Q(x) with rho_final (or the rho given): the objective the certificate checks."""
        rho = self.rho_final if rho is None else rho
        _, v = self.violation(x)
        d = x - 1.0
        return float(d @ d + rho @ (v * v))

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Q(x) at rho_final and its gradient 2 (x - 1) + 2 C^T (rho v) (first-order solvers;
        Q is C^1 and the box is the only constraint)."""
        _, v = self.violation(x)
        d = x - 1.0
        rv = self.rho_final * v
        return float(d @ d + rv @ v), 2.0 * d + 2.0 * (self.CT @ rv)

    def tmd_loss(self, x: np.ndarray) -> float:
        """TMD's Q, with its own rho (M ts^2 in target units): reported beside the certified loss."""
        return self.loss(x, self.rho)

    def deviation(self, x: np.ndarray) -> float:
        """sum (x - 1)^2, the hard band QP's objective."""
        d = x - 1.0
        return float(d @ d)

    def pg(self, x: np.ndarray) -> float:
        """|| x - clip(x - grad Q(x) / 2) ||_inf at rho_final (reported, not checked: docs/band.md)."""
        _, v = self.violation(x)
        g = (x - 1.0) + self.CT @ (self.rho_final * v)
        return float(np.max(np.abs(x - np.clip(x - g, self.lower, self.upper))))

    def band_widths(self) -> np.ndarray:
        """Each kept band's width (band_widths)."""
        return band_widths(self.l, self.u)

    def band_status(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per kept target: fitted value in target units, band limits, violation in band widths."""
        z, v = self.violation(x)
        return {
            "fitted": z * self.ts,
            "band_low": self.l * self.ts,
            "band_high": self.u * self.ts,
            "violation_widths": v / self.band_widths(),
        }
