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
import pyarrow.parquet as pq

from ..store.atomic import atomic_write_text
from ..exceptions import InputError
from .output import MARKER, file_stem, read_m
from ..present.plots import ratio_histogram
from ..present.markup import esc, html_table, page_head, png_img

# The ratios the page counts records beyond.
RATIO_LEVELS = (1.5, 2.0, 5.0, 10.0)
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
            "above": {f"{level:g}": int(np.sum(r > level)) for level in RATIO_LEVELS},
            "max": float(r[worst]), "max_record_id": int(self.record_id[worst]),
        }


def read_summary(out: str | os.PathLike[str]) -> pd.DataFrame:
    """The directory's summary.csv, refusing a directory that is not an areas output."""
    out = Path(out)
    if not (out / MARKER).is_file():
        raise InputError(f"--areas {out}: not a goldstar areas output (no {MARKER})")
    try:
        return pd.read_csv(out / "summary.csv")
    except FileNotFoundError:
        raise InputError(f"--areas {out}: no summary.csv (did the batch finish?)") from None


def weight_sums(out: str | os.PathLike[str], summary: pd.DataFrame) -> WeightSums:
    """Sum the `ok` areas' multipliers, each times its pop_share, one area at a time."""
    records = pq.read_table(Path(out) / "records.parquet")
    weight = records.column("weight").to_numpy()
    total = np.zeros(weight.size)
    areas = []
    for row in summary.itertuples():
        if row.status != "ok":
            continue
        m = read_m(out, row.area)
        if m.size != weight.size:
            raise InputError(f"--areas {out}: area {row.area} has {m.size} multipliers for {weight.size} records")
        total += row.pop_share * m
        areas.append(row.area)
    if not areas:
        raise InputError(f"--areas {out}: no area with status ok, so no weights to sum")
    used = weight > 0
    return WeightSums(records.column("record_id").to_numpy()[used], total[used], areas)


def render(out: str | os.PathLike[str]) -> str:

    summary = read_summary(out)
    sums = weight_sums(out, summary)
    fig = sums.figures()
    with tempfile.TemporaryDirectory() as tmp:
        histogram = png_img(ratio_histogram(sums.ratio, Path(tmp) / "ratio.png"))
    outside = [_outside(out, a) for a in summary["area"]]
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
        "<h2>Every area</h2>",
        html_table(["area", "status", "targets", "kept", "dropped", "outside band", "seconds", "certified"], rows),
        "</body></html>",
    ])


def _outside(out: str | os.PathLike[str], area: str) -> Any:
    """Kept targets outside their band (> 1e-6 band widths), from the area's certificate."""
    try:
        row = json.loads((Path(out) / "areas" / f"{file_stem(area)}.json").read_text())
    except (OSError, ValueError):
        return ""
    return row.get("certificate", {}).get("targets_outside_band", "")


def write_areas_report(out_dir: str | os.PathLike[str], html_path: str | os.PathLike[str]) -> Path:
    return atomic_write_text(html_path, render(out_dir))
