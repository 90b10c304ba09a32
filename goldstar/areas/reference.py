"""The compact certified areas reference: the duals y of every area, not its weights.

At the band optimum an area's multipliers are a function of its dual y
(goldstar.problem.objectives.band, goldstar.certificate.band):

    x(y) = clip(1 - (C^T y) / 2, lower, upper),

so J = 77 numbers an area store the answer for 280,005 records (51 states:
~32 KB, against ~100 MB of multipliers). `reference/areas/`:

    duals.parquet   area, target, y (float64; null for a dropped target); metadata
                    under b"goldstar-areas": per area its status, input hash, settings,
                    dropped targets, pop_share, and the fingerprint of its weights
                    (n, positive weights, total, sdev, max), plus the national hashes
    MANIFEST.json   a sorted summary for readable diffs

Verify rebuilds each area's Problem from the inputs (input hash checked),
recomputes x(y), certifies it (goldstar.certify with the stored y: fixed
point, duality gap, kept bands), and compares the weight fingerprint with
the recorded one at rtol 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..store.atomic import atomic_write, atomic_write_text
from ..exceptions import InputError
from ..certificate import certify
from .problem import build_area_problem

KEY = b"goldstar-areas"
FINGERPRINT_RTOL = 1e-9  # the reproducibility bar


def fingerprint(weight: np.ndarray) -> dict[str, float]:
    return {"n": int(weight.size), "positive": int(np.sum(weight > 0)), "total": float(weight.sum()),
            "sdev": float(weight.std()), "max": float(weight.max())}


def write_reference(directory: Path, rows: list[dict[str, Any]], cell_names, national_hashes: dict,
                    weights: dict[str, np.ndarray], area_set: str) -> None:
    """Write the reference of `rows` (each with its y) atomically; weights[area] for the fingerprints."""
    areas, targets, ys, meta = [], [], [], {}
    for row in rows:
        y = row.get("y")
        if y is None:
            continue
        areas += [row["area"]] * len(cell_names)
        targets += list(cell_names)
        ys += y
        meta[row["area"]] = {
            "status": row["status"], "input_hash": row["input_hash"], "kind": row["kind"],
            "synthetic": row["synthetic"], "pop_share": row["pop_share"], "eps": row["eps"], "upper": row["upper"],
            "dropped": [d["name"] for d in row.get("dropped", [])], "certified": row.get("certified"),
            "fingerprint": fingerprint(weights[row["area"]]),
        }
    table = pa.table({"area": pa.array(areas, pa.string()), "target": pa.array(targets, pa.string()),
                      "y": pa.array(ys, pa.float64())})
    info = {"areas": area_set, "national": national_hashes, "by_area": meta}
    table = table.replace_schema_metadata({KEY: json.dumps(info, sort_keys=True, default=str).encode()})
    manifest = {"areas": area_set, "count": len(meta),
                "status": {k: sum(m["status"] == k for m in meta.values()) for k in sorted({m["status"] for m in meta.values()})},
                "by_area": {a: {"status": m["status"], "dropped": len(m["dropped"]), "total": m["fingerprint"]["total"]}
                            for a, m in sorted(meta.items())}}
    directory = Path(directory)
    if directory.is_dir() and any(directory.iterdir()) and not _is_areas_reference(directory):
        raise InputError(f"{directory}: a non-empty directory that is not an areas reference; not written")
    # each file is written atomically; duals.parquet carries everything verify needs
    atomic_write(directory / "duals.parquet", lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    atomic_write_text(directory / "MANIFEST.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _is_areas_reference(directory: Path) -> bool:
    try:
        return KEY in (pq.read_schema(directory / "duals.parquet").metadata or {})
    except (OSError, pa.ArrowException):
        return False


def read_reference(directory: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    path = Path(directory) / "duals.parquet"
    if not path.is_file():
        raise InputError(f"areas reference {directory}: no duals.parquet")
    table = pq.read_table(path)
    info = json.loads(table.schema.metadata[KEY])
    frame = table.to_pandas()
    ys = {a: g["y"].to_numpy(dtype=np.float64) for a, g in frame.groupby("area", sort=False)}
    return ys, info


def verify_reference(directory: Path, national, areas, settings, hashes,
                     multipliers: dict[str, np.ndarray] | None = None) -> list[tuple[str, bool, str]]:
    """(area, passed, what) for every area of the reference; the caller rebuilt areas and hashes.
    `multipliers`, when given, receives each rebuilt area's x(y) over all national records."""

    ys, info = read_reference(directory)
    by_area = info["by_area"]
    out = []
    for spec, s, h in zip(areas, settings, hashes):
        meta = by_area.get(spec.name)
        if meta is None:
            out.append((spec.name, False, "not in the reference"))
            continue
        if meta["input_hash"] != h:
            out.append((spec.name, False, f"input hash {h} differs from the recorded {meta['input_hash']}"))
            continue
        problem, keep = build_area_problem(national, spec, s, meta["dropped"])
        y = ys[spec.name]
        form = problem.form
        x = np.clip(1.0 - (form.CT @ y[form.kept]) / 2.0, problem.lower, problem.upper)
        cert = certify(problem, x, y)
        w = np.zeros(national.n)
        w[keep] = problem.w0 * x
        if multipliers is not None:
            multipliers[spec.name] = np.zeros(national.n)
            multipliers[spec.name][keep] = x
        fp, rec = fingerprint(w), meta["fingerprint"]
        worst = max(abs(fp[k] - rec[k]) / max(abs(rec[k]), 1e-300) for k in rec)
        ok = cert.passed and worst <= FINGERPRINT_RTOL
        what = (f"certificate {'passed' if cert.passed else 'FAILED: ' + '; '.join(cert.failures())}; "
                f"fingerprint within {worst:.2g} (rtol {FINGERPRINT_RTOL:g}); recorded status {meta['status']}")
        out.append((spec.name, ok, what))
    return out
