"""What goldstar.reweight costs over the work it does, on the default problem (280K records).

    python scripts/bench_api.py [--repeats 3] [--out benchmarks/api_overhead.json]

For each objective, in one process: goldstar.reweight(None, None, ...) end to end, then its two
parts called directly on the same inputs (goldstar.workflow.build, then solve_certified on the
built problem). The API's own overhead is the end-to-end time less the parts: turning arrays into
Series, the dropped table, the problem hash. Also `import goldstar` in a fresh interpreter.
Medians of --repeats runs; prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import goldstar  # noqa: E402
from goldstar.defaults import DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_UPPER, DEFAULT_YEAR  # noqa: E402
from goldstar.workflow import build, solve_certified  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BAND = {"name": "band", "eps": 0.005, "slack_penalty": 1e6, "slack_units": "target", "unreachable": "drop"}
SPECS = {"penalized": None, "band": BAND}


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def one_round(objective: str) -> dict[str, float]:
    api, result = timed(lambda: goldstar.reweight(None, None, year=DEFAULT_YEAR, objective=objective))
    built_s, built = timed(lambda: build(None, None, DEFAULT_YEAR, objective=SPECS[objective], engine="cps",
                                         penalty=DEFAULT_PENALTY, lower=DEFAULT_LOWER, upper=DEFAULT_UPPER))
    solve_s, (solution, cert) = timed(lambda: solve_certified(built.problem, None, {}))
    assert cert.passed and (result.multipliers.to_numpy() == solution.m).all(), "the API's answer differs"
    return {"api": api, "build": built_s, "solve": solve_s, "overhead": api - built_s - solve_s}


def import_seconds() -> float:
    code = "import time; s = time.perf_counter(); import goldstar; print(time.perf_counter() - s)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "api_overhead.json")
    args = parser.parse_args(argv)
    rows = {}
    for objective in SPECS:
        one_round(objective)  # warm: file caches, first-call imports
        rounds = [one_round(objective) for _ in range(args.repeats)]
        rows[objective] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        rows[objective]["overhead_share"] = rows[objective]["overhead"] / rows[objective]["api"]
    imports = statistics.median(import_seconds() for _ in range(args.repeats))
    figures = {"command": f"python scripts/bench_api.py --repeats {args.repeats}",
               "machine": f"{platform.machine()}, Python {platform.python_version()}",
               "import_goldstar_seconds": imports, "objectives": rows}
    print(f"{'objective':<10} {'reweight s':>10} {'build s':>8} {'solve+cert s':>12} {'overhead s':>10} {'share':>7}")
    for name, r in rows.items():
        print(f"{name:<10} {r['api']:>10.3f} {r['build']:>8.3f} {r['solve']:>12.3f} {r['overhead']:>10.3f} "
              f"{r['overhead_share']:>7.1%}")
    print(f"import goldstar: {imports:.3f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
