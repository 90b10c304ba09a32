"""What users look at after an areas batch (`goldstar report --areas DIR`).

Two things, from an areas output directory (goldstar.areas.output):

- each area's row: status, targets kept and dropped, targets outside their
  band, seconds, certificate;
- TMD's open problem: the sum over the areas of a record's area weight
  against its national weight. Area a gives record i the weight
  pop_share_a x w_i x m_ai, so the ratio is sum_a pop_share_a m_ai. Where the
  areas split the nation (states, districts, synthetic:N) a ratio far from 1
  means the areas together use the record very differently from the nation
  (TMD measured up to 16.6x). The ratio is taken over the areas of the
  directory that have weights (status `ok`); a list like AL,CA covers part of
  the nation only, and the page says how many areas it summed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..store.atomic import atomic_write_text
from ..exceptions import InputError
from .exhaustion import SUM_LEVELS, above_cap
from .joint_run import read_joint
from .output import MARKER, WITHIN_KIND, WITHIN_MARKER, file_stem, read_m, read_marker
from ..present.plots import ratio_histogram
from ..present.markup import esc, html_table, page_head, png_img
from ..hashing import file_hash

QUANTILES = (0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0)


@dataclass
class WeightSums:
    """sum_a pop_share_a m_ai for every record with a national weight > 0."""

    record_id: np.ndarray
    ratio: np.ndarray
    areas: list[str]

    def figures(self) -> dict[str, Any]:
        r = self.ratio
        worst = int(np.argmax(r))
        return {
            "areas_summed": len(self.areas), "records": int(r.size),
            "quantiles": {f"{q:g}": float(np.quantile(r, q)) for q in QUANTILES},
            # beyond the rounding of a sum over the areas: a record held at a cap is not above it
            "above": {f"{level:g}": int(above_cap(r, level, len(self.areas)).sum()) for level in SUM_LEVELS},
            "max": float(r[worst]), "max_record_id": int(self.record_id[worst]),
        }


# The summary.csv columns the page reads, and those of them that must be numbers.
SUMMARY_USED = ("area", "status", "synthetic", "targets", "kept", "n_dropped", "seconds", "certified", "pop_share")
SUMMARY_NUMBERS = ("targets", "kept", "n_dropped", "seconds", "pop_share")


def read_summary(out: str | os.PathLike[str], option: str = "--areas") -> pd.DataFrame:
    """The directory's summary.csv, refusing a directory that is not an areas output and a
    summary that cannot be read or lacks a column the page reads (InputError naming the file)."""
    out = Path(out)
    if read_marker(out) is None:
        within = read_marker(out, WITHIN_MARKER, WITHIN_KIND)
        if within is not None:
            states = [str(state) for state in within.get("states", [])]
            hint = f"; give one of them, e.g. {option} {out / states[0]}" if option == "--areas" and states else ""
            raise InputError(f"{option} {out}: holds several states' districts ({', '.join(states)}), one areas "
                             f"output a state, not one areas output{hint}")
        raise InputError(f"{option} {out}: not a goldstar areas output (no readable {MARKER})")
    path = out / "summary.csv"
    try:
        summary = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{option} {out}: no summary.csv (did the batch finish?)") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{option} {out}: {path} cannot be read ({exc})") from None
    missing = [c for c in SUMMARY_USED if c not in summary.columns]
    if missing:
        raise InputError(f"{option} {out}: {path} lacks column(s) {', '.join(missing)}")
    for column in SUMMARY_NUMBERS:
        values = pd.to_numeric(summary[column], errors="coerce")
        bad = values.isna() & summary[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{option} {out}: {path}, row {row + 2}, column {column!r}: "
                             f"{summary[column].iloc[row]!r} is not a number")
        summary[column] = values
    for column in ("area", "status"):
        bad = summary[column].isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{option} {out}: {path}, row {row + 2}, column {column!r}: missing")
        summary[column] = summary[column].astype(str)
    share = summary["pop_share"].to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(share) & (share > 0))  # a cut row leaves it missing
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{option} {out}: {path}, row {row + 2}, column 'pop_share': {float(share[row])!r} is not a "
                         "population share (a number > 0; a row cut short leaves it missing)")
    repeated = summary["area"].duplicated()
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        raise InputError(f"{option} {out}: {path}, row {row + 2}: area {summary['area'].iloc[row]} again "
                         "(the batch writes one row an area)")
    return summary


def read_area_row(out: str | os.PathLike[str], area: str, option: str = "--areas") -> dict[str, Any]:
    """areas/<AREA>.json, the row the batch wrote last for the area; InputError naming the file
    when it is missing, not JSON, or a field the page reads has the wrong type."""
    path = Path(out) / "areas" / f"{file_stem(area)}.json"
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{option} {out}: {path} is missing (the batch writes one for every area)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{option} {out}: {path} cannot be read as JSON ({exc})") from None
    if not isinstance(row, dict):
        raise InputError(f"{option} {out}: {path} is not a JSON object")
    certificate = row.get("certificate", {})
    if not isinstance(certificate, dict):
        raise InputError(f"{option} {out}: {path}: `certificate` must be an object, found {certificate!r}")
    outside = certificate.get("targets_outside_band")
    if outside is not None and (isinstance(outside, bool) or not isinstance(outside, int)):
        raise InputError(f"{option} {out}: {path}: `certificate.targets_outside_band` must be a whole number, "
                         f"found {outside!r}")
    files = row.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise InputError(f"{option} {out}: {path}: `files` must map file names to their hashes, found {files!r}")
    for name in ("area", "status"):
        if name in row and not isinstance(row[name], str):
            raise InputError(f"{option} {out}: {path}: `{name}` must be a string, found {row[name]!r}")
    if row.get("area", area) != area:
        raise InputError(f"{option} {out}: {path} is the row of area {row['area']!r}, not {area!r}")
    return row


def area_multipliers(out: str | os.PathLike[str], area: str, row: dict[str, Any], n: int,
                     option: str = "--areas") -> np.ndarray:
    """m/<AREA>.parquet, checked against the hash its row records (when it records one) and for n
    finite multipliers >= 0; InputError naming the file otherwise."""

    out = Path(out)
    name = f"m/{file_stem(area)}.parquet"
    path = out / name
    if not path.is_file():
        raise InputError(f"{option} {out}: {path} is missing (area {area} has status ok)")
    recorded = row.get("files", {}).get(name)
    if recorded is not None:
        found = file_hash(path)
        if found != recorded:
            raise InputError(f"{option} {out}: {path} changed since the batch wrote it (hash {found}, "
                             f"recorded {recorded} in areas/{file_stem(area)}.json)")
    try:
        m = read_m(out, area)
    except (OSError, KeyError, pa.ArrowException) as exc:
        raise InputError(f"{option} {out}: {path} cannot be read ({exc})") from None
    if m.dtype != np.float64 or m.size != n:
        raise InputError(f"{option} {out}: {path}: {m.size} multipliers ({m.dtype}) for {n} records")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise InputError(f"{option} {out}: {path}: multipliers must be finite and >= 0")
    return m


def read_records(out: str | os.PathLike[str], option: str = "--areas") -> tuple[np.ndarray, np.ndarray]:
    """record_id and national weight of records.parquet; InputError naming the file."""
    path = Path(out) / "records.parquet"
    if not path.is_file():
        raise InputError(f"{option} {out}: {path} is missing")
    try:
        records = pq.read_table(path, columns=["record_id", "weight"])
        ids = records.column("record_id").to_numpy(zero_copy_only=False)
        weight = records.column("weight").to_numpy(zero_copy_only=False).astype(np.float64)
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        raise InputError(f"{option} {out}: {path} cannot be read ({exc})") from None
    if not np.all(np.isfinite(weight)):
        raise InputError(f"{option} {out}: {path}: column 'weight' holds values that are not finite")
    return ids, weight


def weight_sums(out: str | os.PathLike[str], summary: pd.DataFrame,
                rows: dict[str, dict[str, Any]] | None = None) -> WeightSums:
    """Sum the `ok` areas' multipliers, each times its pop_share, one area at a time."""
    record_id, weight = read_records(out)
    total = np.zeros(weight.size)
    areas = []
    for row in summary.itertuples():
        if row.status != "ok":
            continue
        stored = rows[row.area] if rows is not None else read_area_row(out, row.area)
        total += row.pop_share * area_multipliers(out, row.area, stored, weight.size)
        areas.append(row.area)
    if not areas:
        raise InputError(f"--areas {out}: no area with status ok, so no weights to sum")
    used = weight > 0
    return WeightSums(record_id[used], total[used], areas)


def joint_section(out: str | os.PathLike[str], summary: pd.DataFrame, separate: WeightSums) -> list[str]:
    """The joint solve of the directory (goldstar.areas.joint_run), beside the separate batch it
    started from: its coupling, certificate and solve, and the per-record sums of both; no lines
    when the directory has none."""
    found = read_joint(out)
    if found is None:
        return []
    record, m = found
    stale = [area for area in record["areas"]
             if area not in set(summary["area"]) or read_area_row(out, area).get("input_hash") != record["input_hashes"][area]]
    if stale:
        return [f"<h2>The joint solve ({esc(record['coupling'])})</h2>",
                f"<p>joint/ holds a joint solve made from other inputs than the batch now in this directory "
                f"(area {esc(stale[0])}'s input hash differs{f', and {len(stale) - 1} more' if len(stale) > 1 else ''}); "
                "its figures are not shown. Run the batch again with --max-exhaustion or --additive.</p>"]
    record_id, weight = read_records(out)
    share = dict(zip(summary["area"], summary["pop_share"]))
    total = np.zeros(weight.size)
    for area, multipliers in m.items():
        if multipliers.size != weight.size:
            raise InputError(f"--areas {out}: joint/m/{file_stem(area)}.parquet: {multipliers.size} multipliers for "
                             f"{weight.size} records")
        total += share[area] * multipliers
    joint = WeightSums(record_id[weight > 0], total[weight > 0], list(m))
    table = []
    for name, sums in (("separate", separate), (f"joint ({record['coupling']})", joint)):
        fig = sums.figures()
        table.append([name] + [f"{fig['quantiles'][k]:.4g}" for k in ("0.5", "0.99", "1")]
                     + [fig["above"][f"{level:g}"] for level in SUM_LEVELS])
    solve = record["solve"]
    verdict = "certified" if record["certified"] else "NOT certified: " + "; ".join(record["failures"])
    return [
        f"<h2>The joint solve ({esc(record['coupling'])})</h2>",
        f"<p>{len(m)} areas solved together from the separate solves: {esc(solve['message'])}; "
        f"{solve['inner']} Newton steps, {solve['seconds']:.1f} s; {esc(verdict)}.</p>",
        html_table(["weights", "median", "99%", "max"] + [f"above {level:g}x" for level in SUM_LEVELS], table),
    ]


def unfinished(out: str | os.PathLike[str], summary: pd.DataFrame) -> int | None:
    """The number of areas the batch in `out` was started with (its marker's count) when
    summary.csv holds fewer of them: the batch stopped before its end (summary.csv is rewritten
    as each area finishes). None when every area has its row."""
    count = (read_marker(Path(out)) or {}).get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count > len(summary):
        return count
    return None


def render(out: str | os.PathLike[str], summary: pd.DataFrame | None = None) -> str:
    """The report page of the batch in `out` (its summary.csv as read_summary reads it, unless
    given)."""
    summary = read_summary(out) if summary is None else summary
    started = unfinished(out, summary)
    stored = {area: read_area_row(out, area) for area in summary["area"]}
    sums = weight_sums(out, summary, stored)
    fig = sums.figures()
    with tempfile.TemporaryDirectory() as tmp:
        histogram = png_img(ratio_histogram(sums.ratio, Path(tmp) / "ratio.png"))
    outside = [stored[a].get("certificate", {}).get("targets_outside_band", "") for a in summary["area"]]
    rows = [[r.area, r.status, r.targets, r.kept, r.n_dropped, o, f"{r.seconds:.2f}", bool(r.certified)]
            for r, o in zip(summary.itertuples(), outside)]
    order = np.argsort(sums.ratio)[::-1][:10]
    top = [[int(sums.record_id[i]), f"{sums.ratio[i]:.4g}"] for i in order]
    status = summary["status"].value_counts().to_dict()
    quant = fig["quantiles"]
    return "\n".join([
        page_head("goldstar areas report"),
        f"<h1>Areas: {esc(str(out))}</h1>",
        f"<p>{len(summary)} areas: " + ", ".join(f"{esc(k)} {v}" for k, v in sorted(status.items()))
        + (" (synthetic areas)" if bool(summary["synthetic"].any()) else "") + ".</p>",
        *([] if started is None else [
            f"<p><strong>The batch has not finished: {len(summary)} of its {started} areas have a row in "
            "summary.csv, and every figure below is of those areas alone.</strong></p>"]),
        "<h2>Sum over the areas of each record's area weight, against its national weight</h2>",
        f"<p>Summed over the {fig['areas_summed']} areas with weights (status ok), for the "
        f"{fig['records']:,} records with a national weight. The ratio is sum over areas of pop_share x m "
        "(1 where the areas together use a record as the nation does; TMD measured up to 16.6x).</p>",
        html_table(["min", "1%", "10%", "median", "90%", "99%", "max", "record_id of the max"],
               [[f"{quant[k]:.4g}" for k in ("0", "0.01", "0.1", "0.5", "0.9", "0.99", "1")] + [fig["max_record_id"]]]),
        html_table([f"records above {k}x" for k in fig["above"]], [list(fig["above"].values())]),
        histogram,
        "<h3>The records with the largest ratio</h3>",
        html_table(["record_id", "ratio"], top),
        *joint_section(out, summary, sums),
        "<h2>Every area</h2>",
        html_table(["area", "status", "targets", "kept", "dropped", "outside band", "seconds", "certified"], rows),
        "</body></html>",
    ])


def write_areas_report(out_dir: str | os.PathLike[str], html_path: str | os.PathLike[str],
                       summary: pd.DataFrame | None = None) -> Path:
    """The report page of the batch in `out_dir`, written whole to `html_path`."""
    return atomic_write_text(html_path, render(out_dir, summary))
