"""The joint problem of a set of areas (docs/additive.md): every area's kept targets, bands and
slack penalties exactly as its own band problem has them (at the default rho_cap, with the box
[0, upper]), over the records that feed a cell, in the arrays of goldstar.solvers.additive_core;
and the separate solves' answer as a point of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import math

import numpy as np
import scipy.sparse as sp

from ..certificate.conflict import ConflictProof, proves
from ..exceptions import InputError
from ..problem.objectives.band import RHO_CAP
from ..solvers.additive_core import ADDITIVE, EXHAUSTION, JointData
from .inputs import NationalData
from .problem import AreaSettings, kept_area_problem
from .reference import area_duals_problem, read_reference_targets
from .targets import AreaSpec


@dataclass
class JointProblem:
    """The joint problem's arrays, with the names that the certificate reports and the inputs
    that a separate solve's duals must have been made from."""

    data: JointData
    l: np.ndarray  # N lower band ends (target units over ts), area after area
    u: np.ndarray  # N upper band ends
    stages: list[np.ndarray]  # the slack penalties' continuation, each N, up to rho_cap
    record_ids: np.ndarray  # n
    areas: list[str]  # K
    targets: list[str]  # N, "AREA:target"
    cells: list[str]  # J, the national cell names
    input_hashes: list[str]  # K, each area's input hash as its own batch records it
    # K: the areas whose bands are all meant to be met (slack in target units, docs/band.md); an
    # area with relative slack units has soft bands only. None: every area's are.
    hard_areas: np.ndarray | None = None

    def hard(self) -> np.ndarray:
        """K x J: area a keeps cell j with a band meant to be met (the bands coupling_conflicts tests)."""
        return self.data.kept if self.hard_areas is None else self.data.kept & self.hard_areas[:, None]


def check_cap(cap: float, name: str = "cap", least: float = 1.0) -> float:
    """A cap E on each record's sum over the areas: a finite number of at least `least`, the
    areas' shares' sum (1 for a whole set; below it the records that feed no cell, which keep
    x = 1, would break it). ValueError naming `name`."""
    if isinstance(cap, bool) or not (isinstance(cap, (int, float)) and math.isfinite(cap) and cap >= least):
        raise ValueError(f"{name} {cap!r}: must be a finite number of at least {least:.12g} (the areas' "
                         "population shares' sum: a record that feeds no target keeps its weight in every area)")
    return float(cap)


# Under --additive the areas must make up the whole: their population shares, each a ratio to one
# common total, sum to 1 within a few roundings per area; a missing area (the smallest state's
# share is 0.0017, a district's ~0.002) is far outside this.
SHARE_SUM_TOL = 1e-9


def joint_shares(areas: list[AreaSpec], additive: bool) -> np.ndarray:
    """The joint problem's s: the areas' population shares, as their own band problems have them
    (so a subset's cap counts its own weights); under the additive coupling divided by their
    sum, which must be 1 to SHARE_SUM_TOL (ValueError otherwise: the areas do not make up the
    whole, and no weights of theirs can add up to the national ones)."""
    shares = np.array([spec.pop_share for spec in areas], dtype=np.float64)
    if not additive:
        return shares
    total = float(shares.sum())
    if not abs(total - 1.0) <= SHARE_SUM_TOL:
        raise ValueError(f"the {len(areas)} areas' population shares sum to {total:.12g}, not 1: the additive "
                         "coupling needs areas that make up the whole (all the states, or all the districts "
                         "of a state), not a subset")
    return shares / total


def joint_problem(national: NationalData, areas: list[AreaSpec], settings: list[AreaSettings],
                  input_hashes: list[str], *, max_exhaustion: float | None = None) -> JointProblem:
    """The joint problem of `areas` (and their input hashes, as goldstar.areas.command.batch_inputs
    gives them): additive (their shares, which must sum to 1 (`joint_shares`), weigh each
    record's national weight), or capped at `max_exhaustion` E >= 1 (each record's area weights sum to at most E
    times its national weight; below 1 the records that feed no cell, kept at x = 1, would break
    it). ValueError for such an E, or for an area whose box does not start at 0."""
    shares = joint_shares(areas, additive=max_exhaustion is None)  # a subset is refused before any work
    if max_exhaustion is not None:
        max_exhaustion = check_cap(max_exhaustion, "max_exhaustion", least=float(shares.sum()))
    for spec, s in zip(areas, settings):
        if s.lower != 0.0:
            raise ValueError(f"area {spec.name}: lower {s.lower:g}; the joint problem's box is [0, upper]")
    keep, A = national.positive
    w = national.weight[keep]
    feeds = np.diff(A.indptr) > 0
    J = A.shape[1]
    kept, ts = np.zeros((len(areas), J), dtype=bool), np.ones((len(areas), J))
    l, u, stages, names = [], [], [], []
    for a, (spec, s) in enumerate(zip(areas, settings)):
        form = kept_area_problem(national, spec, s).form
        kept[a, form.kept], ts[a, form.kept] = True, form.ts
        l.append(form.l), u.append(form.u), stages.append(form.rho_stages())
        names += [f"{spec.name}:{n}" for n in form.names]
    mode = dict(mode=ADDITIVE) if max_exhaustion is None else dict(mode=EXHAUSTION, bound=float(max_exhaustion))
    A = A[feeds]
    data = JointData(A=A, absA=abs(A), w=w[feeds], shares=shares,
                     upper=np.array([s.upper for s in settings]), kept=kept, ts=ts, **mode)
    return JointProblem(data=data, l=np.concatenate(l), u=np.concatenate(u),
                        stages=_aligned(stages),
                        record_ids=national.record_ids[keep][feeds],
                        areas=[spec.name for spec in areas], targets=names, cells=list(national.cell_names),
                        input_hashes=list(input_hashes),
                        hard_areas=np.array([s.slack_units == "target" for s in settings]))


# The cells' attainable totals and band sums are sums of float64 terms; a conflict is reported
# only beyond this many roundings of the terms' size.
AGGREGATE_ULPS = 64


def aggregate_conflicts(problem: JointProblem) -> list[str]:
    """Cells whose bands the coupling makes unreachable together, read off the totals alone.

    For cell j and the set K_j of areas that keep it, sum over K_j of ts_aj (C_a x_a)_j is
    sum_i w_i A_ij theta_i with theta_i = sum over K_j of s_a x_ia. The coupling and the box hold
    theta_i in [lo, hi]: under --additive theta_i = 1 - (the other areas' part), so
    lo = max(0, 1 - sum outside K_j of s_a U_a) and hi = min(1, sum over K_j of s_a U_a) (exactly 1
    when every area keeps the cell); under --max-exhaustion E, lo = 0 and hi = min(E, sum over K_j
    of s_a U_a). So the cell's areas together reach at most sum_i w_i (A_ij+ hi + A_ij- lo) and at
    least sum_i w_i (A_ij+ lo + A_ij- hi) (A+ and A- the positive and negative parts), whatever x
    is; when the sum of their lower band ends is above the one, or the sum of their upper ends
    below the other, no coupled x in the box meets every band of the cell. One line per such
    cell, naming it, its areas' band sums and the reachable range. A necessary condition: an
    empty list does not prove the bands reachable together."""
    data = problem.data
    lower, upper = data.scatter(problem.l) * data.ts, data.scatter(problem.u) * data.ts
    hard = problem.hard()
    pos, neg = _weighted_parts(data, data.A)
    out = []
    for j in np.flatnonzero(hard.any(axis=0)):
        keep = hard[:, j]
        line = _conflict(data, keep, pos[j], neg[j], lower[keep, j].sum(), upper[keep, j].sum(),
                         abs(lower[keep, j]).sum() + abs(upper[keep, j]).sum())
        if line:
            out.append(f"{problem.cells[j]}: the bands of its {keep.sum()} areas add up to {line}")
    return out


def nested_cells(A: sp.spmatrix) -> dict[int, list[list[int]]]:
    """Each cell's families of nested cells. Cell k nests in j (k != j) when every record feeding
    k feeds j with the same amount (A_ik != 0 implies A_ij = A_ik) and j does not nest in k; of
    those, the ones nested in no other (a total's parts, not its parts' parts) are grouped into
    families of cells no record feeds two of (the returns of each filing status apart from the
    returns with wages), in cell order, each cell in the first family it fits. Cells without
    nested cells are left out."""
    A = sp.csc_matrix(A)
    J = A.shape[1]
    inside = np.zeros((J, J), dtype=bool)  # inside[k, j]: k nests in j
    rows_of = A.tocsr()
    for k in range(J):
        rows = A.indices[A.indptr[k]:A.indptr[k + 1]]
        if rows.size == 0:
            continue
        block = rows_of[rows].toarray()
        inside[k] = (block == block[:, [k]]).all(axis=0)
    inside[np.diag_indices(J)] = False
    proper = inside & ~inside.T
    support = (A != 0).astype(float)
    shared = (support.T @ support).toarray() > 0  # two cells that some record feeds both
    out = {}
    for j in range(J):
        kids = np.flatnonzero(proper[:, j])
        families: list[list[int]] = []
        for k in (int(k) for k in kids if not proper[k, kids].any()):
            home = next((f for f in families if not shared[k, f].any()), None)
            if home is None:
                families.append([k])
            else:
                home.append(k)
        if families:
            out[j] = families
    return out


def nested_conflicts(problem: JointProblem) -> list[str]:
    """Bands the coupling makes unreachable together through a cell and a family of its nested
    cells (nested_cells): the records a cell holds that none of the family does (a count of all
    returns in an AGI range less its single, joint and head-of-household returns: the other
    filing statuses) are the cell c = e_j - sum of e_k, which no area targets but whose band each
    area's bands imply: [L_j - sum U_k, U_j - sum L_k]. Over the areas that keep j and the whole
    family, their sum is sum_i w_i c_i theta_i with theta_i in aggregate_conflicts' range, so the
    same test applies: areas whose bands need more (or less) of those records than the coupled
    records hold are named, with the sums. Like aggregate_conflicts, a necessary condition."""
    data = problem.data
    lower, upper = data.scatter(problem.l) * data.ts, data.scatter(problem.u) * data.ts
    hard = problem.hard()
    out = []
    for j, families in nested_cells(data.A).items():
        for kids in families:
            keep = hard[:, [j, *kids]].all(axis=1)
            if not keep.any():
                continue
            pos, neg = _weighted_parts(data, sp.csr_matrix(data.A[:, [j]] - data.A[:, kids].sum(axis=1)))
            need_lo = (lower[keep, j] - upper[keep][:, kids].sum(axis=1)).sum()
            need_hi = (upper[keep, j] - lower[keep][:, kids].sum(axis=1)).sum()
            terms = abs(lower[keep][:, [j, *kids]]).sum() + abs(upper[keep][:, [j, *kids]]).sum()
            line = _conflict(data, keep, pos[0], neg[0], need_lo, need_hi, terms)
            if line:
                parts = ", ".join(problem.cells[k] for k in kids)
                out.append(f"{problem.cells[j]} less {parts} (the records it holds that they do not): the bands "
                           f"of its {keep.sum()} areas add up to {line}")
    return out


def family_conflicts(problem: JointProblem) -> list[str]:
    """Bands the coupling makes unreachable together through a cell that some areas bound through
    a family of its nested cells (nested_cells) instead of their own band of it: an area that
    keeps the single, joint and head-of-household returns of an AGI range bounds its count of
    all returns in that range from below by its parts' bands (the other statuses' count is not
    negative), whether it keeps that count or not, and that bound can be the tighter one.

    For each cell j and family, the direction adding up over the areas the fit of j or of the
    family's cells each area keeps is tested exactly on both sides (goldstar.certificate.conflict
    .proves: the records' reach over the box and the coupling against the bands' need). From
    below, each area counts by whichever of its own band's lower end and its parts' lower ends'
    sum is larger; from above, by its own band where it keeps j (its parts bound j from below
    only) and by its parts where it does not. A cell and family is named when either proves a
    conflict; tested only where some area counts by its parts (otherwise aggregate_conflicts
    tests the same direction)."""
    data = problem.data
    hard = problem.hard()
    position = data.position
    lower = data.scatter(problem.l) * data.ts  # the lower band ends in target units (0 where not kept)
    out = []
    for j, families in nested_cells(data.A).items():
        own = hard[:, j]
        for kids in families:
            parts = hard[:, kids]  # areas x family
            has_parts = parts.any(axis=1)
            by_parts_below = has_parts & (~own | ((lower[:, kids] * parts).sum(axis=1) > lower[:, j]))
            for side, by_parts in ((1.0, by_parts_below), (-1.0, has_parts & ~own)):
                if not by_parts.any():
                    continue
                y = np.zeros(data.N)
                # a coefficient of 1 on each fit: entry ts_ak on the row fit / ts_ak
                for a in np.flatnonzero(own & ~by_parts):
                    y[position[a, j]] = data.ts[a, j]
                for a, m in zip(*np.nonzero(parts & by_parts[:, None])):
                    y[position[a, kids[m]]] = data.ts[a, kids[m]]
                proof = proves(data, problem.l, problem.u, side * y)
                if proof is not None:
                    names = ", ".join(problem.cells[k] for k in kids)
                    out.append(f"{problem.cells[j]} by its own bands in {(own & ~by_parts).sum()} areas and by its "
                               f"parts {names} in {by_parts.sum()}: their bands "
                               + _proof_words(proof, side))
                    break
    return out


def coupling_conflicts(problem: JointProblem) -> list[str]:
    """Every conflict the totals show: aggregate_conflicts, nested_conflicts, then
    family_conflicts (a cell may be named by two of them: each line is a proof of its own). All
    test the bands meant to be met (JointProblem.hard); an area with soft bands counts among the
    areas outside a cell's set, free to take what the others leave."""
    return aggregate_conflicts(problem) + nested_conflicts(problem) + family_conflicts(problem)


# a proof's bands named one by one in its line, largest coefficient first; the count says how many more
SHOWN_BANDS = 8


def proof_line(problem: JointProblem, proof: ConflictProof) -> str:
    """A ConflictProof (goldstar.certificate.conflict) said in target units: how many bands of how
    many areas, the SHOWN_BANDS largest as "AREA:target [lower, upper] x coefficient" (the
    coefficient on the area's fit of the target, the largest 1 in size), what their combination
    needs at least and what the coupled records reach at most."""
    data = problem.data
    ts = data.ts[data.kept]
    coefficient = proof.y / ts[proof.bands]
    size = float(np.abs(coefficient).max())
    coefficient = coefficient / size
    shown = np.argsort(-np.abs(coefficient), kind="stable")[:SHOWN_BANDS]
    named = ", ".join(f"{problem.targets[j]} [{problem.l[j] * ts[j]:.8g}, {problem.u[j] * ts[j]:.8g}] x {c:.4g}"
                      for j, c in zip(proof.bands[shown], coefficient[shown]))
    more = proof.bands.size - SHOWN_BANDS
    return (f"{proof.bands.size} band(s) of {np.unique(data.area_of[proof.bands]).size} area(s): {named}"
            f"{f' and {more} more' if more > 0 else ''}: so combined, their bands " + _proof_words(proof, 1.0 / size))


def _proof_words(proof: ConflictProof, scale: float) -> str:
    """What a proof's direction, scaled by `scale` (its sign says which side the bands are on),
    needs and what the coupled records can give, beyond the rounding margin."""
    need, reach, margin = scale * proof.need, scale * proof.reach, abs(scale) * proof.margin
    if scale > 0:
        words = f"need at least {need:.10g}, the coupled records reach at most {reach:.10g}"
    else:
        words = f"allow at most {need:.10g}, the coupled records hold at least {reach:.10g}"
    return words + f" (rounding margin {margin:.3g})"


def _weighted_parts(data: JointData, amounts: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """sum_i w_i a_ij over the positive a_ij and over the negative ones, for each column j of the
    per-record `amounts` (n x m)."""
    amounts = sp.csr_matrix(amounts)
    return (np.asarray(amounts.maximum(0).T @ data.w).ravel(), np.asarray(amounts.minimum(0).T @ data.w).ravel())


def _conflict(data: JointData, keep: np.ndarray, pos: float, neg: float, need_lo: float, need_hi: float,
              terms: float) -> str:
    """The line '[need_lo, need_hi], the coupled records reach [lo, hi]' when the areas in `keep`
    (K bool) cannot reach their bands' sums of an amount whose weighted positive and negative parts
    over the records are `pos` and `neg`, else ''."""
    s, U = data.shares, data.upper
    within, outside = float(s[keep] @ U[keep]), float(s[~keep] @ U[~keep])
    if data.mode == ADDITIVE:
        lo, hi = (1.0, 1.0) if keep.all() else (max(0.0, 1.0 - outside), min(1.0, within))
    else:
        lo, hi = 0.0, min(data.bound, within)
    reach_hi, reach_lo = pos * hi + neg * lo, pos * lo + neg * hi
    size = AGGREGATE_ULPS * np.finfo(float).eps * (terms + pos - neg)
    if need_lo - reach_hi > size or reach_lo - need_hi > size:
        return f"[{need_lo:.10g}, {need_hi:.10g}], the coupled records reach [{reach_lo:.10g}, {reach_hi:.10g}]"
    return ""


def _aligned(stages: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Every area's continuation stages side by side: stage k of each area (the same cap in the
    same units), an area whose continuation ends sooner staying at its last."""
    count = max(len(own) for own in stages)
    return [np.concatenate([own[min(k, len(own) - 1)] for own in stages]) for k in range(count)]


def separate_duals(problem: JointProblem, reference: Path) -> np.ndarray:
    """The separate solves' duals (an areas reference directory, goldstar.areas.reference) as the
    joint problem's y: every area's kept targets, in order. InputError naming the reference when
    it holds a joint solve, an area is missing, was made from other inputs (its input hash), at
    another rho_cap, over other targets, or with other targets dropped than the joint problem's
    pre-pass drops."""
    return _reference_duals(problem, reference, joint=False)


def joint_duals(problem: JointProblem, reference: Path) -> np.ndarray:
    """A joint reference's duals (goldstar.areas.joint_run.write_joint_reference) as the joint
    problem's y, under separate_duals' checks; InputError when it holds the separate solves."""
    return _reference_duals(problem, reference, joint=True)


def _reference_duals(problem: JointProblem, reference: Path, *, joint: bool) -> np.ndarray:
    ys, targets, info = read_reference_targets(reference)
    if (info.get("joint") is not None) != joint:
        held = f"a joint solve ({info['joint']['coupling']})" if info.get("joint") else "the separate solves"
        raise InputError(f"areas reference {reference}: holds {held}, not {'a joint solve' if joint else 'the separate solves'}")
    for a, area in enumerate(problem.areas):
        unusable = area_duals_problem(area, problem.input_hashes[a], ys, targets, info["by_area"], problem.cells)
        if unusable is not None:
            raise InputError(f"areas reference {reference}: area {area}: {unusable}")
        meta = info["by_area"][area]
        if meta.get("rho_cap", RHO_CAP) != RHO_CAP:
            raise InputError(f"areas reference {reference}: area {area} was solved at rho_cap "
                             f"{meta['rho_cap']:g}; the joint problem is built at {RHO_CAP:g}")
    return kept_duals(problem, ys, f"areas reference {reference}")


def kept_duals(problem: JointProblem, ys: dict[str, np.ndarray], source: str) -> np.ndarray:
    """Each area's duals (over the national cells, NaN where it drops one) in the joint problem's
    order, its kept targets only; InputError naming `source` and the area when its dual is NaN
    where the joint problem keeps a target, or a number where it drops one."""
    kept = problem.data.kept
    out = []
    for a, area in enumerate(problem.areas):
        y = ys[area]
        differ = np.flatnonzero(np.isnan(y) == kept[a])
        if differ.size:
            cell = problem.cells[differ[0]]
            how = "keeps" if kept[a, differ[0]] else "drops"
            raise InputError(f"area {area}'s pre-pass here {how} target {cell}, but {source} "
                             f"{'has no dual for it' if how == 'keeps' else 'has a dual for it'}")
        out.append(y[kept[a]])
    return np.concatenate(out)
