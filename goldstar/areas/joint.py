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

from ..exceptions import InputError
from ..problem.objectives.band import RHO_CAP
from ..solvers.additive_core import ADDITIVE, EXHAUSTION, JointData
from .inputs import NationalData
from .problem import AreaSettings, area_prepass, build_area_problem
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


def joint_problem(national: NationalData, areas: list[AreaSpec], settings: list[AreaSettings],
                  input_hashes: list[str], *, max_exhaustion: float | None = None) -> JointProblem:
    """The joint problem of `areas` (and their input hashes, as goldstar.areas.command.batch_inputs
    gives them): additive (their shares, divided by their sum, weigh each record's national
    weight), or capped at `max_exhaustion` E >= 1 (each record's area weights sum to at most E
    times its national weight; below 1 the records that feed no cell, kept at x = 1, would break
    it). ValueError for such an E, or for an area whose box does not start at 0."""
    if max_exhaustion is not None and not (math.isfinite(max_exhaustion) and max_exhaustion >= 1.0):
        raise ValueError(f"max_exhaustion {max_exhaustion!r}: must be a finite number of at least 1")
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
                        areas=[spec.name for spec in areas], targets=names, cells=list(national.cell_names),
                        input_hashes=list(input_hashes))


def _aligned(stages: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Every area's continuation stages side by side: stage k of each area (the same cap in the
    same units), an area whose continuation ends sooner staying at its last."""
    count = max(len(own) for own in stages)
    return [np.concatenate([own[min(k, len(own) - 1)] for own in stages]) for k in range(count)]


def separate_duals(problem: JointProblem, reference: Path) -> np.ndarray:
    """The separate solves' duals (an areas reference directory, goldstar.areas.reference) as the
    joint problem's y: every area's kept targets, in order. InputError naming the reference when
    an area is missing, was made from other inputs (its input hash), at another rho_cap, over
    other targets, or with other targets dropped than the joint problem's pre-pass drops."""
    ys, targets, info = read_reference_targets(reference)
    kept = problem.data.kept
    out = []
    for a, area in enumerate(problem.areas):
        unusable = area_duals_problem(area, problem.input_hashes[a], ys, targets, info["by_area"], problem.cells)
        if unusable is not None:
            raise InputError(f"areas reference {reference}: area {area}: {unusable}")
        meta = info["by_area"][area]
        if meta.get("rho_cap", RHO_CAP) != RHO_CAP:
            raise InputError(f"areas reference {reference}: area {area} was solved at rho_cap "
                             f"{meta['rho_cap']:g}; the joint problem is built at {RHO_CAP:g}")
        y = ys[area]
        differ = np.flatnonzero(np.isnan(y) == kept[a])
        if differ.size:
            cell = problem.cells[differ[0]]
            how = "keeps" if kept[a, differ[0]] else "drops"
            raise InputError(f"areas reference {reference}: area {area}'s pre-pass here {how} target {cell}, "
                             f"the reference {'has no dual for it' if how == 'keeps' else 'has a dual for it'}")
        out.append(y[kept[a]])
    return np.concatenate(out)
