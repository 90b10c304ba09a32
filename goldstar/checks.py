"""One pass/fail check, as every verifier reports it: certificates, `goldstar verify`'s modes,
the records engine's version check and the areas reference's checks."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Check:
    """A check: its name, whether it passed, the figure it judged, the threshold it was judged by,
    the sentence that says what failed (for a failed check), and the verify mode that ran it."""

    name: str
    passed: bool
    figure: str
    threshold: str
    detail: str = ""
    mode: str = ""

    def in_mode(self, mode: str) -> "Check":
        return replace(self, mode=mode)
