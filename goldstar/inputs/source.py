"""Where a reference's problem comes from, recorded so that any machine can rebuild it.

Two kinds: "build" (a record table and an SOI table through goldstar.inputs.build; no
records path means the embedded CPS default; `engine` names the records engine
of goldstar.inputs.engines that derives the table, e.g. taxcalc) and "directory" (a problem
directory in the interchange layout).

Paths (`path`, `records`, `targets`) are recorded relative to the reference
directory, so that `goldstar verify` finds the inputs from any working
directory, and the reference and its inputs can move together:
`goldstar goldstar --problem problems/p --reference reference/p` records
`../../problems/p`. An absolute path is recorded as given. `ProblemSource.given`
turns paths given on the command line (relative to the working directory)
into recorded ones; `resolved(reference_dir)` turns recorded ones back into
paths to open, and is what every reader of a recorded source calls.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..defaults import DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_RECORDS, DEFAULT_TARGETS, DEFAULT_UPPER, DEFAULT_YEAR
from ..exceptions import InputError, ReferenceFormatError
from ..hashing import file_entry, frame_entry
from ..problem.model import Problem
from ..problem.objectives import objective_from_dict
from ..problem.prepass import apply_policy
from ..store.layout import MATRIX, PROBLEM_JSON, RECORDS, TARGETS, read_problem, read_settings
from ..store.tables import read_table
from .build import BuildInfo, build_problem
from .cps import cps_to_soi
from .engines import get_engine, run_engine

KINDS = ("build", "directory")
_PATH_FIELDS = ("path", "records", "targets")
# bool is rejected separately: True is an int to Python, never a year or a penalty here
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "records": (str, type(None)), "targets": (str, type(None)), "path": (str, type(None)),
    "year": (int,), "penalty": (int, float), "lower": (int, float), "upper": (int, float),
    "objective": (dict, type(None)),
}


@dataclass(frozen=True)
class ProblemSource:
    kind: str = "build"
    records: str | None = None
    targets: str | None = None
    year: int = DEFAULT_YEAR
    penalty: float = DEFAULT_PENALTY
    lower: float = DEFAULT_LOWER
    upper: float = DEFAULT_UPPER
    path: str | None = None
    # the objective and its parameters for a build (goldstar.problem.objectives); None: penalized with `penalty`
    objective: dict[str, Any] | None = None
    engine: str | None = None  # goldstar.inputs.engines.ENGINES; None: as `goldstar build` without --engine
    engine_options: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields, without the engine and objective ones when unset (older references compare equal)."""
        data = asdict(self)
        for key in ("engine", "engine_options", "objective"):
            if data[key] is None:
                del data[key]
        return data

    @classmethod
    def given(cls, reference_dir: str | os.PathLike[str], **fields: Any) -> "ProblemSource":
        """A source from command-line values: relative paths re-expressed relative to `reference_dir`."""
        base = os.path.abspath(reference_dir)
        for name in _PATH_FIELDS:
            value = fields.get(name)
            if value is not None:
                value = Path(value)
                fields[name] = (value if value.is_absolute()
                                else Path(os.path.relpath(os.path.abspath(value), base))).as_posix()
        return cls(**fields)

    def resolved(self, reference_dir: str | os.PathLike[str]) -> "ProblemSource":
        """This source with its recorded paths made openable: relative ones joined to `reference_dir`."""
        base = os.path.abspath(reference_dir)
        changes = {}
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if value is not None and not Path(value).is_absolute():
                changes[name] = os.path.normpath(os.path.join(base, value))
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProblemSource":
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ReferenceFormatError(f"the reference's problem source is not one of {KINDS}: {data!r}")
        try:
            source = cls(**data)
        except TypeError as exc:
            raise ReferenceFormatError(f"the reference's problem source is malformed ({exc})") from None
        for name, kinds in _FIELD_TYPES.items():
            value = getattr(source, name)
            if isinstance(value, bool) or not isinstance(value, kinds):
                allowed = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
                raise ReferenceFormatError(
                    f"the reference's problem source: `{name}` must be {allowed}, found {value!r}"
                )
        return source

    def input_files(self) -> dict[str, Path]:
        """The files this problem is made of, by role."""

        if self.kind == "directory":
            base = Path(self.path or ".")
            return {name: base / name for name in (RECORDS, TARGETS, MATRIX, PROBLEM_JSON)}
        if self.engine is not None:

            files = get_engine(self.engine).input_files(
                Path(self.records) if self.records else None, self.engine_options or {}
            )
            return {**files, "targets": Path(self.targets) if self.targets else DEFAULT_TARGETS}
        return {
            "records": Path(self.records) if self.records else DEFAULT_RECORDS,
            "targets": Path(self.targets) if self.targets else DEFAULT_TARGETS,
        }

    def input_hashes(self) -> dict[str, dict[str, str]]:
        """xxh3-128 of each input file's bytes (milliseconds)."""
        out = {}
        for role, path in self.input_files().items():
            if not path.is_file():
                raise InputError(f"input {role}: {path} not found")
            out[role] = file_entry(path)
        return out

    def load(self, dropped: tuple[str, ...] | None = None) -> tuple[Problem, dict[str, Any]]:
        """The problem and the metadata that describes it (build facts, the band pre-pass).

        A band objective in target units drops its unreachable targets
        (objectives.band_prepass.apply_policy): found by the pre-pass, or, when
        `dropped` is given (a reference's recorded set), applied as recorded.
        A problem directory carries its dropped set in its objective, and the
        pre-pass that found it (the proof verify checks) in problem.json, as
        `goldstar build --objective band` recorded it.
        """

        if self.kind == "directory":
            problem = read_problem(self.path or ".")
            prepass = read_settings(self.path or ".").get("prepass")
            return problem, ({"prepass": prepass} if isinstance(prepass, dict) else {})

        with warnings.catch_warnings():
            # dropped all-zero targets are recorded in the build facts instead
            warnings.simplefilter("ignore", UserWarning)
            problem, info, _ = build_from_files(
                self.records, self.targets, self.year,
                penalty=self.penalty, lower=self.lower, upper=self.upper,
                engine=self.engine, engine_options=self.engine_options,
            )
        meta: dict[str, Any] = {"build": info.metadata()}
        if self.objective is not None:
            problem = problem.with_objective(objective_from_dict(self.objective, "the source's objective"))
            problem, prepass = apply_policy(problem, dropped)
            if prepass is not None:
                meta["prepass"] = prepass.as_dict()
        if info.engine is not None:
            # whether this machine's cache held the table is no fact about the problem
            meta["engine"] = {k: v for k, v in info.engine.items() if k != "cache_hit"}
        return problem, meta


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
