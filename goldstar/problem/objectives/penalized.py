"""The penalized objective of docs/penalized.md (the TMD notes), its derived data and loss.

Records i carry w0_i > 0, targets t_j, contributions A_ij. With

    B_ij  = w0_i * A_ij / (t_j + 1)
    c_j   = t_j / (t_j + 1)
    L0    = || B^T 1 - c ||^2
    lam_i = penalty * L0 * w0_i^2 / sum_k w0_k^2

the problem is

    minimize  f(m) = || B^T m - c ||^2 + sum_i lam_i (m_i - 1)^2
    subject to lower <= m_i <= upper,   lower > 0.

f is strictly convex (every lam_i > 0), so its minimizer is unique. The dual,
its Newton method and the certificate: goldstar.solvers.newton_core and
goldstar.certificate; they all refer here for the math.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...exceptions import InputError
from ..arrays import ProblemArrays
from ..scaling import scaled
from ...params import number, unknown_keys


from ...defaults import DEFAULT_PENALTY


def relative_error(value, target):
    """A total's relative error on the notes' scale 1 / (t + 1): (value + 1) / (target + 1) - 1
    (finite at t = 0). The reference's rel_error column and the build report use it."""
    return (value + 1.0) / (target + 1.0) - 1.0


@dataclass(frozen=True)
class Penalized:
    """The notes' objective; `penalty` scales the deviation term (lam above)."""

    penalty: float = DEFAULT_PENALTY
    name: ClassVar[str] = "penalized"

    def __post_init__(self) -> None:
        number("penalty", self.penalty, "penalized objective", above=0.0)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "objective") -> "Penalized":
        unknown_keys(data, ("penalty",), where)
        return cls(penalty=number("penalty", data.get("penalty", DEFAULT_PENALTY), where, above=0.0))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "penalty": float(self.penalty)}

    def check_bounds(self, lower: float, upper: float) -> None:
        """m(y) divides by m in the certificate's relative error, and the notes' box is
        positive: the penalized objective needs lower > 0."""
        if not lower > 0:
            raise InputError(f"the penalized objective needs `lower` > 0, got lower={lower!r}")

    def hash_items(self) -> list[tuple[str, np.ndarray]]:
        """What the problem hash adds for this objective. The first release hashed the
        penalty beside the bounds, so penalized problems keep the hashes they had."""
        return []

    def form(self, problem: ProblemArrays) -> "PenalizedForm":
        return PenalizedForm(problem, self.penalty)


class PenalizedForm:
    """B, c, L0 and lam of the module docstring for one problem, with f, grad f and pg."""

    def __init__(self, problem: ProblemArrays, penalty: float) -> None:
        t, w0, A = problem.t, problem.w0, problem.A
        if np.any(t == -1.0):
            j = int(np.flatnonzero(t == -1.0)[0])
            raise InputError(f"target {problem.target_names[j]!r} is -1: the scale 1 / (t + 1) is undefined there")
        scale = 1.0 / (t + 1.0)
        B = scaled(A, w0, scale)
        B.sort_indices()
        c = t * scale
        r1 = np.asarray(B.sum(axis=0)).ravel() - c
        L0 = float(r1 @ r1)
        if not L0 > 0:
            raise InputError("the initial weights already hit every target exactly (L0 = 0)")
        w2 = w0 * w0
        lam = penalty * L0 * w2 / w2.sum()
        if not np.all(lam > 0):
            i = int(np.flatnonzero(~(lam > 0))[0])
            raise InputError(
                f"record {i}: its penalty weight lam underflows to 0 (w0 = {w0[i]!r} is too "
                "small next to the largest weights)"
            )
        self.B, self.c, self.L0, self.lam = B, c, L0, lam
        self.penalty = penalty
        self.lower, self.upper = problem.lower, problem.upper

    def residual(self, m: np.ndarray) -> np.ndarray:
        """r = B^T m - c, the scaled target misses."""
        return self.B.T @ m - self.c

    def loss(self, m: np.ndarray) -> float:
        """f(m) of the module docstring."""
        r = self.residual(m)
        d = m - 1.0
        return float(r @ r + self.lam @ (d * d))

    def value_and_grad(self, m: np.ndarray) -> tuple[float, np.ndarray]:
        """f(m) and grad f(m) with one product by B^T and one by B (first-order solvers)."""
        r = self.residual(m)
        d = m - 1.0
        return float(r @ r + self.lam @ (d * d)), 2.0 * (self.B @ r) + 2.0 * self.lam * d

    def grad(self, m: np.ndarray) -> np.ndarray:
        """grad f(m) = 2 B (B^T m - c) + 2 lam (m - 1)."""
        return 2.0 * (self.B @ self.residual(m)) + 2.0 * self.lam * (m - 1.0)

    def pg(self, m: np.ndarray) -> float:
        """Projected-gradient norm || m - clip(m - grad f(m), lower, upper) ||_inf."""
        g = self.grad(m)
        return float(np.max(np.abs(m - np.clip(m - g, self.lower, self.upper))))
