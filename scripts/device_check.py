"""The GPU check: newton-torch on CUDA against the committed reference and against numpy.

Run on a machine with a GPU (see docs/gpu.md). Prints a table and
writes device_check.json next to --out. Each figure is measured in this one
run, so ratios compare like with like.
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
from goldstar.store.reference import read_reference  # noqa: E402
from goldstar.inputs.source import ProblemSource  # noqa: E402
from goldstar.inputs.synth import synth_problem  # noqa: E402
from goldstar.verify import aligned_multipliers  # noqa: E402


def timed(problem, method, **options):
    start = time.perf_counter()
    solution = solve(problem, method, **options)
    return solution, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", type=Path, default=Path("reference/default"))
    parser.add_argument("--synthetic", type=int, default=1_000_000, help="records of the synthetic run (0: skip)")
    parser.add_argument("--out", type=Path, default=Path("device_check.json"))
    parser.add_argument("--device", default="cuda", help="torch device to check (default cuda)")
    parser.add_argument("--torch-lbfgs-steps", type=int, default=0,
                        help="also run TMD's torch L-BFGS this many steps on the device and on the CPU "
                             "and compare the two (0: skip)")
    args = parser.parse_args()

    import torch

    figures = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
    }
    ref = read_reference(args.reference)
    problem, _ = ProblemSource.from_dict(ref.metadata["problem"]["source"]).load()
    m_ref = aligned_multipliers(ref, problem)
    rows = []
    for label, method, options in [
        ("numpy (cpu)", "newton", {}),
        (f"torch {args.device}, first call", "newton-torch", {"device": args.device}),
        (f"torch {args.device}", "newton-torch", {"device": args.device}),
        ("torch cpu", "newton-torch", {"device": "cpu"}),
    ]:
        solution, seconds = timed(problem, method, **options)
        rel = float(np.max(np.abs(solution.m - m_ref) / m_ref))
        cert = certify(problem, solution.m)
        rows.append({
            "problem": "default (CPS 2015)", "backend": label, "seconds": seconds,
            "iterations": solution.iterations, "loss": solution.loss, "pg": solution.pg,
            "max_rel_diff_vs_reference": rel, "certificate_passed": cert.passed,
            "status": solution.message,
        })
    if args.synthetic:
        big = synth_problem(args.synthetic, 550, seed=7)
        base, base_s = timed(big, "newton")
        rows.append({"problem": f"synthetic n={big.n:,} J=550", "backend": "numpy (cpu)", "seconds": base_s,
                     "iterations": base.iterations, "loss": base.loss, "pg": base.pg,
                     "max_rel_diff_vs_reference": 0.0, "certificate_passed": certify(big, base.m).passed,
                     "status": base.message})
        sol, s = timed(big, "newton-torch", device=args.device)
        rows.append({"problem": f"synthetic n={big.n:,} J=550", "backend": f"torch {args.device}", "seconds": s,
                     "iterations": sol.iterations, "loss": sol.loss, "pg": sol.pg,
                     "max_rel_diff_vs_reference": float(np.max(np.abs(sol.m - base.m) / base.m)),
                     "certificate_passed": certify(big, sol.m).passed, "status": sol.message})
    if args.torch_lbfgs_steps:
        legacy = {}
        for device in (args.device, "cpu"):
            sol, s = timed(problem, "torch-lbfgs", device=device, max_steps=args.torch_lbfgs_steps)
            legacy[device] = sol
            rows.append({"problem": "default (CPS 2015)", "backend": f"torch-lbfgs {device}", "seconds": s,
                         "iterations": sol.iterations, "loss": sol.loss, "pg": sol.pg,
                         "max_rel_diff_vs_reference": float(np.max(np.abs(sol.m - m_ref) / m_ref)),
                         "certificate_passed": certify(problem, sol.m).passed, "status": sol.message})
        a, b = legacy[args.device].m, legacy["cpu"].m
        figures["torch_lbfgs_device_vs_cpu"] = {
            "steps": args.torch_lbfgs_steps,
            "max_rel_diff": float(np.max(np.abs(a - b) / b)),
            "allclose_weights": bool(np.allclose(problem.w0 * a, problem.w0 * b)),
        }
        print(f"torch-lbfgs {args.device} vs cpu after {args.torch_lbfgs_steps} steps: "
              f"max rel diff {figures['torch_lbfgs_device_vs_cpu']['max_rel_diff']:.3g}, "
              f"allclose {figures['torch_lbfgs_device_vs_cpu']['allclose_weights']}")
    figures["runs"] = rows
    for r in rows:
        print(f"{r['problem']:28s} {r['backend']:24s} {r['seconds']:8.3f} s  it={r['iterations']:3d}  "
              f"loss={r['loss']:.12g}  maxrel={r['max_rel_diff_vs_reference']:.3g}  cert={r['certificate_passed']}")
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
