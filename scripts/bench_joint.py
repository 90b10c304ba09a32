"""What the joint solve of an areas batch costs and buys, from the directory that
`goldstar areas --max-exhaustion E` or `--additive` wrote: a BENCHMARKS.md section (`--section`,
default `joint`).

    goldstar areas --areas states --max-exhaustion 2 --out bench-areas/joint-e2 --no-tmd-weights
    python scripts/bench_joint.py bench-areas/joint-e2 --command "goldstar areas ... (as run)" [--out BENCHMARKS.md]

Reads OUT/joint/joint.json (the solve, its certificate, the per-record sums and the peak memory
of the process that ran it) and each area's row (its separate solve's objective and seconds),
prints the figures and writes them as the section. Several directories (the districts of
several states, each solved `--within` its state) give one table, a row each, under
`--title`. Nothing is solved here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goldstar.areas.joint_run import read_joint  # noqa: E402
from goldstar.areas.output import file_stem  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402
from goldstar.present.benchmark import replace_section  # noqa: E402

MARKER = "joint"


def figures(out: Path) -> dict:
    """The section's figures from an areas output with a joint solve; InputError naming what is missing."""
    found = read_joint(out)
    if found is None:
        raise InputError(f"{out}: no joint solve (run goldstar areas with --max-exhaustion E or --additive)")
    record, _ = found
    rows = []
    for area in record["areas"]:
        path = out / "areas" / f"{file_stem(area)}.json"
        try:
            rows.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read ({exc})") from None
    cert = record["certificate"]
    return {
        "out": str(out), "coupling": record["coupling"], "areas": len(record["areas"]),
        "records": record["records"], "targets_kept": record["targets_kept"],
        "separate_objective": sum(r["certificate"]["loss"] for r in rows),
        "separate_seconds": sum(r["seconds"] for r in rows),
        "joint_objective": cert["loss"], "certified": record["certified"], "failures": record["failures"],
        "fixed_point": cert["fixed_point_error"], "gap": cert["gap"], "coupling_residual": cert["coupling_residual"],
        "band_violation": cert["max_band_violation"],
        "solve": record["solve"], "sums": record["sums"],
    }


def markdown(f: dict, section: str = MARKER, title: str | None = None) -> str:
    solve, sep, joint = f["solve"], f["sums"]["separate"], f["sums"]["joint"]
    verdict = ("passed" if f["certified"] else "FAILED: " + "; ".join(f["failures"]))
    memory = f"{solve['peak_rss_mb']:,.0f} MB" if solve.get("peak_rss_mb") else "not recorded"
    cost = 100.0 * (f["joint_objective"] / f["separate_objective"] - 1.0)
    return "\n".join([
        f"<!-- {section}:start -->",
        f"## {title or 'The areas solved jointly (' + f['coupling'] + ')'}",
        "",
        f"`{f['command']}` on this machine, read back by `python scripts/bench_joint.py {f['out']} --command CMD"
        f"{'' if section == MARKER else ' --section ' + section}` "
        f"(docs/additive.md, "
        f"\"The command\"): {f['areas']} areas, "
        f"{f['records']:,} records that feed a target, {f['targets_kept']:,} kept targets, solved together from "
        "the separate solves' duals.",
        "",
        "| | separate solves | joint solve |",
        "|---|---:|---:|",
        f"| objective (sum over the areas) | {f['separate_objective']:,.0f} | {f['joint_objective']:,.0f} "
        f"({cost:+.2f}%) |",
        f"| seconds | {f['separate_seconds']:.1f} (sum of the areas' solves) | {solve['seconds']:.1f} "
        f"({solve['inner']} Newton steps) |",
        f"| peak memory | | {memory} (the command's process) |",
        f"| a record's area weights over its national weight: max | {sep['max']:.4f} | {joint['max']:.4f} |",
        f"| p99 | {sep['p99']:.4f} | {joint['p99']:.4f} |",
        *[f"| records above {level}x | {sep['above'][level]:,} | {joint['above'][level]:,} |" for level in sorted(sep["above"], key=float)],
        "",
        f"Joint certificate {verdict}: fixed point {f['fixed_point']:.3g}, gap {f['gap']:.3g}, coupling "
        f"{f['coupling_residual']:.3g} of a record's national weight, hard bands met to {f['band_violation']:.3g} widths.",
        f"<!-- {section}:end -->",
    ])


def table(found: list[dict], section: str, title: str, command: str) -> str:
    """Several joint solves, a row each (the separate and joint sums' max and records above 2x)."""
    lines = [
        f"<!-- {section}:start -->",
        f"## {title}",
        "",
        f"`{command}` on this machine, one directory each, read back by `python scripts/bench_joint.py DIR ... "
        f"--section {section}`. Objective: the sum over the areas of their band objectives; sums: a record's "
        "area weights over the weights they share out.",
        "",
        "| directory | areas | records | kept targets | objective separate | joint | Newton steps | joint s "
        "| peak MB | max sum separate | joint | above 2x separate | joint | certificate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in found:
        solve, sep, joint = f["solve"], f["sums"]["separate"], f["sums"]["joint"]
        memory = f"{solve['peak_rss_mb']:,.0f}" if solve.get("peak_rss_mb") else "-"
        verdict = ("passed" if f["certified"] else "FAILED")
        lines.append(
            f"| {f['out']} | {f['areas']} | {f['records']:,} | {f['targets_kept']:,} | {f['separate_objective']:,.1f} "
            f"| {f['joint_objective']:,.1f} | {solve['inner']} | {solve['seconds']:.1f} | {memory} | {sep['max']:.4f} "
            f"| {joint['max']:.4f} | {sep['above']['2']:,} | {joint['above']['2']:,} | {verdict} (fixed point "
            f"{f['fixed_point']:.2g}, gap {f['gap']:.2g}, coupling {f['coupling_residual']:.2g}) |")
    lines.append(f"<!-- {section}:end -->")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, nargs="+", help="an areas output with a joint solve (OUT/joint); "
                        "several give one table")
    parser.add_argument("--command", required=True,
                        help="the goldstar areas command that wrote the directory, as the section shows it")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md",
                        help="the markdown file whose section this replaces")
    parser.add_argument("--section", default=MARKER, help=f"the section's marker (default {MARKER})")
    parser.add_argument("--title", default=None, help="the section's heading (needed for several directories' "
                        "table; one directory's default: The areas solved jointly (COUPLING))")
    args = parser.parse_args(argv)
    if len(args.directory) > 1 and args.title is None:
        parser.error("several directories make one table: give its --title")
    try:
        found = [figures(d) for d in args.directory]
    except InputError as exc:
        parser.error(str(exc))
    if len(found) == 1:
        text = markdown({**found[0], "command": args.command}, args.section, args.title)
    else:
        text = table(found, args.section, args.title, args.command)
    print(text)
    replace_section(args.out, f"<!-- {args.section}:start -->", f"<!-- {args.section}:end -->", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
