"""TMD's own area construction beside goldstar's, on the same area problems, in one run.

For each area: goldstar's way (the pre-pass drops what the box cannot meet, band-newton solves
the rest exactly, the certificate checks it) and TMD's way (Clarabel on the band QP with the
slack columns explicit and TMD's settings, goldstar's `clarabel-tmd` solver: max_iter 1000,
tolerances 1e-7, x clipped to the box afterwards, the status not checked), first on the same
kept targets, then on every target with no drops, as TMD runs an area without a hand-written
drop list. Printed and written to BENCHMARKS.md ("TMD's area construction") and
benchmarks/tmd_area_construction.json.

    python scripts/tmd_area_construction.py --areas CA,TX,NY,WY,DC --recipe tmd-states --engine taxcalc
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar.areas import command  # noqa: E402
from goldstar.areas.problem import build_area_problem  # noqa: E402
from goldstar.areas.prepass import find_unreachable_area  # noqa: E402
from goldstar.certificate import certify  # noqa: E402
from goldstar.present.benchmark import replace_section  # noqa: E402
from goldstar.solvers.solve import solve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- tmd-construction:start -->", "<!-- tmd-construction:end -->"
OUTSIDE = 1e-6  # band widths: a kept target further out than this misses its band


def outside_band(problem, m: np.ndarray) -> tuple[int, float]:
    """(kept targets missing their band by more than OUTSIDE widths, the largest miss in widths)."""
    widths = np.abs(problem.form.band_status(m)["violation_widths"])
    return int((widths > OUTSIDE).sum()), float(widths.max()) if widths.size else 0.0


def one_area(national, spec, settings) -> dict[str, Any]:
    t0 = time.perf_counter()
    pre = find_unreachable_area(national.A, national.weight, spec.pop_share, spec.targets, national.cell_names,
                                settings.eps, settings.lower, settings.upper,
                                cache_key=(national.hashes["content"], settings.lower, settings.upper))
    problem, keep = build_area_problem(national, spec, settings, pre.names)
    exact = solve(problem, "band-newton")
    goldstar_seconds = time.perf_counter() - t0
    cert = certify(problem, exact.m, exact.y)
    row: dict[str, Any] = {
        "area": spec.name, "targets": national.recipe_size, "dropped": len(pre.dropped),
        "goldstar_seconds": goldstar_seconds, "prepass_seconds": pre.seconds, "certified": bool(cert.passed),
    }
    t0 = time.perf_counter()
    tmd = solve(problem, "clarabel-tmd")
    row["tmd_seconds"] = time.perf_counter() - t0
    row["tmd_status"] = tmd.options.get("clarabel_status", tmd.message)
    # weights differ by |dm| x w0: in units of each record's starting weight
    row["max_multiplier_diff"] = float(np.max(np.abs(tmd.m - exact.m)))
    row["tmd_outside"], row["tmd_worst_widths"] = outside_band(problem, tmd.m)
    row["ratio"] = row["tmd_seconds"] / goldstar_seconds
    every, _ = build_area_problem(national, spec, settings, ())
    t0 = time.perf_counter()
    bare = solve(every, "clarabel-tmd")
    row["nodrop_seconds"] = time.perf_counter() - t0
    row["nodrop_status"] = bare.options.get("clarabel_status", bare.message)
    row["nodrop_outside"], row["nodrop_worst_widths"] = outside_band(every, bare.m)
    return row


def markdown(rows: list[dict[str, Any]], command_line: str, info: str) -> str:
    lines = [START, "## TMD's area construction beside goldstar's", "",
             f"`{command_line}` on {info}. goldstar: pre-pass, band-newton, certificate (its seconds include the "
             "pre-pass). TMD: Clarabel with TMD's settings on the same kept targets (`clarabel-tmd`: tolerances "
             "1e-7, x clipped to the box), then on every target without drops, as TMD runs an area with no "
             f"hand-written drop list. Outside: kept targets missing their band by more than {OUTSIDE:g} band "
             "widths.", "",
             "| area | targets | dropped by goldstar | goldstar s | certified | TMD s (same targets) | ratio | TMD status "
             "| largest weight difference (of the starting weight) | TMD outside | TMD without drops: s, status, outside "
             "(worst, band widths) |",
             "|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['area']} | {r['targets']} | {r['dropped']} | {r['goldstar_seconds']:.2f} | "
            f"{'yes' if r['certified'] else 'NO'} | {r['tmd_seconds']:.2f} | {r['ratio']:.1f}x | {r['tmd_status']} | "
            f"{r['max_multiplier_diff']:.2g} | {r['tmd_outside']} | {r['nodrop_seconds']:.2f}, "
            f"{r['nodrop_status']}, {r['nodrop_outside']} ({r['nodrop_worst_widths']:.3g}) |")
    return "\n".join(lines + [END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "tmd_area_construction.json")
    known, rest = parser.parse_known_args(argv)
    areas_parser = argparse.ArgumentParser()
    command.add_arguments(areas_parser)
    args = areas_parser.parse_args(rest)
    national, areas, settings, _, _ = command.batch_inputs(args, args.areas)
    rows = []
    for spec, s in zip(areas, settings):
        row = one_area(national, spec, s)
        rows.append(row)
        print(f"{row['area']}: goldstar {row['goldstar_seconds']:.2f} s ({row['dropped']} dropped, certified "
              f"{row['certified']}); TMD {row['tmd_seconds']:.2f} s ({row['ratio']:.1f}x, {row['tmd_status']}, "
              f"weights off by up to {row['max_multiplier_diff']:.2g} of a starting weight, {row['tmd_outside']} outside); "
              f"without drops {row['nodrop_seconds']:.2f} s, {row['nodrop_status']}, {row['nodrop_outside']} outside")
    info = f"{platform.machine()}, Python {platform.python_version()}, one process"
    command_line = "python scripts/tmd_area_construction.py " + " ".join(rest)
    known.json.parent.mkdir(parents=True, exist_ok=True)
    known.json.write_text(json.dumps({"command": command_line, "machine": info, "areas": rows}, indent=2) + "\n")
    replace_section(known.out, START, END, markdown(rows, command_line, info))
    print(f"wrote {known.out} and {known.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
