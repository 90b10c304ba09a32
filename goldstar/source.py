"""Where a reference's problem comes from, recorded so that any machine can rebuild it.

Two kinds: "build" (a record table and an SOI table through goldstar.build; no
records path means the embedded CPS default; `engine` names the records engine
of goldstar.engines that derives the table, e.g. taxcalc) and "directory" (a problem
directory in the interchange layout). Paths are stored as given, relative
to the working directory `make` runs in (the project root).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .exceptions import InputError, ReferenceFormatError
from .hashing import file_hash
from .layout import MATRIX, PROBLEM_JSON, RECORDS, TARGETS, read_problem
from .problem import DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_UPPER, Problem

KINDS = ("build", "directory")


@dataclass(frozen=True)
class ProblemSource:
    kind: str = "build"
    records: str | None = None
    targets: str | None = None
    year: int = 2015
    penalty: float = DEFAULT_PENALTY
    lower: float = DEFAULT_LOWER
    upper: float = DEFAULT_UPPER
    path: str | None = None
    engine: str | None = None  # goldstar.engines.ENGINES; None: as `goldstar build` without --engine
    engine_options: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields, without the engine ones when unset (references made before engines compare equal)."""
        data = asdict(self)
        for key in ("engine", "engine_options"):
            if data[key] is None:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProblemSource":
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ReferenceFormatError(f"the reference's problem source is not one of {KINDS}: {data!r}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ReferenceFormatError(f"the reference's problem source is malformed ({exc})") from None

    def input_files(self) -> dict[str, Path]:
        """The files this problem is made of, by role."""
        from .build import DEFAULT_RECORDS, DEFAULT_TARGETS

        if self.kind == "directory":
            base = Path(self.path or ".")
            return {name: base / name for name in (RECORDS, TARGETS, MATRIX, PROBLEM_JSON)}
        if self.engine is not None:
            from .engines import get_engine

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
            out[role] = {"file": str(path.name), "hash": file_hash(path)}
        return out

    def load(self) -> tuple[Problem, dict[str, Any]]:
        """The problem and the metadata that describes it (build facts, for "build")."""
        if self.kind == "directory":
            return read_problem(self.path or "."), {}
        from .build import build_from_files

        with warnings.catch_warnings():
            # dropped all-zero targets are recorded in the build facts instead
            warnings.simplefilter("ignore", UserWarning)
            problem, info, _ = build_from_files(
                self.records, self.targets, self.year,
                penalty=self.penalty, lower=self.lower, upper=self.upper,
                engine=self.engine, engine_options=self.engine_options,
            )
        meta: dict[str, Any] = {"build": info.metadata()}
        if info.engine is not None:
            # whether this machine's cache held the table is no fact about the problem
            meta["engine"] = {k: v for k, v in info.engine.items() if k != "cache_hit"}
        return problem, meta
