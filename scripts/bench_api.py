"""What goldstar.reweight costs over the work it does, on the default problem (280K records).

    python scripts/bench_api.py [--repeats 3] [--out benchmarks/api_overhead.json]

For each objective, in one process: goldstar.reweight(None, None, ...) end to end, its two parts
(goldstar.workflow.build, solve_certified) timed inside that same call by wrapping them. The API's
own overhead is the end-to-end time less the parts: arguments, warnings, turning arrays into
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
from goldstar import api  # noqa: E402
from goldstar.defaults import DEFAULT_YEAR  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OBJECTIVES = ("penalized", "band")
PARTS = {"build": "build", "solve": "solve_certified"}


def one_round(objective: str) -> dict[str, float]:
    """One goldstar.reweight call, its parts timed from inside it."""
    spent = dict.fromkeys(PARTS, 0.0)
    originals = {part: getattr(api, name) for part, name in PARTS.items()}

    def timed(part):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return originals[part](*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - start
        return call

    for part, name in PARTS.items():
        setattr(api, name, timed(part))
    try:
        start = time.perf_counter()
        result = goldstar.reweight(None, None, year=DEFAULT_YEAR, objective=objective)
        total = time.perf_counter() - start
    finally:
        for part, name in PARTS.items():
            setattr(api, name, originals[part])
    assert result.certificate.passed
    return {"api": total, **spent, "overhead": total - sum(spent.values())}


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
    for objective in OBJECTIVES:
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
