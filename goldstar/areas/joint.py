"""The joint problem of a set of areas (docs/additive.md): every area's kept targets, bands and
slack penalties exactly as its own band problem has them, over the records that feed a cell, in
the arrays of goldstar.solvers.additive_core; and the separate solves' answer as a point of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..solvers.additive_core import ADDITIVE, EXHAUSTION, JointData
from .inputs import NationalData
from .problem import area_prepass, build_area_problem
from .reference import read_reference
from .targets import AreaSpec


@dataclass
class JointProblem:
    data: JointData
    l: np.ndarray  # N lower band ends (target units over ts), area after area
    u: np.ndarray  # N upper band ends
    stages: list[np.ndarray]  # the slack penalties' continuation, each N, up to rho_cap
    record_ids: np.ndarray  # n
    areas: list[str]  # K
    targets: list[str]  # N, "AREA:target"
    cells: list[str]  # J, the national cell names


def joint_problem(national: NationalData, areas: list[AreaSpec], settings: list, *,
                  max_exhaustion: float | None = None) -> JointProblem:
    """The joint problem of `areas`: additive (their shares, divided by their sum, weigh each
    record's national weight), or capped at `max_exhaustion` E (each record's area weights sum
    to at most E times its national weight)."""
    keep, A = national.positive
    w = national.weight[keep]
    feeds = np.diff(A.indptr) > 0
    J = A.shape[1]
    kept, ts = np.zeros((len(areas), J), dtype=bool), np.ones((len(areas), J))
    l, u, stages, names = [], [], [], []
    for a, (spec, s) in enumerate(zip(areas, settings)):
        form = build_area_problem(national, spec, s, area_prepass(national, spec, s).names)[0].form
        kept[a, form.kept], ts[a, form.kept] = True, form.ts
        l.append(form.l), u.append(form.u), stages.append(form.rho_stages())
        names += [f"{spec.name}:{n}" for n in form.names]
    shares = np.array([spec.pop_share for spec in areas])
    mode = dict(mode=ADDITIVE) if max_exhaustion is None else dict(mode=EXHAUSTION, bound=float(max_exhaustion))
    A = A[feeds]
    data = JointData(A=A, absA=abs(A), w=w[feeds], shares=shares / shares.sum(),
                     upper=np.array([s.upper for s in settings]), kept=kept, ts=ts, **mode)
    return JointProblem(data=data, l=np.concatenate(l), u=np.concatenate(u),
                        stages=_aligned(stages),
                        record_ids=national.record_ids[keep][feeds],
                        areas=[spec.name for spec in areas], targets=names, cells=list(national.cell_names))


def _aligned(stages: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Every area's continuation stages side by side: stage k of each area (the same cap in the
    same units), an area whose continuation ends sooner staying at its last."""
    count = max(len(own) for own in stages)
    return [np.concatenate([own[min(k, len(own) - 1)] for own in stages]) for k in range(count)]


def separate_duals(problem: JointProblem, reference: Path) -> np.ndarray:
    """The separate solves' duals (an areas reference directory, goldstar.areas.reference) as the
    joint problem's y: every area's kept targets, in order. InputError naming the reference when
    it lacks an area, holds a different target list, or has no dual for a kept target."""
    ys, _ = read_reference(reference)
    kept = problem.data.kept
    out = []
    for a, area in enumerate(problem.areas):
        if area not in ys:
            raise InputError(f"areas reference {reference}: no duals for area {area}")
        y = ys[area]
        if y.size != kept.shape[1]:
            raise InputError(f"areas reference {reference}: area {area} has {y.size} duals, "
                             f"the recipe {kept.shape[1]} targets")
        mine = y[kept[a]]
        missing = np.flatnonzero(np.isnan(mine))
        if missing.size:
            cell = problem.cells[np.flatnonzero(kept[a])[missing[0]]]
            raise InputError(f"areas reference {reference}: area {area} has no dual for target {cell}, "
                             "which its pre-pass keeps")
        out.append(mine)
    return np.concatenate(out)
