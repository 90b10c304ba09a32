"""Records and targets into a Problem: the engine's record table, the SOI table, the build, and for
the band objective its pre-pass. One home for the steps `goldstar build`, `goldstar.reweight`
(goldstar.workflow) and a reference's recorded source (goldstar.inputs.source) all take.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import pandas as pd

from ..defaults import DEFAULT_RECORDS, DEFAULT_TARGETS, DEFAULT_YEAR
from ..hashing import file_entry, frame_entry
from ..problem.model import Problem
from ..problem.objectives import Objective
from ..problem.prepass import Prepass, apply_policy
from ..store.tables import read_table
from .build import BuildInfo, build_problem
from .cps import cps_to_soi
from .engines import run_engine


def build_with_objective(
    records: str | os.PathLike[str] | pd.DataFrame | None,
    targets: str | os.PathLike[str] | pd.DataFrame | None,
    year: int,
    *,
    objective: Objective | None,
    dropped: tuple[str, ...] | None = None,
    **build_options: Any,
) -> tuple[Problem, BuildInfo, dict[str, Any], Prepass | None]:
    """build_from_files, then the objective (None: the build's penalized one) with its pre-pass:
    a band objective in target units drops its unreachable targets (goldstar.problem.prepass:
    found by the pre-pass, or, with `dropped`, a reference's recorded set applied as recorded).
    Returns the problem, the build's facts, the input hashes and the pre-pass (or None)."""
    problem, info, inputs = build_from_files(records, targets, year, **build_options)
    prepass = None
    if objective is not None:
        problem, prepass = apply_policy(problem.with_objective(objective), dropped)
    return problem, info, inputs, prepass


def build_from_files(
    records_path: str | os.PathLike[str] | pd.DataFrame | None,
    targets_path: str | os.PathLike[str] | pd.DataFrame | None,
    year: int = DEFAULT_YEAR,
    *,
    engine: str | None = None,
    engine_options: dict[str, Any] | None = None,
    **parameters: float,
) -> tuple[Problem, BuildInfo, dict[str, Any]]:
    """Build from files; no records path means the embedded CPS default. Returns the
    problem, what the build did, and the input metadata (file hashes) for problem.json.

    `engine` (goldstar.inputs.engines.ENGINES) derives the record table from the records
    file; None keeps the defaults: the cps engine for the embedded file, the file
    as an SOI-named table for --records. Either table may be given as a DataFrame
    instead of a path (the Python API): it is recorded by the hash of its values
    (goldstar.hashing.frame_entry) in place of a file's.
    """

    if targets_path is None:
        targets_path = DEFAULT_TARGETS
    engine_meta = None
    if engine is None and records_path is not None:
        if isinstance(records_path, pd.DataFrame):
            records, entry = records_path, frame_entry(records_path)
        else:
            records, entry = read_table(records_path, "record"), file_entry(records_path)
        inputs = {"records": {**entry, "adapter": "none"}}
    else:
        records, inputs, engine_meta = run_engine(engine or "cps", records_path, year, engine_options)
        if engine is None:
            engine_meta = None  # the default problem, as before: no engine recorded
    if isinstance(targets_path, pd.DataFrame):
        targets, inputs["targets"] = targets_path, frame_entry(targets_path)
    else:
        targets, inputs["targets"] = read_table(targets_path, "target"), file_entry(targets_path)
    problem, info = build_problem(records, targets, year, **parameters)
    info.engine = engine_meta
    return problem, info, inputs


def default_problem(records: int | None = None) -> tuple[Problem, str]:
    """The embedded CPS + SOI default problem (quietly: dropped targets are the build's to report),
    or the one built from its first `records` CPS rows; with a label for tables and plots."""

    cps = pd.read_csv(DEFAULT_RECORDS, nrows=records)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        problem, _ = build_problem(cps_to_soi(cps), read_table(DEFAULT_TARGETS, "target"), DEFAULT_YEAR)
    label = "default (CPS, SOI 2015)" if records is None else f"default, first {records:,} CPS records"
    return problem, label
