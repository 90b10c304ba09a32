"""The noise floor of each solver in dollars: how far Tax-Calculator's totals move between
two record orders of the same problem.

The default problem (the committed reference's) is solved by each solver in the
file's record order and in a seeded permutation of records and targets; the
weights are matched back by record_id and each total of goldstar.present.impact
(income tax, payroll tax, AGI; national, by AGI group, by filing status) is
computed under both. The floor of a total is |total(order 1) - total(order 2)|,
in both of goldstar.present.impact's AMOUNTS: the CPS file's 2014 amounts (unaged, what
the problem is fitted to) and the same aged to the target year (--tc-aged).
Writes benchmarks/noise_floor.json (read by goldstar impact and goldstar
report) and prints BENCHMARKS.md's section, which `make bench` (and
`python scripts/bench.py --render-only`) renders from that file.

    python scripts/noise_floor.py [--solvers newton,clarabel,lbfgsb] [--lbfgsb-cap 600] [--seed 0] [--jobs 2]

L-BFGS-B runs with the notes' rule (its defaults) unless --lbfgsb-cap stops it
at that many seconds; the JSON and the Markdown say which. With --jobs 2 the
two orders of each solver are solved at once in two processes (each loads the
problem itself; set OMP_NUM_THREADS=1 so that they do not fight over cores):
the answers are the same, the seconds are those of a shared machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from goldstar.present.impact import (  # noqa: E402
    AMOUNT_OPTIONS, WEIGHTS_SOLVER_KEY, inputs_for, totals,
)
from goldstar.inputs.engines.taxcalc_ import derive, installed_version  # noqa: E402
from goldstar.solvers.solve import solve  # noqa: E402
from goldstar.inputs.source import ProblemSource  # noqa: E402
from goldstar.defaults import NOISE_FLOOR  # noqa: E402
from goldstar.present.benchmark import noise_floor_section  # noqa: E402


def run_solver(problem, method: str, options: dict) -> tuple[np.ndarray, dict]:
    start = time.perf_counter()
    solution = solve(problem, method, **options)
    return solution.m, {
        "seconds": round(time.perf_counter() - start, 2), "loss": float(problem.loss(solution.m)),
        "status": solution.status, "message": solution.message[:120], "iterations": int(solution.iterations),
    }


def solve_both_orders(pool, method: str, args: argparse.Namespace):
    """((m, run) in file order, (m, run) permuted, options): in this process, or both at once in `pool`."""
    options = {"time_limit": args.lbfgsb_cap} if method == "lbfgsb" and args.lbfgsb_cap else {}
    if pool is None:
        return (*(run_in_order(method, options, seed) for seed in (None, args.seed)), options)
    futures = [pool.submit(run_in_order, method, options, seed) for seed in (None, args.seed)]
    return (*(f.result() for f in futures), options)


def run_in_order(method: str, options: dict, seed: int | None) -> tuple[np.ndarray, dict]:
    """Solve the default problem in file order (seed None) or in the seeded permutation; m in file order."""
    problem, _ = ProblemSource().load()
    if seed is None:
        return run_solver(problem, method, options)
    records, targets = permutation(problem, seed)
    m_shuffled, run = run_solver(problem.permuted(records, targets), method, options)
    m = np.empty_like(m_shuffled)
    m[records] = m_shuffled
    return m, run


def permutation(problem, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.permutation(problem.n), rng.permutation(problem.J)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solvers", default="newton,clarabel,lbfgsb")
    parser.add_argument("--lbfgsb-cap", type=float, default=None, help="time limit of each L-BFGS-B run, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=1,
                        help="2: solve the two orders at once, in two processes")
    parser.add_argument("--note", default=None, help="a remark stored with the figures (e.g. the machine's load)")
    parser.add_argument("--out", type=Path, default=NOISE_FLOOR)
    parser.add_argument("--save-weights", type=Path, default=None,
                        help="also write each solver's weights to DIR/<solver>.parquet (file order) and "
                             "DIR/<solver>-permuted.parquet (record_id, weight; the solver in the metadata) "
                             "for goldstar impact")
    args = parser.parse_args(argv)

    problem, _ = ProblemSource().load()
    tables = {amounts: in_problem_order(problem, options) for amounts, options in AMOUNT_OPTIONS.items()}
    floors: dict[str, dict] = {amounts: {} for amounts in AMOUNT_OPTIONS}
    runs = {}
    with concurrent.futures.ProcessPoolExecutor(2) if args.jobs == 2 else contextlib.nullcontext() as pool:
        for method in args.solvers.split(","):
            (m1, run1), (m2, run2), options = solve_both_orders(pool, method, args)
            for amounts, table in tables.items():
                t1, t2 = totals(table, problem.w0 * m1), totals(table, problem.w0 * m2)
                floors[amounts][method] = {k: abs(t1[k] - t2[k]) for k in t1}
            if args.save_weights is not None:
                save_weights(args.save_weights / f"{method}.parquet", problem.record_ids, problem.w0 * m1, method)
                save_weights(args.save_weights / f"{method}-permuted.parquet", problem.record_ids,
                             problem.w0 * m2, method)
            rel = np.abs(m1 - m2) / m1
            runs[method] = {"options": options, "order 1": run1, "order 2": run2,
                            "max_relative_weight_difference": float(rel.max()),
                            "records_differing_1pct": int((rel > 0.01).sum())}
            print(f"{method}: {run1['seconds']} s + {run2['seconds']} s; largest spread "
                  f"{max(floors['unaged'][method].values()):.4g} $bn (unaged), "
                  f"{max(floors['aged'][method].values()):.4g} $bn (aged); weights differ up to {rel.max():.3g}",
                  flush=True)
    result = {
        "command": shlex.join(["python", "scripts/noise_floor.py", *(argv if argv is not None else sys.argv[1:])]),
        "floors": floors, "runs": runs, "seed": args.seed, "jobs": args.jobs,
        "taxcalc": installed_version(), "year": problem_year(), "platform": platform.platform(),
        "units": "$bn, |total(file order) - total(permuted order)|",
        **({"note": args.note} if args.note else {}),
    }
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print("\n".join(noise_floor_section(args.out.parent)))
    return 0


def in_problem_order(problem, options: dict) -> pd.DataFrame:
    """Tax-Calculator's derived table of the CPS file for the problem's year, rows in its record order."""
    table, _ = derive(inputs_for([], {"records": None, "year": problem_year(), **options}))
    ids = table["record_id"].to_numpy()
    order = np.argsort(ids)
    pos = np.searchsorted(ids[order], problem.record_ids)
    table = table.iloc[order[pos]].reset_index(drop=True)
    if not np.array_equal(table["record_id"].to_numpy(), problem.record_ids):
        raise SystemExit("ERROR: the Tax-Calculator table's records are not the default problem's")
    return table


def save_weights(path: Path, record_id: np.ndarray, weight: np.ndarray, solver: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"record_id": pa.array(record_id, pa.int64()), "weight": pa.array(weight, pa.float64())})
    pq.write_table(table.replace_schema_metadata({WEIGHTS_SOLVER_KEY: json.dumps({"solver": solver}).encode()}),
                   path)


def problem_year() -> int:
    return ProblemSource().year


if __name__ == "__main__":
    sys.exit(main())
