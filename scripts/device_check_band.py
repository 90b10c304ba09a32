"""The GPU check for the band objective: band-newton-torch on CUDA against the committed band
reference and against numpy, in one run (ratios compare like with like).

    python scripts/device_check_band.py --out benchmarks/gpu-<device>-band.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar import certify, solve  # noqa: E402
from goldstar.problem.objectives import Band  # noqa: E402
from goldstar.store.reference import read_reference  # noqa: E402
from goldstar.inputs.source import ProblemSource  # noqa: E402
from goldstar.inputs.synth import synth_problem  # noqa: E402
from goldstar.verify import aligned_multipliers, recorded_dropped  # noqa: E402


def run(problem, method, baseline, label, where, **options):
    """Solve, time, certify; the largest relative difference from `baseline` (None: this run is
    the baseline, 0)."""
    start = time.perf_counter()
    solution = solve(problem, method, **options)
    seconds = time.perf_counter() - start
    row = {"problem": label, "backend": where, "seconds": seconds, "inner_iterations": solution.iterations,
           "objective": solution.loss, "status": solution.message,
           "max_rel_diff": 0.0 if baseline is None else
           float(np.max(np.abs(solution.m - baseline) / np.maximum(baseline, 1e-300))),
           "certificate_passed": certify(problem, solution.m, solution.y).passed}
    print(f"{label:34s} {where:22s} {seconds:8.3f} s  inner={solution.iterations:4d}  Q={solution.loss:.12g}  "
          f"maxrel={row['max_rel_diff']:.3g}  cert={row['certificate_passed']}")
    return row, solution


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", type=Path, default=Path("reference/band"))
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("device_check_band.json"))
    args = parser.parse_args()
    import torch

    ref = read_reference(args.reference)
    source = ProblemSource.from_dict(ref.metadata["problem"]["source"]).resolved(args.reference)
    problem, _ = source.load(dropped=recorded_dropped(ref))
    m_ref = aligned_multipliers(ref, problem)
    rows = []
    label = "default band (target units)"
    for where, method, options in [("numpy (cpu)", "band-newton", {}),
                                   (f"torch {args.device}, first call", "band-newton-torch", {"device": args.device}),
                                   (f"torch {args.device}", "band-newton-torch", {"device": args.device}),
                                   ("torch cpu", "band-newton-torch", {"device": "cpu"})]:
        rows.append(run(problem, method, m_ref, label, where, **options)[0])
    relative = problem.with_objective(Band(slack_units="relative"))
    base_row, base = run(relative, "band-newton", None, "default band (relative)", "numpy (cpu)")
    rows += [base_row, run(relative, "band-newton-torch", base.m, "default band (relative)",
                           f"torch {args.device}", device=args.device)[0]]
    if args.synthetic:
        big = synth_problem(args.synthetic, 550, seed=7).with_objective(Band(slack_units="relative"))
        label = f"synthetic n={big.n:,} (relative)"
        base_row, base = run(big, "band-newton", None, label, "numpy (cpu)")
        rows += [base_row, run(big, "band-newton-torch", base.m, label, f"torch {args.device}", device=args.device)[0]]
    figures = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
               "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
               "runs": rows}
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
