"""What every certificate's pass/fail checks share: the check row and the three common checks.

Each objective's certificate (certificate_penalized, certificate_band) owns its
thresholds and their reasons; these only word the checks alike.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..checks import Check


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
