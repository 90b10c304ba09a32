"""TMD's per-area target files, read and written: `<area>_targets.csv`.

One row a target, columns varname, count, scope, agilo, agihi, fstatus, target (the cell
columns of goldstar.areas.spec, in TMD's order, and the target value). TMD writes and reads
them by hand too, so fields may be padded (`XTOT,       0,    0,-9e99, 9e99,      0,  33e6`),
numbers may be literals like `33e6`, and `#` lines are comments. The first row is the
population, XTOT (goldstar.areas.spec.Cell.is_population): an area's population share is its
XTOT target over the national weighted XTOT, as TMD computes it.

The area is the file name's prefix upper-cased: `al_targets.csv` is AL, `ny12_targets.csv`
NY12. Every areas batch writes its areas' targets in this form under `<out>/targets/`, each
value as the shortest decimal that reads back to the same float64, so TMD's tools read
goldstar's targets and goldstar reads them back unchanged.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..hashing import arrays_hash, file_hash
from ..store.atomic import atomic_write_text
from .spec import Cell, POPULATION_VARIABLE, check_unique, parse_cell, read_rows

SUFFIX = "_targets.csv"
TARGET_COLUMNS = ("varname", "count", "scope", "agilo", "agihi", "fstatus", "target")


@dataclass(frozen=True)
class TargetFile:
    """One area's target file: its cells and target values, aligned, the population first."""

    area: str
    path: Path
    cells: tuple[Cell, ...]
    targets: np.ndarray
    lines: tuple[int, ...]

    @property
    def population(self) -> float:
        return float(self.targets[0])


def area_of(path: Path) -> str:
    """The area a target file is for: its name's prefix, upper-cased."""
    return path.name[: -len(SUFFIX)].upper()


def read_target_file(path: str | os.PathLike[str]) -> TargetFile:
    """One `<area>_targets.csv` (module docstring); InputError names the file, line and column."""
    path = Path(path)
    where = f"target file {path}"
    rows = read_rows(path, "target file", TARGET_COLUMNS)
    cells, targets = [], []
    for line, row in rows:
        at = f"{where}: line {line}"
        cells.append(parse_cell(row, at))
        try:
            value = float(row["target"])
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InputError(f"{at}, column `target`: {row['target'].strip()!r} is not a finite number")
        targets.append(value)
    lines = [line for line, _ in rows]
    if not cells[0].is_population:
        raise InputError(f"{where}: line {lines[0]}: the first target must be the population, "
                         f"{POPULATION_VARIABLE} (count 0, scope 0, fstatus 0, agilo -9e99, agihi 9e99); "
                         f"found {cells[0].name}")
    if not targets[0] > 0:
        raise InputError(f"{where}: line {lines[0]}, column `target`: the population must be above 0, "
                         f"got {targets[0]!r}")
    check_unique(cells, lines, where)
    return TargetFile(area_of(path), path, tuple(cells), np.array(targets, dtype=np.float64), tuple(lines))


def read_target_dir(directory: str | os.PathLike[str], areas: list[str] | None = None) -> list[TargetFile]:
    """The target files of a directory, by area name (`areas`: only these, each required), all
    with the same cells (one spec made them), in the first file's order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"--targets-dir {directory}: not a directory")
    paths = {area_of(p): p for p in sorted(directory.glob(f"*{SUFFIX}"))}
    if not paths:
        raise InputError(f"--targets-dir {directory}: no <area>{SUFFIX} files")
    if areas is not None:
        missing = [a for a in areas if a not in paths]
        if missing:
            raise InputError(f"--targets-dir {directory}: no target file for area(s) {', '.join(missing[:5])} "
                             f"(expected e.g. {missing[0].lower()}{SUFFIX})")
        paths = {a: paths[a] for a in areas}
    files = [read_target_file(p) for p in paths.values()]
    first = files[0]
    keys = [c.key for c in first.cells]
    for f in files[1:]:
        if sorted(c.key for c in f.cells) != sorted(keys):
            extra = [c.name for c in f.cells if c.key not in set(keys)]
            lacking = [c.name for c in first.cells if c.key not in {x.key for x in f.cells}]
            what = (f"has {extra[0]}, which {first.path.name} lacks" if extra
                    else f"lacks {lacking[0]}, which {first.path.name} has")
            raise InputError(f"target file {f.path}: {what}; the files of one batch must target the same cells")
    return [_in_order(f, keys) for f in files]


def _in_order(f: TargetFile, keys: list[tuple]) -> TargetFile:
    position = {c.key: k for k, c in enumerate(f.cells)}
    order = [position[key] for key in keys]
    return TargetFile(f.area, f.path, tuple(f.cells[k] for k in order), f.targets[order],
                      tuple(f.lines[k] for k in order))


def target_dir_hash(files: list[TargetFile]) -> str:
    """What a batch's targets are, by value: every file's area and bytes."""
    return arrays_hash([("files", np.array([f"{f.area}:{file_hash(f.path)}" for f in files], dtype=object))])


def target_file_text(cells: list[Cell], targets: np.ndarray) -> str:
    """A target file's text, population first (module docstring)."""
    lines = [",".join(TARGET_COLUMNS)]
    for cell, value in zip(cells, np.asarray(targets, dtype=np.float64)):
        lines.append(f"{cell.varname},{cell.count},{cell.scope},{cell.agilo!r},{cell.agihi!r},{cell.fstatus},"
                     f"{float(value)!r}")
    return "\n".join(lines) + "\n"


POPULATION_CELL = Cell(POPULATION_VARIABLE, 0, 0, 0, -9e99, 9e99)


def write_target_files(directory: Path, areas: list, cells: tuple[Cell, ...], population: float | None) -> int:
    """Each area's targets as `<area>_targets.csv` under `directory` (atomically, one file at a
    time). A recipe without a population cell gets one first: the area's population share
    times the national weighted XTOT (`population`; none written when the records lack XTOT).
    Returns the number of files written."""
    if not any(c.is_population for c in cells) and population is None:
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for spec in areas:
        out_cells, values = list(cells), np.asarray(spec.targets, dtype=np.float64)
        at = next((k for k, c in enumerate(cells) if c.is_population), None)
        if at is None:
            out_cells = [POPULATION_CELL, *out_cells]
            values = np.concatenate([[spec.pop_share * population], values])
        elif at != 0:
            order = [at] + [k for k in range(len(cells)) if k != at]
            out_cells, values = [out_cells[k] for k in order], values[order]
        atomic_write_text(directory / f"{spec.name.lower()}{SUFFIX}", target_file_text(out_cells, values))
    return len(areas)
