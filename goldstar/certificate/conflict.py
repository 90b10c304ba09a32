"""A proof that bands no coupled weights meet together, read off a direction of the joint dual
(docs/additive.md, "Bands the coupling cannot meet together").

Notation of goldstar.solvers.additive_core. For any y (one entry per kept target of every area)
and any x in the box that holds the coupling,

    y.C x  <=  reach(y) = sum_i max { sum_a S_ia x_ia : sum_a s_a x_ia = c (or <= c), 0 <= x_ia <= U_a }

with S = [C_a^T y_a]_a: each record's maximum is a continuous knapsack, filled greedily in the
order of S_ia / s_a (only the areas with S_ia > 0 under a cap). And for any fits t inside the
bands, y.t >= need(y) = sum_j min(y_j l_j, y_j u_j). So when reach(y) < need(y), no x in the box
that holds the coupling has its fits inside every band y touches: y is a Farkas certificate of
those bands' conflict, whatever y was computed from. The bands are named by y's entries.

Where such bands exist the joint dual has no maximum (with hard bands) and grows along such a
y, so the dual of a state on the way to it proves the conflict once it has grown enough
(`conflict_proof`, tried by goldstar.areas.joint_run while the loop runs); directions built from
the cells' structure are tried before anything is solved (goldstar.areas.joint.family_conflicts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..solvers.additive_core import EXHAUSTION, JointData

# reach and need are sums of up to n K float64 terms, each from a product S = C^T y over a
# record's cells (tens of terms) and a knapsack fill (K terms); pairwise summation adds a few
# log2(n K) ~ 24 roundings. A conflict is claimed only beyond this many roundings of the terms'
# absolute size.
PROOF_ULPS = 256


@dataclass(frozen=True)
class ConflictProof:
    """reach(y) < need(y) - margin for the direction y (nonzero on `bands` only, indices into the
    joint problem's kept targets, largest |y_j| first): those bands are unreachable together."""

    bands: np.ndarray
    y: np.ndarray  # the direction's entries on `bands`
    reach: float
    need: float
    margin: float


def reach_and_need(data: JointData, l: np.ndarray, u: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(reach(y), need(y), margin) for the direction y (N): the module docstring's bounds, and the
    rounding margin beyond which reach < need is a proof (computed only where reach < need, the
    only case it guards; 0 otherwise)."""
    full = data.scatter(y) != 0.0
    areas = np.flatnonzero(full.any(axis=1))
    records = np.flatnonzero(data.absA @ full.any(axis=0).astype(float))  # the others' S is 0: they reach 0
    S = data.CT(y, rows=records)[:, areas]
    value, used = _knapsack(data, S, areas)
    reach = float(np.sum(value * used))
    lower, upper = y * l, y * u
    need = float(np.minimum(lower, upper).sum())
    if not reach < need:
        return reach, need, 0.0
    # each record's reach is at most c times its largest |value| over the areas (filled or not: a
    # near-tie that rounding swaps, or the part-filled area's share, moves it by roundings of that)
    size = data.CT(np.abs(y), absolute=True, rows=records)[:, areas] / data.shares[areas]
    scale = float(data.bound * size.max(axis=1).sum()) + float(np.maximum(np.abs(lower), np.abs(upper)).sum())
    return reach, need, PROOF_ULPS * np.finfo(float).eps * scale


def _knapsack(data: JointData, S: np.ndarray, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each record's maximum of sum_a S_ia x_ia over the box and the coupling (m records x the
    `areas` where S may be nonzero), as (value, used): the greedy fill in the order of the value of
    the coupling's units, v_ia = S_ia / s_a, best first, used_ia = s_a x_ia of each area's room
    s_a U_a, the record's maximum sum_a v_ia used_ia. Both in the areas' order, and under
    "additive" one more column: the other areas together (S = 0 there, so worth 0), which take
    what the others leave. Under a cap an area worth nothing or less is not filled."""
    s, U, c = data.shares, data.upper, data.bound
    value, room = S / s[areas], s[areas] * U[areas]
    rest = np.setdiff1d(np.arange(data.K), areas)
    if data.mode != EXHAUSTION:
        if float(s @ U) < c:
            raise ValueError(f"the areas' boxes cannot hold the coupling: sum_a s_a U_a = {float(s @ U):.6g} < {c:g}")
        if rest.size:
            value = np.hstack([value, np.zeros((S.shape[0], 1))])
            room = np.append(room, s[rest] @ U[rest])
    order = np.argsort(-value, axis=1, kind="stable")
    sorted_room = room[order]
    before = np.cumsum(sorted_room, axis=1) - sorted_room
    used_sorted = np.clip(c - before, 0.0, sorted_room)
    if data.mode == EXHAUSTION:
        used_sorted[np.take_along_axis(value, order, axis=1) <= 0.0] = 0.0
    used = np.empty_like(used_sorted)
    np.put_along_axis(used, order, used_sorted, axis=1)
    return value, used


def proves(data: JointData, l: np.ndarray, u: np.ndarray, y: np.ndarray) -> ConflictProof | None:
    """The proof that y is (reach < need beyond the margin), over y's nonzero entries, else None."""
    reach, need, margin = reach_and_need(data, l, u, y)
    if not reach < need - margin:
        return None
    bands = np.flatnonzero(y)
    bands = bands[np.argsort(-np.abs(y[bands]), kind="stable")]
    return ConflictProof(bands=bands, y=y[bands], reach=reach, need=need, margin=margin)


def conflict_proof(data: JointData, l: np.ndarray, u: np.ndarray, hard: np.ndarray,
                   y: np.ndarray) -> ConflictProof | None:
    """A proof from the direction y (N; its entries on the bands meant to be met, `hard`, N bool)
    or -y (the joint dual grows along -y's proof: a band whose upper end binds has y > 0) that some
    of those bands are unreachable together, over as few bands as `fewest_bands` finds; None
    when neither proves it."""
    y = np.where(hard, y, 0.0)
    for direction in (-y, y):
        proof = proves(data, l, u, direction)
        if proof is not None:
            return fewest_bands(data, l, u, proof)
    return None


def fewest_bands(data: JointData, l: np.ndarray, u: np.ndarray, proof: ConflictProof) -> ConflictProof:
    """A proof over the fewest of `proof`'s bands, largest |y_j| first, that still proves: the
    first m bands for m = 1, 2, 4, ... until one proves, then bisection between the last two
    (a proof for m bands need not make one for more, so the smallest found, not the smallest
    that exists). Each try costs one reach_and_need."""

    def first(m: int) -> ConflictProof | None:
        y = np.zeros_like(l)
        y[proof.bands[:m]] = proof.y[:m]
        return proves(data, l, u, y)

    m, best = 1, None
    while m < proof.bands.size:
        best = first(m)
        if best is not None:
            break
        m *= 2
    if best is None:
        return proof
    lo, hi = m // 2, m  # first(lo) does not prove (or lo = 0), first(hi) does
    while hi - lo > 1:
        mid = (lo + hi) // 2
        found = first(mid)
        lo, hi, best = (lo, mid, found) if found is not None else (mid, hi, best)
    return best
