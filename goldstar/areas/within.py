"""Districts within their state's weights (`goldstar areas --areas districts:ST --within DIR`).

A finished states batch DIR gives the state ST its weights W_i = s_ST w_i m_i,ST: the joint
solve's multipliers when DIR holds a certified one (OUT/joint, e.g. `--additive`), else the
separate solve's. ST's districts are then solved with W in the place of the national weights:

    w_id = s_d W_i x_id,    s_d = the district's population over the state's (sum 1),
    t_dj = W_j x S_d(j) / sum over ST's districts of S(j),   W_j = sum_i W_i A_ij,

the SOI-share targets of goldstar.areas.targets with the state as the whole. The districts'
targets add up to the state's own weighted totals, so with `--additive` (sum_d s_d x_id = 1:
each record's district weights add up to its state weight) x = 1 meets every sum, and the
joint problem of the state's districts is the one of docs/additive.md with W for w.

The state weights enter by value: `within` in the national hashes (the directory, the state,
where its multipliers came from and the hash of W) and W itself as the national weights' hash,
so an --out made within other state weights is refused like one made from other national weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..exceptions import InputError
from ..hashing import arrays_hash
from ..solvers.additive_core import multipliers_of_dual
from ..store.outputs import DUALS, MANIFEST
from .inputs import NationalData
from .joint import joint_duals, joint_problem
from .joint_run import national_multipliers, read_joint
from .reference import national_mismatch, read_reference, recorded_national_option, verify_reference
from .report import area_multipliers, read_area_row, read_records, read_summary
from .synthetic import district_names
from .targets import AreaSpec, area_targets

OPTION = "--within"


# rebuild(reference, info) -> (national data, areas, settings, input hashes) of the areas an
# areas reference holds, as it was made (goldstar.areas.command gives it)
Rebuild = Callable[[Path, dict[str, Any]], tuple[NationalData, list[AreaSpec], list[Any], list[str]]]


def within_state(national: NationalData, areas: list[AreaSpec], directory: Path,
                 rebuild: Rebuild | None = None,
                 found: dict[str, tuple[np.ndarray, str]] | None = None) -> tuple[NationalData, list[AreaSpec]]:
    """(the state's data in the national data's place, the districts with their shares and
    targets relative to it) for `areas`, every district of one state (InputError otherwise,
    naming --within), with the state's weights read from the states batch or the compact states
    reference in `directory` (state_weights), or taken from `found` (reference_state_weights'
    answer for several states at once) when it holds the state."""
    state = _the_state(areas)
    weight, source = found[state] if found and state in found else state_weights(Path(directory), state, national,
                                                                                  rebuild)
    totals = national.A.T @ weight
    hashes = {**national.hashes,
              "national_weights": {"file": f"{directory} ({state}, {source})", "hash": arrays_hash([("weight", weight)])},
              "within": {"directory": str(directory), "state": state, "source": source}}
    shares = np.array([a.pop_share for a in areas])
    state_share = float(shares.sum())
    parent = dataclasses.replace(
        national, weight=weight, totals=np.asarray(totals), hashes=hashes,
        population=None if national.population is None else national.population * state_share)
    parent.hashes["content"] = parent.content_hash()
    values = np.array([a.soi_values for a in areas])
    targets = area_targets(parent.totals, values, values.sum(axis=0))
    return parent, [dataclasses.replace(a, pop_share=float(s / state_share), targets=t)
                    for a, s, t in zip(areas, shares, targets)]


def _the_state(areas: list[AreaSpec]) -> str:
    """The one state whose every district `areas` holds; InputError naming --within otherwise."""
    states = sorted({a.state for a in areas})
    if any(a.kind != "district" for a in areas) or len(states) != 1:
        raise InputError(f"{OPTION} solves the districts of a state within its state weights: give "
                         "--areas districts:ST, or districts:ST1,ST2 for several "
                         f"(found {', '.join(states[:5]) or 'no'} "
                         f"{'state' if len(states) == 1 else 'states'} and "
                         f"{sum(a.kind != 'district' for a in areas)} area(s) that are no district)")
    missing = sorted(set(d.upper() for d in district_names(states[0])) - {a.name.upper() for a in areas})
    if missing:
        raise InputError(f"{OPTION}: the districts of {states[0]} must all be solved together (their shares of "
                         f"the state sum to 1); missing {', '.join(missing[:5])}"
                         f"{' ...' if len(missing) > 5 else ''}")
    return states[0]


def state_weights(directory: Path, state: str, national: NationalData,
                  rebuild: Rebuild | None = None) -> tuple[np.ndarray, str]:
    """(W, where its multipliers came from: `joint` or `separate`, or `joint reference` or
    `separate reference`): the state's weights in a finished states batch, aligned with the
    national records, or in a compact states reference (reference_state_weights, with
    `rebuild`); InputError naming the file and --within when the batch is not there, not finished
    for the state, or from other national records or weights (the files read and checked as
    `goldstar report --areas` reads them)."""
    if is_reference(directory) and rebuild is not None:
        return reference_state_weights(directory, [state], national, rebuild)[state]
    where = f"{OPTION} {directory}"
    try:
        summary = read_summary(directory, option=OPTION)
    except InputError as exc:
        raise InputError(f"{exc}; {OPTION} takes a states batch (the --out of goldstar areas --areas states) or a "
                         "compact states reference (its --write-reference)") from exc
    ids, weight = read_records(directory, option=OPTION)
    if not (np.array_equal(ids, national.record_ids) and np.array_equal(weight, national.weight)):
        raise InputError(f"{where}: its records.parquet holds other records or national weights than this "
                         "batch's; solve the states from the same national inputs")
    rows = summary[summary["area"] == state]
    if rows.empty or rows.iloc[0]["status"] != "ok":
        found = "no row" if rows.empty else f"status {rows.iloc[0]['status']}"
        raise InputError(f"{where}: summary.csv has {found} for {state}; the state must be solved (status ok)")
    share = float(rows.iloc[0]["pop_share"])
    joint = read_joint(directory)
    if joint is not None and state in joint[0]["areas"]:
        record, m = joint
        if not record["certified"]:
            raise InputError(f"{where}: its joint solve is not certified; its state weights are no optimum")
        return share * national.weight * m[state], "joint"
    row = read_area_row(directory, state, option=OPTION)
    return share * national.weight * area_multipliers(directory, state, row, national.n, option=OPTION), "separate"


def is_reference(directory: Path) -> bool:
    """Whether `directory` is a compact areas reference (duals.parquet and MANIFEST.json) rather
    than an areas output."""
    return (Path(directory) / DUALS).is_file() and (Path(directory) / MANIFEST).is_file()


def reference_state_weights(directory: Path, states: list[str], national: NationalData,
                            rebuild: Rebuild) -> dict[str, tuple[np.ndarray, str]]:
    """{state: (W, `joint reference` or `separate reference`)} for `states`: their weights from a
    compact states reference, rebuilt once from its duals on the areas as the reference was made
    (`rebuild`): under a joint reference's coupling, every record's coupling multiplier solved
    exactly from the stored duals (its input hashes checked, as `goldstar verify --areas` does);
    from a separate one, each state's weights as verify rebuilds them, certified. InputError
    naming --within when the reference holds no such state, was made from other national records
    or weights, or a state does not rebuild or certify."""
    where = f"{OPTION} {directory}"
    _, info = read_reference(directory)
    missing = [state for state in states if state not in info["by_area"]]
    if missing:
        raise InputError(f"{where}: the reference holds no {', '.join(missing)} (it holds {info['areas']!r})")
    parent, specs, settings, hashes = rebuild(directory, info)
    made_from = recorded_national_option(info["national"])
    other_national = national_mismatch(
        info["national"], parent.hashes, str(directory),
        advice=("give the districts the national weights the states were made from"
                + (f" ({made_from}, that path from the directory it was made in)" if made_from else "")
                + ", or make the states reference again from these"))
    if other_national is not None:  # every state's input hash would fail: say why, once
        raise InputError(f"{where}: {other_national}")
    if not (np.array_equal(parent.record_ids, national.record_ids) and np.array_equal(parent.weight, national.weight)):
        raise InputError(f"{where}: made from other national records or weights than this batch's; solve the "
                         "districts from the same national inputs")
    position = {spec.name: a for a, spec in enumerate(specs)}
    if info.get("joint") is not None:
        try:
            problem = joint_problem(parent, specs, settings, hashes, max_exhaustion=info["joint"].get("max_exhaustion"))
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from exc
        m = national_multipliers(parent, problem, multipliers_of_dual(problem.data, joint_duals(problem, directory)))
        return {state: (specs[position[state]].pop_share * national.weight * m[:, position[state]], "joint reference")
                for state in states}
    x: dict[str, np.ndarray] = {}
    asked = [position[state] for state in states]
    results = verify_reference(directory, parent, [specs[a] for a in asked], [settings[a] for a in asked],
                               [hashes[a] for a in asked], x, complete=False)
    for name, ok, what in results[:len(asked)]:
        if not ok:
            raise InputError(f"{where}: {name}'s weights do not rebuild from the reference: {what}")
    return {state: (specs[position[state]].pop_share * national.weight * x[state], "separate reference")
            for state in states}
