"""What every certificate's pass/fail checks share: the check row and the three common checks.

The three thresholds below are the same for both objectives' certificates (penalized.py,
band.py), each with the reason for its value; a certificate's own thresholds (the band's
BAND_TOL) stay in its module.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..checks import Check

# At a true optimum the fixed-point error is the float64 floor of m(y) for the smallest-lam
# records: ~1e-11 (docs/tolerances.md; measured 3e-11 on a 280K-record penalized problem; ~1e-11 on the
# default band problem). 1e-9 leaves a 30x margin yet catches a record moved by 1e-9 or more.
FIXED_POINT_TOL = 1e-9
# The gap at the optimum is rounding noise of the loss: 6e-18 on a penalized loss of 75
# (1e-19 relative), ~1e-9 on a band Q of 6.6e7 (docs/band.md, 1e-17 relative). A stored answer off
# by 1e-9 in one record of weight share ~1e-5 adds ~lam*(1e-9)^2, well below. The gap checks
# global optimality in one number: 1e-12 x loss is the bar and four orders above the
# measured floor.
GAP_RTOL = 1e-12
# The bounds are exact constraints: a stored multiplier outside them by more than a rounding
# of the bound itself (bounds are O(1..10), so ~1e-15) is infeasible.
BOUND_TOL = 1e-12


class Checked:
    """`passed`, `failures()` and `as_dict()` from a certificate's `checks()` and `thresholds()`."""

    def checks(self) -> list[Check]:
        raise NotImplementedError

    @property
    def passed(self) -> bool:
        return not self.failures()

    def thresholds(self) -> dict[str, float]:
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        """Every figure, whether it passed, and the thresholds it was judged by (for the reference)."""
        out = asdict(self)  # type: ignore[call-overload]  # subclasses are dataclasses
        out["passed"] = self.passed
        out["thresholds"] = self.thresholds()
        return out

    def failures(self) -> list[str]:
        """Each failed check, as a sentence naming the figure, the threshold and the record or target."""
        return [c.detail for c in self.checks() if not c.passed]


def fixed_point_check(error: float, tol: float, record_id: int, row: int) -> Check:
    return Check(
        "fixed-point error", error <= tol, f"{error:.3g} (record_id {record_id})", f"<= {tol:g}",
        f"fixed-point error {error:.3g} > {tol:g} at record_id {record_id} (row {row}): it is that far "
        "from where the optimum puts it",
    )


def gap_check(gap: float, rtol: float, loss: float, loss_name: str) -> Check:
    return Check(
        "duality gap", gap <= rtol * max(loss, 1e-300), f"{gap:.3g} ({loss_name} {loss:.12g})",
        f"<= {rtol:g} x {loss_name}",
        f"duality gap {gap:.3g} > {rtol:g} x {loss_name} ({loss:.12g}): the weights are not the optimum",
    )


def bound_check(violation: float, tol: float) -> Check:
    return Check(
        "bound violation", violation <= tol, f"{violation:.3g}", f"<= {tol:g}",
        f"multipliers leave the bounds by {violation:.3g}",
    )
