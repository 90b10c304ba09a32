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

from ..defaults import DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_RECORDS, DEFAULT_TARGETS, DEFAULT_UPPER, DEFAULT_YEAR
from ..exceptions import InputError, ReferenceFormatError
from ..hashing import file_entry
from ..problem.model import Problem
from ..problem.objectives import objective_from_dict
from ..store.layout import MATRIX, PROBLEM_JSON, RECORDS, TARGETS, read_problem, read_settings
from .assemble import build_with_objective
from .engines import get_engine

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
            objective = (None if self.objective is None
                         else objective_from_dict(self.objective, "the source's objective"))
            problem, info, _, prepass = build_with_objective(
                self.records, self.targets, self.year, objective=objective, dropped=dropped,
                penalty=self.penalty, lower=self.lower, upper=self.upper,
                engine=self.engine, engine_options=self.engine_options,
            )
        meta: dict[str, Any] = {"build": info.metadata()}
        if prepass is not None:
            meta["prepass"] = prepass.as_dict()
        if info.engine is not None:
            # whether this machine's cache held the table is no fact about the problem
            meta["engine"] = {k: v for k, v in info.engine.items() if k != "cache_hit"}
        return problem, meta
