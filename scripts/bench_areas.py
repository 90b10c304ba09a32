"""The areas benchmark: figures of finished `goldstar areas` batches, printed and written to
BENCHMARKS.md ("Areas") and benchmarks/areas.json, with a plot of the per-area times.

    goldstar areas --areas states --out /tmp/areas-states
    goldstar areas --areas districts --out /tmp/areas-districts
    goldstar areas --areas synthetic:3000 --out /tmp/areas-syn3000 --no-tmd-weights
    python scripts/bench_areas.py /tmp/areas-states /tmp/areas-districts /tmp/areas-syn3000

Every figure comes from the directories: the batch's own record (batch.json: wall time,
workers, set-up), each area's row (summary.csv: seconds, pre-pass, solve, peak memory,
dropped targets, certificate) and the weights (the sum over areas of each record's area
weight against its national weight, goldstar.areas.report). The projection to N workers
assumes what the batch measured per area holds on each worker (one core and its share of
memory bandwidth each): set-up + (sum of task seconds) / N, a task's seconds being its area's
(pre-pass, solve, certificate) and its TMD weights file's.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar.areas.output import BATCH_RECORD  # noqa: E402
from goldstar.areas.report import read_summary, weight_sums  # noqa: E402
from goldstar.present.benchmark import replace_section  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402
from goldstar.store.reference import versions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = {  # --section: BENCHMARKS.md's markers and heading of each kind of areas benchmark
    "areas": ("areas-bench", "Areas (`goldstar areas`)"),
    "tmd-specs": ("areas-tmd-bench", "Areas on TMD's state and district specs (`--recipe tmd-states`, `tmd-districts`)"),
}
PROJECT_WORKERS = (2, 8, 16, 64)


def batch_figures(out: Path) -> dict[str, Any]:
    try:
        record = json.loads((out / BATCH_RECORD).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{out}: no readable {BATCH_RECORD} ({exc}); run the batch with this version of goldstar") from None
    summary = read_summary(out)
    solved = summary[~summary["skipped"].astype(bool)]
    seconds = solved["seconds"].to_numpy(dtype=float)
    weights_file = (solved["seconds_weights_file"].fillna(0.0).to_numpy(dtype=float)
                    if "seconds_weights_file" in solved else np.zeros(len(solved)))
    task = seconds + weights_file
    sums = weight_sums(out, summary).figures()
    quantiles = (0.0, 0.1, 0.5, 0.9, 1.0)
    targets = int(summary["targets"].max())
    return {
        "directory": str(out), "areas": f"{record['areas']}, {targets} targets", "count": int(len(summary)),
        "workers": record["workers"], "scheduler": record["scheduler"], "tmd_weights": record["tmd_weights"],
        "wall_seconds": record["wall_seconds"], "setup_seconds": record["setup_seconds"],
        "status": record["status"], "solved": record["solved"], "skipped": record["skipped"],
        "certified": int(solved["certified"].astype(bool).sum()),
        "seconds": {f"{q:g}": float(np.quantile(seconds, q)) for q in quantiles},
        "seconds_prepass_median": float(solved["seconds_prepass"].median()),
        "seconds_solve_median": float(solved["seconds_solve"].median()),
        "seconds_weights_file_median": float(np.median(weights_file)),
        "seconds_sum": float(seconds.sum()), "task_seconds_sum": float(task.sum()),
        "rss_peak_mb": {"median": float(solved["rss_peak_mb"].median()), "max": float(solved["rss_peak_mb"].max())},
        "areas_with_drops": int((solved["n_dropped"] > 0).sum()), "targets_dropped": int(solved["n_dropped"].sum()),
        "dropped_max": int(solved["n_dropped"].max()),
        "projected_seconds": {str(n): record["setup_seconds"] + float(task.sum()) / n for n in PROJECT_WORKERS},
        "weight_sum_ratio": sums,
        "_seconds": seconds.tolist(),
    }


def markdown(rows: list[dict[str, Any]], command: str, info: str, section: str, plot_path: str) -> str:
    marker, title = SECTIONS[section]
    lines = [f"<!-- {marker}:start -->", f"## {title}", "",
             f"`{command}` over batches run on {info}. Each batch: a local Dask cluster of worker processes; "
             "an area's seconds are its pre-pass, solve and certificate, measured in the worker; the worker then "
             "makes the area's TMD weights file (its seconds apart). "
             "The projection assumes each of N workers runs tasks as fast as one did here: "
             "set-up + (sum of task seconds: area and weights file) / N.", "",
             "| areas | count | workers | batch wall | area seconds: min / 10% / median / 90% / max | pre-pass / solve "
             "/ weights file (medians) | status | certified | areas with drops | targets dropped (max an area) | peak RSS a worker "
             "(median / max) |",
             "|---|---:|---:|---:|---|---|---|---:|---:|---|---|"]
    for r in rows:
        s = r["seconds"]
        lines.append(
            f"| {r['areas']} | {r['count']:,} | {r['workers']} | {r['wall_seconds']:.1f} s | "
            f"{s['0']:.2f} / {s['0.1']:.2f} / {s['0.5']:.2f} / {s['0.9']:.2f} / {s['1']:.2f} | "
            f"{r['seconds_prepass_median']:.2f} / {r['seconds_solve_median']:.2f} / "
            f"{r.get('seconds_weights_file_median', 0.0):.2f} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["status"].items()))
            + f" | {r['certified']:,} | {r['areas_with_drops']:,} | {r['targets_dropped']:,} ({r['dropped_max']}) | "
            f"{r['rss_peak_mb']['median']:.0f} / {r['rss_peak_mb']['max']:.0f} MB |")
    lines += ["", "Projected wall time on N workers (set-up + sum of task seconds / N):", "",
              "| areas | " + " | ".join(f"N = {n}" for n in PROJECT_WORKERS) + " |",
              "|---|" + "---:|" * len(PROJECT_WORKERS)]
    for r in rows:
        lines.append(f"| {r['areas']} | " + " | ".join(f"{r['projected_seconds'][str(n)] / 60:.1f} min"
                                                       for n in PROJECT_WORKERS) + " |")
    lines += ["", "Sum over the areas of each record's area weight, against its national weight "
              "(`goldstar report --areas DIR`; TMD measured up to 16.6x):", "",
              "| areas | min | 1% | median | 99% | max | records above 2x / 5x |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        w = r["weight_sum_ratio"]
        q = w["quantiles"]
        lines.append(f"| {r['areas']} | {q['0']:.3g} | {q['0.01']:.3g} | {q['0.5']:.4g} | {q['0.99']:.3g} | "
                     f"{w['max']:.3g} (record_id {w['max_record_id']}) | {w['above']['2']} / {w['above']['5']} |")
    lines += ["", f"![area seconds]({plot_path})", f"<!-- {marker}:end -->"]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    from goldstar.present.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        ax.hist(r["_seconds"], bins=60, histtype="step", linewidth=1.5, label=f"{r['areas']} ({r['count']:,})")
    ax.set_yscale("log")
    ax.set_xlabel("seconds an area (pre-pass + solve + certificate, in its worker)")
    ax.set_ylabel("areas")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directories", nargs="+", type=Path, help="finished `goldstar areas --out` directories")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "areas.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "areas_seconds.png")
    parser.add_argument("--section", choices=sorted(SECTIONS), default="areas",
                        help="which section of BENCHMARKS.md the figures replace (default areas)")
    args = parser.parse_args(argv)
    try:
        rows = [batch_figures(d) for d in args.directories]
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    for r in rows:
        print(f"{r['areas']}: {r['count']} areas on {r['workers']} workers, wall {r['wall_seconds']:.1f} s, "
              f"median {r['seconds']['0.5']:.2f} s an area, status {r['status']}, "
              f"weight-sum ratio max {r['weight_sum_ratio']['max']:.3g}")
    info = (f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()} ("
            + ", ".join(f"{k} {v}" for k, v in versions().items() if k in ("numpy", "scipy")) + ")")
    command = "python scripts/bench_areas.py " + " ".join(str(d) for d in args.directories) + (
        f" --section {args.section} --json {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}"
        f" --plot {args.plot.relative_to(ROOT) if args.plot.is_relative_to(ROOT) else args.plot}"
        if args.section != "areas" else "")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": command, "machine": info,
                                     "batches": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]},
                                    indent=2) + "\n")
    try:
        plot(rows, args.plot)
    except ImportError:
        print("matplotlib is not installed (goldstar[plots]): no plot")
    plot_path = str(args.plot.relative_to(ROOT)) if args.plot.is_relative_to(ROOT) else str(args.plot)
    marker = SECTIONS[args.section][0]
    section = markdown(rows, command, info, args.section, plot_path)
    replace_section(args.out, f"<!-- {marker}:start -->", f"<!-- {marker}:end -->", section)
    print(f"wrote {args.out}, {args.json} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
