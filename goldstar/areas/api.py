"""`goldstar.reweight_areas`: the areas batch from Python, on a Dask client, writing nothing.

    result = goldstar.reweight_areas(None, national.weights, "tmd-states", areas="states", engine="taxcalc")
    result["CA"].weights        # a Series indexed by record_id
    result["CA"].certified, result["CA"].dropped

It runs `goldstar areas`'s own steps: the same inputs (goldstar.areas.command.batch_inputs:
recipe or target files, sharing table, SOI table, records engine, overrides, settings), the
same task on each area (goldstar.areas.problem.run_area, through goldstar.areas.batch.area_rows)
and so the same weights; it keeps the rows in memory instead of writing an output directory.
`recipe_or_targets` is a shipped recipe's name (`goldstar-77`, `tmd-states`, `tmd-districts`),
a spec CSV, or a directory of TMD's `<area>_targets.csv` files.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..defaults import (
    AREA_LOWER, DEFAULT_EPS, DEFAULT_SLACK_PENALTY, DEFAULT_SLACK_UNITS, DEFAULT_UNREACHABLE, DEFAULT_YEAR,
)
from ..exceptions import InputError
from ..params import choice, is_integer, number
from . import batch, command
from .inputs import NationalWeights, file_weights, reference_weights, value_weights
from .joint_run import check_coupling, check_joint_device, check_joint_time_limit, coupling_name, joint_steps
from .penalties import DEFAULT_RULE as DEFAULT_PENALTY_RULE, RULES as PENALTY_RULES
from .problem import AreaSettings

DROPPED_COLUMNS = ("name", "reason", "low", "high", "distance_in_band_widths")
API_JOINT_DEVICE = "reweight_areas: joint_device"  # how a bad joint_device is named


@dataclass(frozen=True)
class AreaResult:
    """One area: status (`ok`, `infeasible`, `failed`, `time_limit`), its weights and multipliers
    (Series indexed by record_id; None unless solved), the dropped targets with their proof, the
    certificate's figures, and the slack penalties' cap it was certified at (rho_cap: 1e16, or
    1e19 when its hard bands needed the raised cap; None unless solved)."""

    name: str
    status: str
    message: str
    pop_share: float
    weights: pd.Series | None
    multipliers: pd.Series | None
    dropped: pd.DataFrame
    certified: bool
    certificate: dict[str, Any]
    dual: pd.Series | None = field(default=None, repr=False)
    rho_cap: float | None = None


@dataclass(frozen=True)
class JointResult:
    """The areas solved jointly (`additive=True` or `max_exhaustion=E`, docs/additive.md): the
    coupling, whether the joint certificate passed, each area's joint weights (a Series indexed
    by record_id; empty when nothing was solved), the certificate's figures, and the cells whose
    bands the coupling makes unreachable together (then nothing is solved)."""

    coupling: str
    certified: bool
    message: str
    weights: dict[str, pd.Series]
    certificate: dict[str, Any]
    conflicts: list[str]


@dataclass(frozen=True)
class AreasResult:
    """Every area's result, in the order asked, with the targets they had and those no record fed."""

    areas: dict[str, AreaResult]
    targets: tuple[str, ...]
    empty: tuple[str, ...]
    input_hashes: dict[str, Any]
    seconds: float
    joint: JointResult | None = None

    def __getitem__(self, name: str) -> AreaResult:
        return self.areas[name.upper()]

    def __iter__(self):
        return iter(self.areas.values())

    def __len__(self) -> int:
        return len(self.areas)

    @property
    def all_certified(self) -> bool:
        return all(a.status == "ok" and a.certified for a in self.areas.values())

    def summary(self) -> pd.DataFrame:
        """One row an area: status, certified, rho_cap, dropped count, pop_share, message."""
        return pd.DataFrame([{"area": a.name, "status": a.status, "certified": a.certified, "rho_cap": a.rho_cap,
                              "dropped": len(a.dropped), "pop_share": a.pop_share, "message": a.message}
                             for a in self.areas.values()])


def _national_weights(value: Any) -> NationalWeights:
    """A goldstar Result (its weights), a Series indexed by record_id, a DataFrame with record_id and
    weight, a reference directory, or a weights file."""
    if hasattr(value, "weights") and isinstance(getattr(value, "weights"), pd.Series):
        value = value.weights
    if isinstance(value, pd.Series):
        return value_weights(value.index.to_numpy(), value.to_numpy(), "national_weights")
    if isinstance(value, pd.DataFrame):
        missing = [c for c in ("record_id", "weight") if c not in value.columns]
        if missing:
            raise InputError(f"national_weights: the DataFrame lacks column(s) {', '.join(missing)}")
        return value_weights(value["record_id"].to_numpy(), value["weight"].to_numpy(), "national_weights")
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        option = "national_weights"
        return reference_weights(path, option) if path.is_dir() else file_weights(path, option)
    raise InputError("national_weights: give a goldstar Result, a Series indexed by record_id, a DataFrame "
                     "with record_id and weight, a reference directory or a weights file")


def _arguments(recipe_or_targets: Any, areas: Any, **options: Any) -> argparse.Namespace:
    """The areas command's own arguments, as its parser defaults them, with these options."""
    args = command.default_arguments()
    target = Path(recipe_or_targets) if isinstance(recipe_or_targets, (str, os.PathLike)) else None
    if target is not None and target.is_dir():
        args.targets_dir = target
    elif recipe_or_targets is not None:
        args.recipe = os.fspath(recipe_or_targets)
    if isinstance(areas, (list, tuple)):
        areas = ",".join(areas)
    args.areas = areas if areas is not None or args.targets_dir is not None else "states"
    for name, value in options.items():
        setattr(args, name, value)
    return args


WHERE = "reweight_areas"


def _whole(name: str, value: Any, allowed: range) -> None:
    """InputError unless `value` is None or an int (not a bool) within `allowed`."""
    if value is None:
        return
    if not is_integer(value):
        raise InputError(f"{WHERE}: {name} must be a whole number, got {value!r}")
    if int(value) not in allowed:
        raise InputError(f"{WHERE}: {name} must be from {allowed.start} to {allowed.stop - 1}, got {value!r}")


def _check_call(records: Any, recipe_or_targets: Any, areas: Any, client: Any, workers: Any, year: Any,
                seed: Any, upper: Any, engine_options: Any, overrides: Any, soi: Any, sharing: Any) -> None:
    """The arguments' types and ranges, named as the call names them, before anything is read."""
    paths = (str, os.PathLike)
    if records is not None and not isinstance(records, (*paths, pd.DataFrame)):
        raise InputError(f"{WHERE}: records must be None, a path or a DataFrame, got {type(records).__name__}")
    for name, value in (("overrides", overrides), ("soi", soi), ("sharing", sharing)):
        if value is not None and not isinstance(value, paths):
            raise InputError(f"{WHERE}: {name} must be a file's path, got {type(value).__name__}")
    if recipe_or_targets is not None and not isinstance(recipe_or_targets, paths):
        raise InputError(f"{WHERE}: recipe_or_targets must be a shipped recipe's name, a spec CSV's path or a "
                         f"target files directory, got {type(recipe_or_targets).__name__}")
    if areas is not None and not (isinstance(areas, str) or isinstance(areas, (list, tuple))
                                  and all(isinstance(a, str) for a in areas)):
        raise InputError(f"{WHERE}: areas must be an area set's name (states, districts:NY, synthetic:N) or a "
                         f"list of area names, got {areas!r}")
    is_client = callable(getattr(client, "submit", None)) and callable(getattr(client, "run", None))
    if client is not None and not is_client:
        raise InputError(f"{WHERE}: client must be a dask.distributed.Client (for a scheduler's address, pass "
                         f"Client(address)), got {type(client).__name__}")
    _whole("workers", workers, range(1, 2**31))
    _whole("year", year, command.TMD_YEARS)
    _whole("seed", seed, range(0, command.SEED_LIMIT))
    if upper is not None:
        number("upper", upper, WHERE, above=AREA_LOWER)
    if engine_options is not None:
        if not isinstance(engine_options, dict):
            raise InputError(f"{WHERE}: engine_options must be a dict, got {type(engine_options).__name__}")
        known = sorted(name[len("tc_"):] for name in vars(command.default_arguments()) if name.startswith("tc_"))
        unknown = sorted(str(k) for k in engine_options if k not in known)
        if unknown:
            raise InputError(f"{WHERE}: engine_options has no {', '.join(unknown)}; known: {', '.join(known)}")


def reweight_areas(
    records: str | os.PathLike[str] | pd.DataFrame | None,
    national_weights: Any,
    recipe_or_targets: str | os.PathLike[str] | None = "goldstar-77",
    *,
    areas: str | list[str] | None = None,
    client: Any = None,
    workers: int | None = None,
    engine: str | None = None,
    year: int = DEFAULT_YEAR,
    engine_options: dict[str, Any] | None = None,
    soi: str | os.PathLike[str] | None = None,
    sharing: str | os.PathLike[str] | None = None,
    overrides: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    eps: float = DEFAULT_EPS,
    slack_penalty: float = DEFAULT_SLACK_PENALTY,
    slack_units: str = DEFAULT_SLACK_UNITS,
    slack_penalty_rule: str = DEFAULT_PENALTY_RULE,
    upper: float | None = None,
    unreachable: str = DEFAULT_UNREACHABLE,
    time_limit: float | None = None,
    additive: bool = False,
    max_exhaustion: float | None = None,
    joint_time_limit: float | None = None,
    joint_device: str | None = None,
    within: str | os.PathLike[str] | None = None,
) -> AreasResult:
    """Exact, certified area weights (module docstring); bad input raises goldstar.InputError.

    `records`: None for the embedded CPS file, a path, or a DataFrame record table (goldstar's
    names and Tax-Calculator's, as an engine makes it). `areas`: an area set (`states`,
    `districts`, `synthetic:N`, a list); with target files, which of them (default all).
    `client`: a dask.distributed Client; by default a local cluster of `workers` processes,
    closed at the end. Nothing is written but the records engine's cache. `additive=True` or
    `max_exhaustion=E`: then the areas solved jointly from their separate solves (`.joint`, as
    `goldstar areas --additive | --max-exhaustion E`), in `joint_time_limit` seconds at most, its
    Newton systems factored by torch on `joint_device` if given (`cuda`, `cpu`, `auto`).
    `slack_penalty_rule`: `uniform` (every target at `slack_penalty`) or `tmd` (TMD's pricing of its
    districts: M 1e3 on its noisy low-AGI cells, goldstar.areas.penalties). `overrides`: goldstar's
    overrides CSV or TMD's solver-overrides YAML (goldstar.areas.overrides).
    `within`: a finished states batch (the --out of `goldstar areas --areas states`) or a compact
    states reference (its --write-reference, e.g. reference/areas-additive-relative): `areas`,
    every district of one state (`districts:NY`), are solved within that state's weights there,
    as `goldstar areas --within`; each area's weights are then shares of the state's.
    """
    start = time.perf_counter()
    _check_call(records, recipe_or_targets, areas, client, workers, year, seed, upper, engine_options, overrides, soi,
                sharing)
    try:  # the band settings, named as the call names them (the command's own check names its options)
        AreaSettings(eps=eps, slack_penalty=slack_penalty, slack_units=slack_units, unreachable=unreachable,
                     time_limit=time_limit)
    except InputError as exc:
        raise InputError(f"{WHERE}: {str(exc).split(': ', 1)[-1]}") from None
    choice("slack_penalty_rule", slack_penalty_rule, tuple(PENALTY_RULES), WHERE)
    options = engine_options or {}
    args = _arguments(recipe_or_targets, areas, records=records, engine=engine, tmd_year=year,
                      soi=None if soi is None else Path(soi), sharing=None if sharing is None else Path(sharing),
                      overrides=None if overrides is None else Path(overrides), seed=seed, eps=eps,
                      slack_penalty=slack_penalty, slack_units=slack_units, slack_penalty_rule=slack_penalty_rule,
                      upper=upper, unreachable=unreachable,
                      time_limit=time_limit, no_tmd_weights=True,
                      **{f"tc_{k}": v for k, v in options.items()})
    if isinstance(records, pd.DataFrame) and engine is not None:
        raise InputError("reweight_areas: a DataFrame of records is taken as the record table itself; "
                         "give engine=None, or the records as a path for an engine to read")
    joint_options = "additive=True or max_exhaustion=E"  # the arguments that ask for a joint solve
    if additive and max_exhaustion is not None:
        raise InputError(f"reweight_areas: give {joint_options}, not both")
    coupled = additive or max_exhaustion is not None
    check_joint_time_limit(joint_time_limit, coupled, "reweight_areas", "joint_time_limit", joint_options)
    factoring = check_joint_device(joint_device, coupled, API_JOINT_DEVICE, joint_options)
    if within is not None:
        if args.targets_dir is not None:
            raise InputError("reweight_areas: within solves districts by the recipe's SOI shares, not target files")
        if not isinstance(within, (str, os.PathLike)):
            raise InputError(f"reweight_areas: within must be a directory's path, got {type(within).__name__}")
        if not Path(within).is_dir():
            raise InputError(f"reweight_areas: within {within}: not a directory; give the --out of a states batch "
                             "or a compact states reference")
        args.within = Path(within)
        states = command.within_states(args)
        if len(states) > 1:
            raise InputError(f"reweight_areas: within solves the districts of one state a call (areas hold "
                             f"{', '.join(states)}); call it once a state")
    weights = _national_weights(national_weights)
    national, specs, settings, hashes, _ = command.batch_inputs(args, args.areas, weights)
    if coupled:
        check_coupling(specs, max_exhaustion, names=("additive", "max_exhaustion"))  # before anything is solved
    batch.check_solver(settings[0].solver if settings else "band-newton")
    own = client is None
    client = batch.make_client(None, workers) if own else client
    try:
        batch.check_versions(batch.client_versions(), client.run(batch.worker_versions))
        rows = {spec.name: row for spec, row in batch.area_rows(client, national, list(zip(specs, settings, hashes)))}
    finally:
        if own:
            batch.close_client(client)
    index = pd.Index(national.record_ids, name="record_id")
    results = {}
    for spec in specs:
        row = rows[spec.name]
        m = row.get("m")
        solved = m is not None and row["status"] == "ok"
        multipliers = pd.Series(np.asarray(m, dtype=np.float64), index=index, name="m") if solved else None
        dual = (pd.Series({k: (np.nan if v is None else v) for k, v in row["y"].items()}, name="y")
                if solved and row.get("y") is not None else None)
        results[spec.name] = AreaResult(
            name=spec.name, status=row["status"], message=row.get("message", ""), pop_share=spec.pop_share,
            weights=None if multipliers is None else (spec.pop_share * national.weight * multipliers).rename("weight"),
            multipliers=multipliers,
            dropped=pd.DataFrame([{c: d.get(c) for c in DROPPED_COLUMNS} for d in row.get("dropped", [])],
                                 columns=list(DROPPED_COLUMNS)),
            certified=bool(row.get("certified")), certificate=row.get("certificate", {}), dual=dual,
            rho_cap=row.get("rho_cap"),
        )
    joint = None
    if coupled:
        joint = _joint(national, specs, settings, hashes, [rows[spec.name] for spec in specs], max_exhaustion,
                       joint_time_limit, factoring, index)
    return AreasResult(results, tuple(national.cell_names), tuple(national.dropped_cells), dict(national.hashes),
                       time.perf_counter() - start, joint)


def _joint(national, specs, settings, hashes, rows, max_exhaustion, time_limit, factoring, index) -> JointResult:
    """The joint steps after the batch (goldstar.areas.joint_run.joint_steps) as a JointResult."""
    outcome = joint_steps(national, specs, settings, hashes, rows, max_exhaustion, time_limit=time_limit,
                          factoring=factoring)
    coupling = coupling_name(max_exhaustion)
    if outcome.not_ok:
        return JointResult(coupling, False, f"not solved: {len(outcome.not_ok)} area(s) are not ok "
                           f"({', '.join(outcome.not_ok[:10])})", {}, {}, [])
    if outcome.conflicts:
        return JointResult(coupling, False, outcome.conflicts_said(), {}, {}, outcome.conflicts)
    answer = outcome.answer
    cert = answer.certificate
    weights = {spec.name: pd.Series(spec.pop_share * national.weight * answer.m[:, a], index=index, name="weight")
               for a, spec in enumerate(specs)}
    message = f"{answer.result.message}; certificate " + ("passed" if cert.passed else
                                                          "FAILED: " + "; ".join(cert.failures()))
    return JointResult(coupling, bool(cert.passed), message, weights, cert.as_dict(), [])
