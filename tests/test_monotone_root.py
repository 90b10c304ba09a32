"""newton_core.monotone_root: the line searches' root of a monotone, piecewise linear phi'."""

from __future__ import annotations

import pytest

from goldstar.solvers.newton_core import monotone_root


class PiecewiseLinear:
    """phi'(t) = f0 + the integral of a step slope: `pieces` are (end, slope), the last one open.
    Counts its evaluations; the size of its terms is the sum of their absolute values."""

    def __init__(self, f0: float, pieces: list[tuple[float, float]]):
        self.f0, self.pieces, self.calls = f0, pieces, 0

    def __call__(self, t: float) -> tuple[float, float, float]:
        self.calls += 1
        value, size, start, on = self.f0, abs(self.f0), 0.0, self.pieces[0][1]
        for end, slope in self.pieces:
            if t <= start:
                break
            part = slope * (min(t, end) - start)
            value, size, start, on = value + part, size + abs(part), end, slope
        return value, on, size

    def root(self) -> float:
        value, start = self.f0, 0.0
        for end, slope in self.pieces:
            if value + slope * (end - start) >= 0:
                return start - value / slope
            value, start = value + slope * (end - start), end
        raise AssertionError("no root")


# A gentle piece, then a steep one holding the root, then a gentle one again: the Newton step
# from either side of the bracket leaves it, and the secant from ends of such unequal values
# lands beside the end whose value is small, again and again (regula falsi creeping up on the
# kink). Measured before the ends' values were halved: 60 evaluations, and a step of 0.367,
# where phi' is still -0.63, instead of the root 0.5005.
STEEP_KINK = [(0.5, 1.0), (0.6, 1000.0), (1e9, 10.0)]


def test_a_steep_kink_beside_the_root_is_bracketed_in_few_evaluations():
    h = PiecewiseLinear(-1.0, STEEP_KINK)
    t = monotone_root(h, -1.0, bracket_rtol=1e-3)
    r = h.root()
    assert r - 1e-3 * r <= t <= r  # within the bracket, on the side where phi' < 0 (the step descends)
    assert h(t)[0] <= 0
    assert h.calls <= 20


def test_the_root_on_a_piece_is_exact():
    # the first evaluation (t = 1) is past the root on a piece of its own; then the secant, then
    # Newton on the root's piece
    h = PiecewiseLinear(-3.0, [(0.2, 2.0), (0.7, 5.0), (1e9, 0.5)])
    t = monotone_root(h, -3.0)
    assert t == pytest.approx(h.root(), rel=1e-14)
    assert h.calls <= 6


def test_the_bracket_grows_past_one():
    h = PiecewiseLinear(-10.0, [(1e9, 1.0)])
    assert monotone_root(h, -10.0) == pytest.approx(10.0, rel=1e-14)


def test_no_descent_is_no_step():
    h = PiecewiseLinear(0.0, [(1e9, 1.0)])
    assert monotone_root(h, 0.0) == 0.0
    assert h.calls == 0
