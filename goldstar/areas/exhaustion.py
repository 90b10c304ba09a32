"""TMD's --max-exhaustion heuristic, written here from its description, to set beside the exact
capped joint problem (docs/additive.md, "The exhaustion heuristic").

Every area is solved alone; each record's sum over the areas of its area weights against its
national weight, sum_a s_a x_ia (s the population shares, as in the capped joint
problem), is computed. Then every multiplier gets an upper bound of its current value times
E / sum for a record whose sum exceeds E (the bound that brings the record to E if nothing
else moved) and times 1 for the others (so no multiplier may grow), never above an earlier
bound or the area's box, and the areas whose bounds changed are solved again, up to `passes`
solves in all. The sums can then only fall, but the bounds take freedom from every area's
targets: a band the bounds put out of reach is missed, and its solve at the area's hard
slack penalty does not reach its floor (`ExhaustionPass.unconverged`), where TMD's elastic
slack pays for it. Since no multiplier may grow after the first pass and the records above E
are brought to it, the cap holds after the second pass (to the rounding of a K-term sum,
CAP_ROUNDING); what the heuristic costs is read in the band misses of its solves.
`ExhaustionResult.held` says whether the cap holds at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..solvers import CONVERGED, get_solver
from ..solvers.band_newton import run_capped
from .inputs import NationalData
from .joint import check_cap, joint_shares
from .problem import AreaSettings, kept_area_problem
from .targets import AreaSpec

# A record's sum over K areas is a K-term float64 sum of non-negative terms: within
# K eps of itself. Sums within CAP_ROUNDING x K eps above E count as at E.
CAP_ROUNDING = 4.0
# The multiples of its national weight that a record's sum over the areas is counted above, in
# the areas report and a joint solve's figures.
SUM_LEVELS = (1.5, 2.0, 5.0, 10.0)


def above_cap(sums: np.ndarray, cap: float, K: int) -> np.ndarray:
    """The records whose sum exceeds E by more than the rounding of their K-term sums."""
    return sums > cap * (1.0 + CAP_ROUNDING * K * np.finfo(float).eps)


@dataclass
class ExhaustionPass:
    """One pass: its solves' outcome and the records' sums after it."""

    number: int
    max_sum: float  # max over records of sum_a s_a x_ia
    p99_sum: float
    above: int  # records whose sum exceeds E
    bounded: int  # records above the cap whose bounds were lowered for this pass (0 for the first)
    solved: int  # areas solved in this pass
    unconverged: list[str]  # areas whose solve stopped short of its floor (a band out of reach, or its time limit)
    worst_miss: dict[str, float]  # each area solved: its largest hard band's miss, in band widths
    seconds: float


@dataclass
class ExhaustionResult:
    x: np.ndarray  # n x K multipliers after the last pass (records with national weight > 0)
    shares: np.ndarray  # K, the areas' population shares
    cap: float
    passes: list[ExhaustionPass] = field(default_factory=list)

    @property
    def sums(self) -> np.ndarray:
        return self.x @ self.shares

    @property
    def held(self) -> bool:
        return not above_cap(self.sums, self.cap, self.shares.size).any()


def hard_band_miss(form: Any, x: np.ndarray) -> float:
    """The largest miss of the area's hard bands (those its certificate holds to 1e-6 widths), in
    band widths; 0 without any. Soft bands' misses are the objective's own trade."""
    misses = np.abs(form.band_status(x)["violation_widths"])[form.hard_targets]
    return float(misses.max(initial=0.0))


def exhaustion_heuristic(national: NationalData, areas: list[AreaSpec], settings: list[AreaSettings],
                         cap: float, passes: int = 5, *, options: dict[str, Any] | None = None,
                         progress: Callable[[ExhaustionPass], None] | None = None) -> ExhaustionResult:
    """The heuristic (module docstring) at E = `cap` for up to `passes` solves of every area,
    stopping early once every record is within E. Each area keeps the targets its own pre-pass
    keeps (at its box [0, upper]) in every pass."""
    shares = joint_shares(areas, additive=False)
    cap = check_cap(cap, least=float(shares.sum()))
    if passes < 1:
        raise ValueError(f"passes {passes!r}: must be at least 1")
    if len(settings) != len(areas):
        raise ValueError(f"{len(areas)} areas and {len(settings)} settings")
    for spec, s in zip(areas, settings):
        if s.lower != 0.0:
            raise ValueError(f"area {spec.name}: lower {s.lower:g}; the heuristic's bounds start at 0")
    solver = get_solver("band-newton")
    opts = {**solver.defaults, **solver.check_options(options or {})}
    problems = [kept_area_problem(national, spec, s)
                for spec, s in zip(areas, settings)]
    n = problems[0].n
    bounds = np.array([[s.upper for s in settings]] * n)  # n x K
    x = np.ones((n, len(areas)))
    result = ExhaustionResult(x=x, shares=shares, cap=float(cap))
    changed = np.ones(len(areas), dtype=bool)
    bounded = 0
    for number in range(1, passes + 1):
        start = time.perf_counter()
        unconverged, worst = [], {}
        for a in np.flatnonzero(changed):
            sol = run_capped(problems[a], bounds[:, a], opts)
            x[:, a] = sol.m
            worst[areas[a].name] = hard_band_miss(problems[a].form, sol.m)
            if sol.status != CONVERGED:
                unconverged.append(areas[a].name)
        sums = x @ shares
        over = above_cap(sums, cap, len(areas))
        step = ExhaustionPass(number=number, max_sum=float(sums.max()), p99_sum=float(np.quantile(sums, 0.99)),
                              above=int(over.sum()), bounded=bounded, solved=int(changed.sum()),
                              unconverged=unconverged, worst_miss=worst, seconds=time.perf_counter() - start)
        result.passes.append(step)
        if progress is not None:
            progress(step)
        if not over.any() or number == passes:
            break
        scale = np.where(over, cap / sums, 1.0)
        new = np.minimum(bounds, x * scale[:, None])
        changed = (new < bounds).any(axis=0)
        if not changed.any():  # (cannot happen while a record is above E and its x > 0)
            break
        bounds, bounded = new, int(over.sum())
    return result
