"""The joint Newton matrix built both ways, in one run: its pairs of areas' term through the sparse
product alone (every record), and split between the sparse product and the dense products a
pair of cells (additive_core.DENSE_PAIR_FACTOR), at the state of the separate solves' duals of a
finished batch (where the joint solve starts).

    goldstar areas --areas states --recipe tmd-states --engine taxcalc --slack-units relative --out OUT --no-tmd-weights
    python scripts/bench_newton_matrix.py OUT --out newton_matrix.json -- --recipe tmd-states --engine taxcalc --slack-units relative

The options after `--` are the batch's own `goldstar areas` options (its --areas defaults to
states, its --out is OUT). Prints each build's seconds and the largest difference between the
two matrices relative to their largest entry, and writes the figures as JSON; exit 1 when the
two differ by more than 1e-12 of it (each is the same sum in another order), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar.areas import command  # noqa: E402
from goldstar.areas.joint import joint_problem  # noqa: E402
from goldstar.areas.joint_run import row_duals  # noqa: E402
from goldstar.areas.output import done_row  # noqa: E402
from goldstar.exceptions import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, InputError  # noqa: E402
from goldstar.present.benchmark import machine  # noqa: E402
from goldstar.solvers import additive_core  # noqa: E402
from goldstar.store.atomic import atomic_write_text  # noqa: E402

AGREE = 1e-12  # of the largest entry: the same terms summed in another order


def build(data: additive_core.JointData, grams: additive_core.JointGrams, cp: additive_core.Coupled,
          factor: float) -> tuple[np.ndarray, float]:
    """newton_matrix at cp with the pairs split at `factor` (inf: every record in the sparse
    product); the matrix and its seconds."""
    start = time.perf_counter()
    H = additive_core.newton_matrix(data, grams, cp, dense_pair_factor=factor)
    return H, time.perf_counter() - start


def main(argv: list[str]) -> int:
    ours, theirs = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("batch", type=Path, help="the --out of a finished `goldstar areas` batch")
    parser.add_argument("--out", type=Path, default=Path("newton_matrix.json"), help="the figures (JSON)")
    parser.add_argument("--repeat", type=int, default=2, help="builds each way (default 2; the fastest is kept)")
    options = parser.parse_args(ours)
    areas_parser = argparse.ArgumentParser(prog="goldstar areas")
    command.add_arguments(areas_parser)
    given = ["--areas=states", *theirs, f"--out={options.batch}"]
    try:
        args = areas_parser.parse_args(given)
        if options.repeat < 1:
            raise InputError(f"--repeat {options.repeat}: give 1 or more")
        if not options.batch.is_dir():
            raise InputError(f"{options.batch}: not a directory; give the --out of a finished batch")
        if options.out.is_dir() or not options.out.parent.is_dir():
            raise InputError(f"--out {options.out}: give a file in an existing directory")
        national, areas, settings, hashes = command.batch_inputs(args, args.areas)[:4]
        rows = [done_row(options.batch, a.name, h) for a, h in zip(areas, hashes)]
        missing = [a.name for a, row in zip(areas, rows) if row is None]
        if missing:
            raise InputError(f"{options.batch}: no finished separate solve of {', '.join(missing[:5])} with these "
                             f"inputs; run `goldstar areas {' '.join(given)}` first")
        problem = joint_problem(national, areas, settings, hashes, max_exhaustion=args.max_exhaustion)
    except (InputError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    data = problem.data
    cp = additive_core.coupled_x(data, data.CT(row_duals(problem, rows)))
    at_bound = (~cp.free).sum(axis=1)
    sparse_rows, dense_rows = additive_core.pair_records(data, cp)
    pairs, dense = sparse_rows.size + dense_rows.size, dense_rows.size
    print(f"{data.K} areas x {data.n:,} records, {data.N} kept targets; records at a bound in two areas or more "
          f"{pairs:,} (most {int(at_bound.max())}), of them through the dense products {dense:,}", flush=True)
    grams = additive_core.JointGrams(data)  # computed once a solve: outside the timings
    seconds: dict[str, list[float]] = {"sparse": [], "split": []}
    for _ in range(options.repeat):
        sparse, t_sparse = build(data, grams, cp, np.inf)
        split, t_split = build(data, grams, cp, additive_core.DENSE_PAIR_FACTOR)
        seconds["sparse"].append(t_sparse)
        seconds["split"].append(t_split)
        print(f"sparse product alone {t_sparse:6.2f} s   split {t_split:6.2f} s", flush=True)
    apart = float(np.abs(split - sparse).max() / np.abs(sparse).max())
    best = {way: min(times) for way, times in seconds.items()}
    print(f"fastest: {best['sparse']:.2f} s and {best['split']:.2f} s ({best['sparse'] / best['split']:.2f}x); "
          f"the matrices {apart:.3g} apart (of the largest entry)")
    figures = {"command": [Path(sys.argv[0]).name, *argv], "machine": machine(), "areas": data.K,
               "records": data.n, "kept_targets": data.N, "records_in_pairs": pairs,
               "records_dense": dense, "most_areas_at_a_bound": int(at_bound.max()),
               "dense_pair_factor": additive_core.DENSE_PAIR_FACTOR, "seconds": seconds, "fastest": best,
               "relative_difference": apart}
    atomic_write_text(options.out, json.dumps(figures, indent=2) + "\n")
    print(f"wrote {options.out}")
    if apart > AGREE:
        print(f"FAILED: the two builds differ by {apart:.3g} of the largest entry (at most {AGREE:g})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
