"""What weights mean in dollars: Tax-Calculator's totals under each set of weights.

For one Tax-Calculator run of the records (goldstar.inputs.engines.taxcalc_, cached),
each set of weights gives totals of income tax (iitax), payroll tax
(payrolltax) and AGI (c00100), in $bn: nationally, by AGI group and by filing
status (MARS), over all records, as TMD totals them. The first set is the
base; every other set is shown with its difference from it, and the
record-level view beside it: how many records' weights differ from the base's
by more than 1%, and the largest relative difference.

A difference between two solves means something only above the solvers' noise
floor: the spread of each total between two record orders of the same
problem, measured once per solver (scripts/noise_floor.py ->
benchmarks/noise_floor.json, in BENCHMARKS.md). A difference is marked above
the floor when it exceeds the largest floor of the two sets' solvers (a
weights file that names no solver takes the largest floor of all). Floors are
measured in both kinds of AMOUNTS, and a comparison uses those of its own:
the data year's (no weights file: the amounts a problem is fitted to) or aged
to the target year (a weights file, e.g. --tc-aged).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..defaults import DEFAULT_YEAR, NOISE_FLOOR
from ..exceptions import InputError
from ..store.outputs import METADATA_KEY, SOLVE_METADATA_KEY
from ..problem.validate import repeated_values
from ..inputs.build import agi_label
from ..inputs.engines import taxcalc_inputs
from ..inputs.engines.taxcalc_ import derive, installed_version, INSTALL_HINT
from ..store.reference import read_reference
from ..store.tables import rows_by_id
from .markup import Html, html_table

if TYPE_CHECKING:
    from ..inputs.engines.cache import CacheEntry

QUANTITIES = {"income tax": "tc_iitax", "payroll tax": "tc_payrolltax", "AGI": "tc_c00100"}
AGI_GROUPS = (
    (-math.inf, 0.0), (0.0, 25e3), (25e3, 50e3), (50e3, 100e3), (100e3, 200e3),
    (200e3, 500e3), (500e3, 1e6), (1e6, math.inf),
)
MARS_LABELS = {1: "single", 2: "joint", 3: "separate", 4: "head of household", 5: "surviving spouse"}
# The amounts Tax-Calculator's totals are taken over, with the engine options that give them: the
# data year's (no weights file), or aged to the tax year (a weights file; for the CPS file, --tc-aged).
AMOUNT_OPTIONS: dict[str, dict[str, Any]] = {"unaged": {}, "aged": {"aged": True}}
AMOUNTS = tuple(AMOUNT_OPTIONS)
# The Parquet metadata key under which a plain weights file names its solver ({"solver": name}):
# the key of a reference's weights (goldstar.store.outputs).
WEIGHTS_SOLVER_KEY = METADATA_KEY
# A record's weight "differs" when it moves by more than this fraction of the base weight.
RECORD_RTOL = 0.01
FILE_WEIGHTS = "file weights"


@dataclass
class WeightSet:
    """One set of weights by record_id, with the solver that made it (None: unknown)."""

    label: str
    record_id: np.ndarray
    weight: np.ndarray
    solver: str | None = None
    source: dict[str, Any] | None = None  # a reference's problem source


def load_weights(path: str | Path) -> WeightSet:
    """A reference directory (its weights, checked against its recorded hash, and final solver) or a
    Parquet file with record_id and weight; either way every weight finite and >= 0, ids unique."""

    path = Path(path)
    if path.is_dir():
        ref = read_reference(path)
        if ref.computed_weights_hash() != ref.metadata["weights_hash"]:
            raise InputError(f"weights {path}: the reference's weights no longer match its recorded hash "
                             "(`goldstar verify --reference` names what changed)")
        chain = ref.metadata.get("solver_chain") or [{}]
        return _checked(WeightSet(str(path), ref.record_id, ref.weight, chain[-1].get("method"),
                                  ref.metadata["problem"].get("source")))
    if not path.is_file():
        raise InputError(f"weights {path}: " + ("not a regular file" if path.exists() else "not found"))
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several kinds for unreadable files
        raise InputError(f"weights {path}: cannot be read as Parquet ({exc})") from None
    missing = [c for c in ("record_id", "weight") if c not in table.column_names]
    if missing:
        raise InputError(f"weights {path}: lacks column(s) {', '.join(missing)}")
    columns = {}
    for name in ("record_id", "weight"):
        column = table.column(name)
        if column.null_count:
            raise InputError(f"weights {path}: column {name} has {column.null_count:,} empty value(s)")
        values = column.to_numpy()
        if values.dtype.kind not in "iuf":
            raise InputError(f"weights {path}: column {name} must hold numbers, found {column.type}")
        columns[name] = values
    ids = columns["record_id"]
    if ids.dtype.kind == "f":
        if not (np.isfinite(ids).all() and (ids == np.round(ids)).all()):
            raise InputError(f"weights {path}: column record_id must hold whole numbers")
        ids = ids.astype(np.int64)
    return _checked(WeightSet(str(path), ids, columns["weight"].astype(np.float64),
                              _solver_of(table.schema.metadata or {})))


def _solver_of(metadata: dict[bytes, bytes]) -> str | None:
    """The solver a weights file names: `goldstar solve`'s metadata ("method"), or a plain file's
    {"solver": ...} under WEIGHTS_SOLVER_KEY (scripts/noise_floor.py); None when it names none."""
    for key, field_name in ((SOLVE_METADATA_KEY, "method"), (WEIGHTS_SOLVER_KEY, "solver")):
        if key in metadata:
            try:
                value = json.loads(metadata[key]).get(field_name)
            except (ValueError, AttributeError):
                value = None
            if isinstance(value, str):
                return value
    return None


def _checked(ws: WeightSet) -> WeightSet:
    """ws when it has rows, unique record_ids and finite weights >= 0; else InputError naming a record."""
    if ws.record_id.size == 0:
        raise InputError(f"weights {ws.label}: no records")
    repeated = repeated_values(ws.record_id)
    if repeated.size:
        raise InputError(f"weights {ws.label}: record_id {int(repeated[0])} appears more than once "
                         f"({np.unique(repeated).size:,} repeated id(s))")
    for bad, what in ((~np.isfinite(ws.weight), "not finite"), (ws.weight < 0, "negative")):
        if bad.any():
            first = int(np.argmax(bad))
            raise InputError(f"weights {ws.label}: {int(bad.sum()):,} weight(s) {what}, e.g. record_id "
                             f"{int(ws.record_id[first])}: {ws.weight[first]}")
    return ws


def aligned(record_id: np.ndarray, ws: WeightSet) -> np.ndarray:
    """ws's weights in the order of `record_id`; the two must hold the same records."""
    rows, found = rows_by_id(ws.record_id, record_id)
    if not found.all() or ws.record_id.size != record_id.size:
        missing = record_id[~found]
        extra = np.setdiff1d(ws.record_id, record_id)
        parts = ([f"{missing.size:,} of the file's records have no weight (e.g. record_id "
                  f"{missing[:3].tolist()})"] if missing.size else []) + (
                 [f"{extra.size:,} weights are for records not in the file (e.g. record_id "
                  f"{extra[:3].tolist()})"] if extra.size else [])
        raise InputError(f"weights {ws.label}: its {ws.record_id.size:,} records are not the {record_id.size:,} "
                         f"records of the Tax-Calculator file: {'; '.join(parts)}")
    return ws.weight[rows]


def group_masks(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row groups: national, each AGI group, each filing status."""

    agi = table["tc_c00100"].to_numpy(dtype=np.float64)
    mars = table["tc_MARS"].to_numpy()
    masks = {"national": np.ones(len(table), dtype=bool)}
    for lower, upper in AGI_GROUPS:
        masks[f"AGI {agi_label(lower, upper)}"] = (agi >= lower) & (agi < upper)
    for code, label in MARS_LABELS.items():
        if (mars == code).any():
            masks[label] = mars == code
    return masks


def totals(table: pd.DataFrame, weight: np.ndarray) -> dict[str, float]:
    """{"<quantity>/<group>": $bn} for every quantity and group."""
    out = {}
    masks = group_masks(table)
    for quantity, column in QUANTITIES.items():
        values = table[column].to_numpy(dtype=np.float64) * weight
        for group, mask in masks.items():
            out[f"{quantity}/{group}"] = float(values[mask].sum()) / 1e9
    return out


def amounts_of(inputs: Any) -> str:
    """"aged" when Tax-Calculator ages the records (a weights file), else "unaged"."""
    return "aged" if inputs.weights is not None else "unaged"


def read_floors(amounts: str, path: Path = NOISE_FLOOR) -> dict[str, dict[str, float]]:
    """{solver: {total key: spread in $bn}} in these amounts, or {} when not measured yet."""
    if amounts not in AMOUNTS:
        raise ValueError(f"amounts must be one of {AMOUNTS}, got {amounts!r}")
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["floors"].get(amounts, {})


def floor_of(floors: dict[str, dict[str, float]], solvers: list[str | None], key: str) -> float | None:
    """The largest floor of these solvers for one total (unknown solver: the largest of all)."""
    if not floors:
        return None
    known = [s for s in solvers if s in floors]
    pool = known if len(known) == len(solvers) else list(floors)
    values = [floors[s].get(key) for s in pool if floors[s].get(key) is not None]
    return max(values) if values else None


@dataclass
class Impact:
    """Totals by set (columns) and key (rows), differences from the base, the record-level view."""

    labels: list[str]
    solvers: list[str | None]
    totals: pd.DataFrame
    record_view: list[dict[str, Any]] = field(default_factory=list)
    floors: dict[str, dict[str, float]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def differences_by_cell(self) -> dict[tuple[str, str], dict[str, Any]]:
        """differences() keyed by (set, total), each row a dict of Python values."""
        return {(row["set"], row["total"]): row for row in self.differences().to_dict("records")}

    def differences(self) -> pd.DataFrame:
        """Each set minus the base, with the floor and whether the difference is above it."""
        base = self.labels[0]
        rows = []
        for i, label in enumerate(self.labels[1:], start=1):
            for key, value in self.totals[label].items():
                diff = value - self.totals.at[key, base]
                floor = (floor_of(self.floors, [self.solvers[0], self.solvers[i]], key)
                         if FILE_WEIGHTS not in (label, base) else None)
                rows.append({"set": label, "total": key, "difference": diff, "floor": floor,
                             "above_floor": None if floor is None else abs(diff) > floor})
        return pd.DataFrame(rows)


def measure(sets: list[WeightSet], overrides: dict[str, Any], *,
            file_weights: bool = True) -> tuple[Impact, "CacheEntry"]:
    """The impact of `sets` on their Tax-Calculator inputs (inputs_for), with the floors of those
    amounts; and the cache entry of the derived table (a hit: Tax-Calculator did not run)."""

    inputs = inputs_for(sets, dict(overrides))
    table, entry = derive(inputs)
    amounts = amounts_of(inputs)
    impact = compute_impact(table, sets, file_weights=file_weights, floors=read_floors(amounts))
    impact.facts = {"year": inputs.year, "records": Path(inputs.records).name, "amounts": amounts,
                    "taxcalc": installed_version()}
    return impact, entry


def compute_impact(table: pd.DataFrame, sets: list[WeightSet], *, file_weights: bool = True,
                   floors: dict[str, dict[str, float]]) -> Impact:
    """Totals for each set (after the file's own weights when asked), against the first set;
    `floors` ({} for none) mark the differences above them."""
    record_id = table["record_id"].to_numpy()
    weights = [aligned(record_id, ws) for ws in sets]
    labels = [ws.label for ws in sets]
    solvers: list[str | None] = [ws.solver for ws in sets]
    if file_weights:
        weights.append(table["weight"].to_numpy(dtype=np.float64))
        labels.append(FILE_WEIGHTS)
        solvers.append(None)
    frame = pd.DataFrame({label: totals(table, w) for label, w in zip(labels, weights)})
    view = []
    base = weights[0]
    for label, w in zip(labels[1:], weights[1:]):
        with np.errstate(divide="ignore", invalid="ignore"):  # a base weight of 0: 0 if still 0, else inf
            rel = np.where(base == 0, np.where(w == 0, 0.0, np.inf), np.abs(w - base) / np.abs(base))
        worst = int(np.argmax(rel))
        view.append({"set": label, "records": int(rel.size), "differ": int((rel > RECORD_RTOL).sum()),
                     "largest": float(rel[worst]), "record_id": int(record_id[worst]),
                     "base_weight": float(base[worst]), "weight": float(w[worst])})
    return Impact(labels, solvers, frame, view, floors)


def inputs_for(sets: list[WeightSet], overrides: dict[str, Any]) -> Any:
    """The Tax-Calculator inputs: the first reference's source, with the command line's overrides."""

    source = next((ws.source for ws in sets if ws.source), None) or {}
    if source.get("kind") == "directory":
        source = {}
    if source and source.get("engine") not in (None, "cps", "taxcalc"):
        raise InputError(f"the reference's records engine {source.get('engine')!r} is no Tax-Calculator input")
    records, year = overrides.pop("records", None), overrides.pop("year", None)
    if records is not None and not str(records).strip():
        raise InputError("--records: an empty path")
    records = records if records is not None else source.get("records")
    year = year if year is not None else source.get("year", DEFAULT_YEAR)
    options = dict(source.get("engine_options") or {}) if source.get("engine") == "taxcalc" else {}
    options.update({k: v for k, v in overrides.items() if v is not None})
    return taxcalc_inputs(Path(records) if records else None, int(year), options)


# -- rendering ---------------------------------------------------------------------------


def text_tables(impact: Impact) -> str:
    """The totals with differences, then the record-level view, as plain text."""
    diffs = impact.differences_by_cell()
    header = ["total ($bn)"] + impact.labels + [f"diff {lab}" for lab in impact.labels[1:]]
    rows = []
    for key in impact.totals.index:
        cells = [key] + [f"{impact.totals.at[key, lab]:,.3f}" for lab in impact.labels]
        for lab in impact.labels[1:]:
            d = diffs[(lab, key)]
            mark = "" if d["above_floor"] is None else (" *" if d["above_floor"] else "")
            cells.append(f"{d['difference']:+.4g}{mark}")
        rows.append(cells)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header] + rows]
    if _judged(impact):
        lines.append(f"(* : above the largest noise floor of the two sets' solvers in {_amounts(impact)} amounts, "
                     "BENCHMARKS.md)" if impact.floors else f"(no noise floor measured in {_amounts(impact)} amounts: "
                     "see benchmarks/noise_floor.json)")
    lines.append("")
    base = impact.labels[0]
    for v in impact.record_view:
        lines.append(
            f"{v['set']} vs {base}: {v['differ']:,} of {v['records']:,} records' weights differ by more than "
            f"{RECORD_RTOL:.0%}; largest {v['largest']:.3g} relative (record_id {v['record_id']}: "
            f"{v['base_weight']:.6g} -> {v['weight']:.6g})"
        )
    return "\n".join(lines)


def _judged(impact: Impact) -> bool:
    """Whether any difference is judged against a floor (the file's own weights never are)."""
    return sum(label != FILE_WEIGHTS for label in impact.labels) > 1


def _amounts(impact: Impact) -> str:
    return impact.facts.get("amounts", "unaged")


def html_section(impact: Impact) -> str:
    """The same tables as an HTML fragment (for goldstar report and --html)."""

    diffs = impact.differences_by_cell()
    header = ["total ($bn)"] + impact.labels + [f"difference, {lab}" for lab in impact.labels[1:]]
    rows: list[list[Any]] = []
    for key in impact.totals.index:
        cells: list[Any] = [key] + [f"{impact.totals.at[key, lab]:,.3f}" for lab in impact.labels]
        for lab in impact.labels[1:]:
            d = diffs[(lab, key)]
            text = f"{d['difference']:+.4g}"
            if d["above_floor"]:
                cells.append(Html(f"<b>{text}</b> (floor {d['floor']:.3g})"))
            else:
                cells.append(text + (f" (within floor {d['floor']:.3g})" if d["above_floor"] is False else ""))
        rows.append(cells)
    view = [[v["set"], f"{v['differ']:,} of {v['records']:,}", f"{v['largest']:.3g}",
             v["record_id"], f"{v['base_weight']:.6g} \u2192 {v['weight']:.6g}"] for v in impact.record_view]
    facts = html.escape(", ".join(f"{k} {v}" for k, v in impact.facts.items()))
    floor_note = ("" if not _judged(impact) else
                  f"Bold: above the largest noise floor of the two sets' solvers in {_amounts(impact)} amounts "
                  "(BENCHMARKS.md)." if impact.floors
                  else f"No noise floor measured in {_amounts(impact)} amounts (benchmarks/noise_floor.json).")
    return "\n".join([
        "<h2>What the weights mean in dollars</h2>",
        f"<p>Tax-Calculator totals over all records, $bn ({facts}). {floor_note}</p>",
        html_table(header, rows),
        f"<h3>Record-level view (against {html.escape(impact.labels[0])})</h3>",
        html_table(["set", f"weights differing by > {RECORD_RTOL:.0%}", "largest relative difference",
                "record_id", "weight"], view),
    ])


def report_section(reference_dir: str | Path) -> str:
    """goldstar report's dollars section: the reference against the file's own weights, when
    Tax-Calculator is installed and the reference has a Tax-Calculator input; else one line why not."""

    if installed_version() is None:
        return f"<h2>What the weights mean in dollars</h2><p>Not shown: {html.escape(INSTALL_HINT)}.</p>"
    ws = load_weights(reference_dir)
    source = ws.source or {}
    if source.get("kind") != "build" or (source.get("records") and source.get("engine") is None):
        return ("<h2>What the weights mean in dollars</h2><p>Not shown: this reference's records are no "
                "Tax-Calculator input file.</p>")
    return html_section(measure([ws], {})[0])
