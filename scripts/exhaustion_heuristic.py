"""TMD's --max-exhaustion heuristic (goldstar.areas.exhaustion) on a set of areas: does the cap
hold after its passes, and what do its bounds cost the areas' targets.

    python scripts/exhaustion_heuristic.py        # the 51 states, goldstar-77, E = 2: BENCHMARKS.md
    python scripts/exhaustion_heuristic.py --cap 3 --area-time-limit 10 --json /tmp/e3.json --out /tmp/B.md

Prints one line a pass (the records' largest and 99th-percentile sum of area weights over national
weight, the records above the cap, the areas solved, the solves that stopped short of their floor,
and the largest miss of a hard band among the areas solved), writes the passes to --json (benchmarks/exhaustion_states.json)
and their table to --out's "exhaustion" section (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar.areas.exhaustion import ExhaustionPass, exhaustion_heuristic  # noqa: E402
from goldstar.areas.joint import check_cap  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402
from goldstar.present.benchmark import replace_section  # noqa: E402
from goldstar.store.atomic import atomic_write_text  # noqa: E402


def worst(misses: dict[str, float]) -> tuple[str, float]:
    """The area with the largest band miss among those solved, and the miss."""
    return max(misses.items(), key=lambda kv: kv[1], default=("-", 0.0))


def line(p: ExhaustionPass) -> str:
    area, miss = worst(p.worst_miss)
    return (f"pass {p.number}: {p.solved} areas solved in {p.seconds:.1f} s; records' sums: max {p.max_sum:.4f}, "
            f"p99 {p.p99_sum:.4f}, {p.above} above the cap; {len(p.unconverged)} solves short of their floor; "
            f"largest hard band miss of the areas solved {miss:.3g} widths ({area})")


ROOT = Path(__file__).resolve().parent.parent
MARKER = "exhaustion"


def _ours(path: Path) -> bool:
    """A file this script wrote before (its JSON names this script's command), so it may be replaced."""
    try:
        return str(json.loads(path.read_text()).get("command", "")).startswith("python scripts/exhaustion_heuristic.py")
    except (OSError, ValueError, AttributeError):
        return False


def exact_distance(national, result, path: Path, parser: argparse.ArgumentParser) -> dict:
    """The heuristic's area weights against the exact joint optimum's (the probe's --save x, over
    the records that feed a cell; the others keep x = 1 in both), in units of each record's national
    weight: |s_a x_ia - s_a x*_ia|."""
    import numpy as np

    saved = np.load(path)
    feeds = np.diff(national.positive[1].indptr) > 0
    exact = saved["x"] if "x" in saved.files else None
    if exact is None or exact.shape != (int(feeds.sum()), result.x.shape[1]):
        parser.error(f"--exact {path}: not the probe's --save of this problem (x of shape "
                     f"{(int(feeds.sum()), result.x.shape[1])} expected)")
    diff = np.abs(result.x[feeds] - exact) * result.shares
    per_record = diff.max(axis=1)
    sums = np.ones(result.x.shape[0])  # the records that feed no cell keep x = 1: a sum of 1
    sums[feeds] = exact @ result.shares
    return {"file": str(path), "max_abs": float(diff.max()), "records_moved": int((per_record > 1e-9).sum()),
            "p99_abs": float(np.quantile(per_record, 0.99)), "records": int(feeds.sum()),
            "exact_max_sum": float(sums.max()), "exact_p99_sum": float(np.quantile(sums, 0.99)),
            "exact_at_cap": int((sums >= result.cap * (1 - 1e-12)).sum())}


def markdown(figures: dict) -> str:
    rows = ["| pass | areas solved | seconds | max sum | p99 sum | records above E | solves short of their floor "
            "| largest hard band miss of the areas solved (widths) |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for p in figures["passes"]:
        area, miss = worst(p["worst_miss"])
        rows.append(f"| {p['number']} | {p['solved']} | {p['seconds']:.1f} | {p['max_sum']:.4f} | {p['p99_sum']:.4f} "
                    f"| {p['above']:,} | {len(p['unconverged'])} | {miss:.3g} ({area}) |")
    held = "holds" if figures["held"] else "does not hold"
    exact = figures.get("exact")
    if exact:
        rows += ["", f"Against the exact capped joint optimum (`{exact['file']}`, saved by `python scripts/additive_probe.py "
                     f"--states --from-separate reference/areas --max-exhaustion {figures['cap']:g} --save FILE`): "
                     f"{exact['records_moved']:,} of "
                     f"{exact['records']:,} records have an area weight that differs by more than 1e-9 of their national "
                     f"weight; the largest difference is {exact['max_abs']:.3g}, the 99th percentile of each record's "
                     f"largest {exact['p99_abs']:.3g}. The exact optimum's sums: max {exact['exact_max_sum']:.4f}, "
                     f"p99 {exact['exact_p99_sum']:.4f}, {exact['exact_at_cap']:,} records at the cap."]
    return "\n".join([
        f"<!-- {MARKER}:start -->",
        f"## TMD's --max-exhaustion heuristic at E = {figures['cap']:g} ({figures['areas']}, {figures['recipe']})",
        "",
        f"`{figures['command']}` ({figures['seconds']:.0f} s on this machine; docs/additive.md, \"The exhaustion "
        f"heuristic\"). Each pass solves the areas whose bounds changed; the sums are each record's area weights "
        f"over its national weight. The cap {held} after {len(figures['passes'])} pass(es).",
        "",
        *rows,
        f"<!-- {MARKER}:end -->",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--areas", default="states", help="the area set, as `goldstar areas --areas` takes it")
    parser.add_argument("--recipe", default="goldstar-77")
    parser.add_argument("--cap", type=float, default=2.0, metavar="E")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--area-time-limit", type=float, default=30.0,
                        help="seconds for each area's solve (a solve whose bands the bounds put out of reach "
                             "does not reach its floor)")
    parser.add_argument("--exact", type=Path, metavar="FILE.npz",
                        help="the exact capped joint optimum at the same E (scripts/additive_probe.py --states "
                             "--max-exhaustion E --save FILE.npz): how far the heuristic's weights are from it")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "exhaustion_states.json",
                        help="write the passes here")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="the markdown file whose "
                        "exhaustion section the table replaces")
    parser.add_argument("--render-only", action="store_true", help="render the section from --json, no run")
    args = parser.parse_args(argv)
    if args.render_only:
        if not args.json.is_file():
            parser.error(f"--json {args.json}: no such file to render")
        replace_section(args.out, f"<!-- {MARKER}:start -->", f"<!-- {MARKER}:end -->",
                        markdown(json.loads(args.json.read_text())))
        print(f"rendered the {MARKER} section of {args.out} from {args.json}")
        return 0
    if args.json.exists() and not _ours(args.json):
        parser.error(f"--json {args.json}: the file exists and is not this script's output; name a new one")
    try:
        check_cap(args.cap, "--cap")
    except ValueError as exc:
        parser.error(str(exc))
    if args.passes < 1:
        parser.error(f"--passes {args.passes}: must be at least 1")
    if not (math.isfinite(args.area_time_limit) and args.area_time_limit > 0):
        parser.error(f"--area-time-limit {args.area_time_limit:g}: must be a positive number of seconds")

    if args.exact is not None and not args.exact.is_file():
        parser.error(f"--exact {args.exact}: no such file")
    from goldstar.areas import command
    from goldstar.cli import build_parser

    try:
        parsed = build_parser().parse_args(["areas", "--areas", args.areas, "--recipe", args.recipe, "--out", "unused"])
        national, areas, settings, _, _ = command.batch_inputs(parsed, args.areas)
    except InputError as exc:
        parser.error(str(exc))
    print(f"{len(areas)} areas, {national.n:,} records, cap E = {args.cap:g}, up to {args.passes} passes", flush=True)
    start = time.perf_counter()
    result = exhaustion_heuristic(national, areas, settings, args.cap, args.passes,
                                  options={"time_limit": args.area_time_limit},
                                  progress=lambda p: print(line(p), flush=True))
    seconds = time.perf_counter() - start
    print(f"the cap {'holds' if result.held else 'does not hold'} after {len(result.passes)} pass(es): "
          f"max sum {result.sums.max():.4f}; {seconds:.1f} s in all")
    distance = None if args.exact is None else exact_distance(national, result, args.exact, parser)
    if distance is not None:
        print(f"against the exact optimum: {distance['records_moved']:,} records' area weights differ by more "
              f"than 1e-9; largest difference {distance['max_abs']:.3g} of a national weight; the exact optimum's "
              f"sums: max {distance['exact_max_sum']:.4f}, p99 {distance['exact_p99_sum']:.4f}, "
              f"{distance['exact_at_cap']} records at the cap")
    figures = {"command": "python scripts/exhaustion_heuristic.py" + "".join(
                   f" {a}" for a in (argv if argv is not None else sys.argv[1:])),
               "areas": args.areas, "recipe": args.recipe, "cap": args.cap, "held": result.held, "seconds": seconds,
               "passes": [asdict(p) for p in result.passes], "exact": distance}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(figures, indent=1) + "\n")
    replace_section(args.out, f"<!-- {MARKER}:start -->", f"<!-- {MARKER}:end -->", markdown(figures))
    print(f"wrote {args.json} and the {MARKER} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
