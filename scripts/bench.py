"""`make bench`: every solver on the default problem and a synthetic series; writes BENCHMARKS.md.

    python scripts/bench.py                      # the full run (tens of minutes on 2 cores)
    python scripts/bench.py --sizes 2000 --targets 60 --default-records 3000 --cap 5 \
        --out /tmp/B.md --plots-dir /tmp/b         # a quick end-to-end run

Solvers missing their optional package are skipped with a message.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar.present.benchmark import BENCH_SOLVERS, available, bench_problem, focus_figures, write_outputs  # noqa: E402
from goldstar.inputs.assemble import default_problem  # noqa: E402
from goldstar.inputs.synth import synth_problem  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50000,100000,280000,1000000",
                        help="synthetic record counts, comma-separated (empty: none)")
    parser.add_argument("--targets", type=int, default=550, help="targets of the synthetic problems")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--default-records", type=int, default=None,
                        help="use only the first N CPS records for the default problem")
    parser.add_argument("--skip-default", action="store_true", help="no default-problem section")
    parser.add_argument("--solvers", default=",".join(BENCH_SOLVERS), help="comma-separated")
    parser.add_argument("--series-solvers", default=",".join(BENCH_SOLVERS),
                        help="solvers for the synthetic series (comma-separated; default: every solver)")
    parser.add_argument("--cap", type=float, default=120.0, help="time cap per capped solver run, seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--plots-dir", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite BENCHMARKS.md and the plots from PLOTS_DIR/bench.json, running nothing")
    args = parser.parse_args(argv)
    if args.render_only:
        import json

        from goldstar.present.benchmark import load_runs

        default_runs, series, command = load_runs(args.plots_dir / "bench.json")
        info = json.loads((args.plots_dir / "bench.json").read_text())["machine"]
        write_outputs(args.out, args.plots_dir, default_runs, series, focus_figures(series), command, info)
        print(f"rendered {args.out} from {args.plots_dir / 'bench.json'}")
        return 0

    command = "python scripts/bench.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    default_runs = []
    if not args.skip_default:
        problem, label = default_problem(args.default_records)
        default_runs = bench_problem(problem, label, available(args.solvers.split(",")), args.cap, print,
                                     args.quiet)
    series = []
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        problem = synth_problem(n, args.targets, seed=args.seed)
        series += bench_problem(problem, f"synthetic n={n:,}", available(args.series_solvers.split(",")),
                                args.cap, print, args.quiet)
    write_outputs(args.out, args.plots_dir, default_runs, series, focus_figures(series), command.strip())
    print(f"wrote {args.out} and {args.plots_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
