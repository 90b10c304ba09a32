"""Per-area overrides of the band settings, and targets dropped by hand, from one of two files.

goldstar's CSV (`--overrides FILE`, default data/overrides.csv, empty): one row an area,

    area, eps, upper, targets, slack_penalty, note     required columns
    drop, lower, area_slack_penalty                     optional columns (no others)

An empty cell keeps the default. `slack_penalty` is M for the `targets` listed (';'-separated),
`area_slack_penalty` M for the area's other targets, `drop` the targets dropped by hand (reason
`override`), `lower` the multiplier floor, which must be 0 (AREA_FLOOR below). Target names are
TMD's labels (goldstar.areas.spec), matched by the cell they name, so `agi=[5e5,9e99)` names the
same cell as `agi=[500000.0,9e+99)`, and stored in goldstar's spelling. A row naming an area
outside the batch, a second row for an area, a target the recipe does not have, or drops of
every target are refused by row.

TMD's solver-overrides YAML (`--overrides FILE.yaml` or `.yml`), as TMD's developer mode writes it
for its districts (tmd/areas/prepare/recipes/cd_solver_overrides.yaml): a `_defaults` mapping and
one mapping an area, keyed by TMD's area code (`al01`, `ny12`, `ca`), each with any of

    constraint_tol                  eps
    multiplier_max, multiplier_min  upper, lower (which must be 0)
    slack_penalty                   area_slack_penalty (M for every target no rule or row prices)
    drop_targets                    drop: each entry a pattern, matched as TMD matches it, as a
                                    substring of the target names
    max_iter                        Clarabel's iteration cap, a whole number >= 1: band-newton
                                    solves to the float64 floor and has none, so it changes nothing

An area's mapping is laid over `_defaults`. The file's areas outside the batch are passed over
(TMD's file holds every district; the command warns when none of them is in the batch); an
unknown key, a key given twice, a value of the wrong kind, a pattern that matches none of the
recipe's targets, or patterns that drop all of them, is refused naming the file, the area and the
key. A pattern may match a target no record feeds (a
cell empty on these records is no area's target): such a drop is moot, and
goldstar.areas.command leaves it out.

TMD's per-area parameter files (`<area>_params.yaml` beside `<area>_targets.csv`, read with
`--targets-dir`): the same keys less drop_targets, with target_ratio_tolerance, the tolerance's
older name (constraint_tol wins where both are given), and TMD's knobs of its output and of its
earlier solver (dump_all_target_deviations, delta_init_value, delta_max_loops, iprint), checked
and without effect. As in TMD, the overrides file lies over them.

Each reads into one table of strings, TABLE_COLUMNS ("" where not given), which
goldstar.areas.problem.settings_for applies area by area, row after row.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from ..exceptions import InputError
from ..store.tables import read_text_table
from .recipe import DATA_DIR
from .spec import parse_name

DEFAULT_OVERRIDES = DATA_DIR / "overrides.csv"
CSV_COLUMNS = ("area", "eps", "upper", "targets", "slack_penalty", "note")
OPTIONAL_CSV_COLUMNS = ("drop", "lower", "area_slack_penalty")
TABLE_COLUMNS = CSV_COLUMNS + OPTIONAL_CSV_COLUMNS
# the numbers a row may give: the least each may be, and whether that least is allowed
NUMBER_COLUMNS = {"eps": (0.0, False), "upper": (0.0, False), "lower": (0.0, True),
                  "slack_penalty": (0.0, False), "area_slack_penalty": (0.0, False)}
# An area's multiplier box starts at 0 (TMD's default floor too): its pre-pass proves what [0, cap]
# cannot reach with records left out at x = 0, and the joint problem's box is [0, U_a]. A floor
# (`lower`) is accepted only at that value, which every area has already: it sets nothing.
AREA_FLOOR = 0.0
# the columns that set one of the area's settings (goldstar.areas.problem.AreaSettings) for all its targets
SETTING_OF_COLUMN = {"eps": "eps", "upper": "upper", "area_slack_penalty": "slack_penalty"}
# a table whose drops are TMD's patterns may drop a target no record feeds (module docstring)
DROPS_BY_PATTERN = "drops_by_pattern"


def read_overrides(path: str | os.PathLike[str] = DEFAULT_OVERRIDES, *, areas: Sequence[str] | None = None,
                   targets: Sequence[str] | None = None) -> pd.DataFrame:
    """The overrides table of `path` (module docstring), read by its kind (READERS, by suffix;
    CSV otherwise), for the batch's `areas` with the recipe's `targets`; InputError naming the
    file and where in it, before any work."""
    return READERS.get(Path(path).suffix.lower(), read_csv_overrides)(Path(path), areas, targets)


def read_csv_overrides(path: Path, areas: Sequence[str] | None, targets: Sequence[str] | None) -> pd.DataFrame:
    """goldstar's overrides CSV (module docstring) as the overrides table, its rows checked
    against the batch's `areas` and the recipe's `targets` where given."""
    where = f"overrides file {path}"
    table = read_text_table(path, "overrides file", CSV_COLUMNS)
    unknown = [c for c in table.columns if c not in TABLE_COLUMNS]
    if unknown:
        raise InputError(f"{where}: column(s) {', '.join(repr(c) for c in unknown)} are not overrides columns "
                         f"({', '.join(TABLE_COLUMNS)})")
    for column in OPTIONAL_CSV_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    table["area"] = table["area"].str.strip().str.upper()
    by_key = None if targets is None else {_target_key(name): name for name in targets}
    seen: dict[str, int] = {}
    for k, row in table.iterrows():
        line = f"{where}: row {k + 2}"
        for column in NUMBER_COLUMNS:
            if row[column].strip():
                try:
                    value = float(row[column])
                except ValueError:
                    value = math.nan
                _check_number(value, column, row[column], f"{line}, `{column}`")
        if row["slack_penalty"].strip() and not row["targets"].strip():
            raise InputError(f"{line}: `slack_penalty` needs `targets`")
        if not row["area"]:
            raise InputError(f"{line}: `area` is empty")
        if row["area"] in seen:
            raise InputError(f"{line}: area {row['area']} has a row already (row {seen[row['area']]}); "
                             "give each area one row")
        seen[row["area"]] = k + 2
        if areas is not None and row["area"] not in areas:
            raise InputError(f"{line}: area {row['area']} is not in this batch; remove the row, or run "
                             "its area with the others")
        for column in ("targets", "drop"):
            names = [x.strip() for x in row[column].split(";") if x.strip()]
            if by_key is not None:
                names = [_known_target(name, by_key, f"{line}, `{column}`") for name in names]
            table.loc[k, column] = ";".join(names)
        if targets is not None:
            _check_not_all(table.loc[k, "drop"].split(";"), targets, f"{line}, `drop`")
    return table[list(TABLE_COLUMNS)]


def _check_number(value: float, column: str, text: Any, where: str) -> None:
    """InputError `where` (the file, and the row or area and key) unless `value`, read from
    `text`, is a number `column` may hold (NUMBER_COLUMNS; a floor only AREA_FLOOR)."""
    least, allowed = NUMBER_COLUMNS[column]
    if not math.isfinite(value) or value < least or (value == least and not allowed):
        kind = "a number >= 0" if allowed else "a positive number"
        raise InputError(f"{where}: {text!r} is not {kind}")
    if column == "lower" and value != AREA_FLOOR:
        raise InputError(f"{where}: {value:g}: an area's multiplier floor must be {AREA_FLOOR:g} (its pre-pass and the "
                         "joint problem hold records at x = 0)")


def _check_not_all(drops: list[str], targets: Sequence[str], where: str) -> None:
    if set(targets) <= set(drops):
        raise InputError(f"{where}: drops every target of the recipe; nothing would be left to fit")


def _target_key(name: str) -> tuple | str:
    """A target's identity: its cell for a TMD label, else the name itself."""
    try:
        return parse_name(name)
    except InputError:
        return name


def _known_target(name: str, by_key: dict, where: str) -> str:
    key = _target_key(name)
    if key not in by_key:
        raise InputError(f"{where}: {name!r} is not a target of the recipe")
    return by_key[key]


# -- TMD's solver-overrides YAML and parameter files -----------------------------------------

DEFAULTS_KEY = "_defaults"
AREA_CODE = re.compile(r"^[a-z]{2}(\d{2})?$", re.IGNORECASE)  # TMD's: a state, or a state and district
# each key TMD's overrides file takes: the table column it fills (None: checked, and without
# effect) and the kind of value it holds (VALUE_KINDS)
YAML_KEYS: dict[str, tuple[str | None, str]] = {
    "constraint_tol": ("eps", "setting"), "multiplier_max": ("upper", "setting"),
    "multiplier_min": ("lower", "setting"), "slack_penalty": ("area_slack_penalty", "setting"),
    "drop_targets": ("drop", "patterns"), "max_iter": (None, "count"),
}
# a parameter file's: the same less drop_targets, TMD's older name of the tolerance (constraint_tol
# wins where both are given, as in TMD), and TMD's knobs of its output and of its earlier solver
PARAMS_KEYS: dict[str, tuple[str | None, str]] = {
    **{k: v for k, v in YAML_KEYS.items() if k != "drop_targets"},
    "target_ratio_tolerance": ("eps", "setting"), "dump_all_target_deviations": (None, "flag"),
    "delta_init_value": (None, "real"), "delta_max_loops": (None, "count"), "iprint": (None, "whole"),
}
PARAMS_SUFFIX = "_params.yaml"
# the areas a YAML file names, kept on its table for the command's warning (goldstar.areas.command)
NAMED_AREAS = "named_areas"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# what each kind of value must be, and how an error says it
VALUE_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (lambda v: _whole(v) and v >= 1, "a whole number >= 1"),
    "whole": (_whole, "a whole number"),
    "flag": (lambda v: isinstance(v, bool), "true or false"),
    "real": (_real, "a finite number"),
}


def _load_yaml(path: Path, where: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise InputError(f"{where}: reading TMD's YAML files needs PyYAML: pip install 'goldstar[areas]'") from None
    class Loader(yaml.SafeLoader):
        """yaml's safe loader, refusing a key given twice in one mapping (it keeps the last)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict:
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice",
                                                            key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 (a SafeLoader)
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not YAML ({' '.join(str(exc).split())})") from None


def read_tmd_overrides(path: Path, areas: Sequence[str] | None, targets: Sequence[str] | None) -> pd.DataFrame:
    """TMD's solver-overrides YAML (module docstring) as the overrides table: one row for each of
    the batch's `areas` (every area the file names when None), its entry over `_defaults`, its
    drop patterns matched against `targets` (kept as written when None)."""
    where = f"overrides file {path}"
    data = _load_yaml(path, where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: must hold a mapping of `{DEFAULTS_KEY}` and area codes, found "
                         f"{type(data).__name__}")
    entries = {}
    for key, entry in data.items():
        if not isinstance(key, str) or (key != DEFAULTS_KEY and not AREA_CODE.match(key)):
            raise InputError(f"{where}: {key!r} is neither `{DEFAULTS_KEY}` nor an area code like al01 or ca")
        name = key if key == DEFAULTS_KEY else key.upper()
        if name in entries:
            raise InputError(f"{where}: area {key!r} appears twice (as {name.lower()})")
        entries[name] = _yaml_entry(entry, f"{where}, {key}", YAML_KEYS)
    defaults = entries.pop(DEFAULTS_KEY, {})
    rows = []
    for area in sorted(entries) if areas is None else sorted(areas):
        entry = {**defaults, **entries.get(area, {})}
        patterns = entry.pop("drop", [])
        drops = patterns if targets is None else _matched(patterns, targets, f"{where}, {area.lower()}")
        rows.append(_row(area, entry, drops))
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS), dtype=str)
    table.attrs[DROPS_BY_PATTERN] = True
    table.attrs[NAMED_AREAS] = sorted(entries)
    return table


def read_params_files(directory: Path, prefixes: dict[str, str]) -> pd.DataFrame:
    """The rows of TMD's parameter files in `directory` (module docstring), one an area that has
    a file, `<prefix>_params.yaml` with `prefixes[area]` its target file's own prefix;
    InputError naming the file and key when one is malformed."""
    rows = []
    for area, prefix in prefixes.items():
        path = Path(directory) / f"{prefix}{PARAMS_SUFFIX}"
        if path.exists() and not path.is_file():
            raise InputError(f"parameter file {path}: not a file")
        if path.is_file():
            where = f"parameter file {path}"
            rows.append(_row(area, _yaml_entry(_load_yaml(path, where), where, PARAMS_KEYS), []))
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS), dtype=str)


def _row(area: str, entry: dict[str, float], drops: list[str]) -> dict[str, str]:
    """A table row: the area, its settings' numbers as text that reads back to the same float."""
    return {**dict.fromkeys(TABLE_COLUMNS, ""), **{k: repr(v) for k, v in entry.items()},
            "area": area, "drop": ";".join(drops)}


def with_params_files(overrides: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    """The parameter files' rows, then the overrides' (which so lie over them, as in TMD)."""
    if params.empty:
        return overrides
    table = pd.concat([params, overrides])  # the overrides' rows keep their file's row numbers
    table.attrs = dict(overrides.attrs)
    return table


def _yaml_entry(entry: Any, where: str, keys: dict[str, tuple[str | None, str]]) -> dict[str, Any]:
    """One area's (or the defaults') mapping of `keys` as table columns: the settings as floats,
    drop_targets as its list of patterns; InputError naming the key for anything else."""
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise InputError(f"{where}: must be a mapping of settings, found {type(entry).__name__}")
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in keys:
            raise InputError(f"{where}: {key!r} is not one of {', '.join(keys)}")
        column, kind = keys[key]
        if kind == "patterns":
            if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
                raise InputError(f"{where}, `{key}`: must be a list of target names or parts of them, "
                                 f"found {value!r}")
            out[column] = [p.strip() for p in value]
        elif kind == "setting":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                hint = (" (YAML reads 1e6 as text: write 1.0e+6)"
                        if isinstance(value, str) and _reads_as_number(value) else "")
                raise InputError(f"{where}, `{key}`: {value!r} is not a number{hint}")
            _check_number(float(value), column, value, f"{where}, `{key}`")
            if column not in out or key == "constraint_tol":  # constraint_tol over target_ratio_tolerance
                out[column] = float(value)
        else:
            check, says = VALUE_KINDS[kind]
            if not check(value):
                raise InputError(f"{where}, `{key}`: {value!r} is not {says}")
    return out


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _matched(patterns: list[str], targets: Sequence[str], where: str) -> list[str]:
    """The targets each pattern names (as TMD matches: a substring of the name), in the
    recipe's order; InputError for a pattern that names none."""
    for pattern in patterns:
        if not any(pattern in name for name in targets):
            raise InputError(f"{where}, `drop_targets`: {pattern!r} matches none of the recipe's targets")
    matched = [name for name in targets if any(pattern in name for pattern in patterns)]
    _check_not_all(matched, targets, f"{where}, `drop_targets`")
    return matched


# how each kind of overrides file is read, by its suffix (anything else: goldstar's CSV)
READERS: dict[str, Callable[[Path, Sequence[str] | None, Sequence[str] | None], pd.DataFrame]] = {
    ".yaml": read_tmd_overrides,
    ".yml": read_tmd_overrides,
}
