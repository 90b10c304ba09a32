"""`make bench` (band part): band-newton beside Clarabel on the band objective; writes
benchmarks/band.json and the "Band objective" section of BENCHMARKS.md.

    python scripts/bench_band.py                          # default problem + synthetic series
    python scripts/bench_band.py --sizes 5000 --default-records 3000 --cap 20 --out /tmp/B.md --json /tmp/b.json

For each problem: band-newton in the given record order and in a random one
(the largest relative weight difference between the two), clarabel-band and
clarabel-tmd (Clarabel's status reported as it came), each compared with
band-newton's optimum: seconds, objective to 12 digits, targets outside their
band, largest relative weight difference, np.allclose. The default problem runs
in relative units and in target units (TMD's construction: pre-pass ranges and
elastic LP timed separately, then continuation).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar import solve  # noqa: E402
from goldstar.problem.objectives import Band  # noqa: E402
from goldstar.problem.prepass import apply_policy  # noqa: E402
from goldstar.problem.model import Problem  # noqa: E402
from goldstar.present.benchmark import replace_section  # noqa: E402
from goldstar.store.reference import versions  # noqa: E402
from goldstar.solvers import available_solvers  # noqa: E402
from goldstar.inputs.assemble import default_problem  # noqa: E402
from goldstar.inputs.synth import synth_problem  # noqa: E402
from goldstar.problem.prepass import BAND_TOL  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- band-bench:start -->", "<!-- band-bench:end -->"
# a target counts as outside its band when it misses it by more than this many band widths
OUTSIDE_WIDTHS = BAND_TOL


def row(problem: Problem, label: str, method: str, solution: Any, optimum: np.ndarray | None) -> dict[str, Any]:
    form = problem.form
    outside = int(np.sum(np.abs(form.band_status(solution.m)["violation_widths"]) > OUTSIDE_WIDTHS))
    out = {
        "problem": label, "units": problem.objective.slack_units, "n": problem.n, "J_kept": form.J,
        "method": method, "seconds": solution.seconds, "status": solution.message,
        "objective": form.loss(solution.m), "deviation": form.deviation(solution.m),
        "outside_band": outside,
    }
    if optimum is not None:
        rel = np.abs(solution.m - optimum) / np.maximum(optimum, 1e-300)
        out["max_rel_weight_diff"] = float(rel.max())
        out["allclose"] = bool(np.allclose(problem.w0 * solution.m, problem.w0 * optimum))
    return out


def bench(problem: Problem, label: str, cap: float, log: Any) -> list[dict[str, Any]]:
    rows = []
    newton = solve(problem, "band-newton")
    rows.append(row(problem, label, "band-newton", newton, newton.m))
    rng = np.random.default_rng(11)
    order = rng.permutation(problem.n)
    again = solve(problem.permuted(order, np.arange(problem.J)), "band-newton")
    back = np.empty(problem.n)
    back[order] = again.m
    rows[-1]["across_record_orders"] = float(np.max(np.abs(back - newton.m) / np.maximum(newton.m, 1e-300)))
    rows[-1]["seconds_other_order"] = again.seconds
    log(_line(rows[-1]))
    for method in ("clarabel-band", "clarabel-tmd"):
        if method not in available_solvers():
            log(f"  {method}: not installed, skipped")
            continue
        solution = solve(problem, method, time_limit=cap)
        rows.append(row(problem, label, method, solution, newton.m))
        log(_line(rows[-1]))
    return rows


def _line(r: dict[str, Any]) -> str:
    extra = (f", across record orders {r['across_record_orders']:.3g}" if "across_record_orders" in r
             else f", max rel weight diff {r['max_rel_weight_diff']:.3g}, allclose {r['allclose']}")
    return (f"  {r['problem']} [{r['units']}] {r['method']}: {r['seconds']:.2f} s, Q {r['objective']:.12g}, "
            f"outside {r['outside_band']}/{r['J_kept']}{extra} ({r['status']})")


def markdown(rows: list[dict[str, Any]], prepass: dict[str, Any], command: str, info: dict[str, str]) -> str:
    lines = [START, "## Band objective (TMD's band QP)", "",
             f"`{command}` on {info['machine']} ({info['versions']}); Clarabel's time cap does not cover its "
             "set-up, which is why a capped run can take longer than the cap. band-newton is the exact method "
             "(docs/band.md); Clarabel's figures are as it stopped, compared with band-newton's optimum. "
             f"\"outside\" counts kept targets missing their band by more than {OUTSIDE_WIDTHS:g} band widths.", ""]
    if prepass:
        lines += [f"Target units, default problem: pre-pass ranges {prepass['ranges']:.2f} s, elastic LP "
                  f"{prepass['lp']:.1f} s; {prepass['dropped']} targets dropped ({prepass['range']} out of reach "
                  f"alone, {prepass['joint']} jointly in conflict).", ""]
    lines += ["| problem | units | n | kept targets | method | seconds | objective Q | outside | max rel weight "
              "diff from optimum | across record orders | allclose | status |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['problem']} | {r['units']} | {r['n']:,} | {r['J_kept']} | {r['method']} | {r['seconds']:.2f} | "
            f"{r['objective']:.12g} | {r['outside_band']} | {r.get('max_rel_weight_diff', 0.0):.3g} | "
            f"{r.get('across_record_orders', float('nan')):.3g} | {r.get('allclose', True)} | "
            f"{r['status'].replace('|', chr(92) + '|')} |"
        )
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50000,100000,280000,1000000", help="synthetic record counts")
    parser.add_argument("--targets", type=int, default=550)
    parser.add_argument("--default-records", type=int, default=None)
    parser.add_argument("--cap", type=float, default=300.0, help="Clarabel's time limit per run, seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "band.json")
    args = parser.parse_args(argv)
    command = "python scripts/bench_band.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    rows: list[dict[str, Any]] = []
    base, label = default_problem(args.default_records)
    print(f"{label}: relative units")
    rows += bench(base.with_objective(Band(slack_units="relative")), label, args.cap, print)
    print(f"{label}: target units (TMD's construction)")
    start = time.perf_counter()
    target, prepass = apply_policy(base.with_objective(Band(slack_units="target")))
    pre = {"ranges": prepass.seconds["ranges"], "lp": prepass.seconds["lp"], "dropped": len(prepass.dropped),
           "range": sum(d["reason"] == "range" for d in prepass.dropped),
           "joint": sum(d["reason"] == "joint" for d in prepass.dropped),
           "seconds": time.perf_counter() - start}
    print(f"  pre-pass: {pre}")
    rows += bench(target, label, args.cap, print)
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        problem = synth_problem(n, args.targets, seed=1).with_objective(Band(slack_units="relative"))
        print(f"synthetic n={n:,}: relative units")
        rows += bench(problem, f"synthetic n={n:,}", args.cap, print)
    info = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
            "versions": ", ".join(f"{k} {v}" for k, v in versions().items() if k in ("numpy", "scipy"))}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": command.strip(), "machine": info, "prepass": pre, "rows": rows},
                                    indent=2) + "\n")
    section = markdown(rows, pre, command.strip(), info)
    replace_section(args.out, START, END, section)
    print(f"wrote {args.out} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
