"""The joint method's device check: the additive states solved jointly with the Newton systems
factored by numpy and scipy, then by torch on a device, in one run (ratios compare like with
like), from a finished separate batch.

    goldstar areas --areas states --recipe goldstar-69 --out bench-areas/states69 --no-tmd-weights --quiet
    python scripts/device_check_joint.py bench-areas/states69 --device cuda --out benchmarks/gpu-<device>-joint.json

Run from the repository root, or give the batch's national reference with --reference.

For each run: seconds, Newton steps, the seconds spent factoring (the kernel the device takes
over), the joint certificate, and how far its multipliers (every record x area) are from numpy's
run, absolutely and by the verifier's rule (goldstar.verify.multiplier_difference). The solves
are the command's own (goldstar.areas.joint_run.joint_steps), with the factor timed. Prints a
line a run and writes the figures as JSON with the command and the commit; exit 1 when a
certificate fails or the runs differ by more than RECOMPUTE_RTOL, 2 for bad input.
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

from goldstar.areas import command  # noqa: E402
from goldstar.areas.inputs import default_national_reference  # noqa: E402
from goldstar.areas.joint_run import JointAnswer, joint_kernels, joint_steps  # noqa: E402
from goldstar.areas.output import done_row  # noqa: E402
from goldstar.areas.within import is_reference  # noqa: E402
from goldstar.store.atomic import atomic_write_text  # noqa: E402
from goldstar.exceptions import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, InputError  # noqa: E402
from goldstar.solvers.additive_core import ON_NUMPY, Factoring  # noqa: E402
from goldstar.verify import RECOMPUTE_RTOL, multiplier_difference  # noqa: E402


def timed(factoring: Factoring) -> tuple[Factoring, list[float]]:
    """`factoring` whose kernels time their solves: (that factoring, the list its seconds go to)."""
    spent: list[float] = []

    def make(data):
        k = factoring.kernels(data)
        solve = k.solve

        def timed_solve(H, rhs):
            start = time.perf_counter()
            out = solve(H, rhs)  # numpy back: a device's work is finished when it returns
            spent.append(time.perf_counter() - start)
            return out

        k.solve = timed_solve
        return k

    return Factoring(make, factoring.where), spent


def run(national, areas, settings, hashes, rows, factoring: Factoring,
        baseline: np.ndarray | None) -> tuple[dict, JointAnswer] | str:
    """The joint steps as the command runs them (joint_run.joint_steps: the coupling's conflicts,
    then the certified solve from the rows' duals), its factoring timed; the conflicts' line when
    there is nothing to solve."""
    factoring, spent = timed(factoring)
    outcome = joint_steps(national, areas, settings, hashes, rows, None, factoring=factoring)
    if outcome.answer is None:
        return "; ".join(outcome.conflicts) + f": {outcome.conflicts_said()}"
    answer = outcome.answer
    cert, result = answer.certificate, answer.result
    row = {"factored_on": answer.factored_on, "seconds": answer.seconds, "newton_steps": result.inner,
           "factor_seconds": sum(spent), "factorizations": len(spent), "objective": cert.loss,
           "certificate_passed": bool(cert.passed), "fixed_point": cert.fixed_point_error, "gap": cert.gap,
           "coupling": cert.coupling_residual,
           "max_abs_diff": 0.0 if baseline is None else float(np.abs(answer.m - baseline).max()),
           "multiplier_difference": 0.0 if baseline is None else multiplier_difference(answer.m, baseline)}
    print(f"{answer.factored_on:28s} {answer.seconds:8.1f} s  steps={result.inner:4d}  factoring "
          f"{row['factor_seconds']:7.1f} s ({len(spent)})  Q={cert.loss:.12g}  cert={cert.passed}  "
          f"max diff={row['max_abs_diff']:.3g}", flush=True)
    return row, answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("batch", type=Path, help="the --out of a finished `goldstar areas --areas states` batch")
    parser.add_argument("--recipe", default="goldstar-69", help="the batch's recipe (default goldstar-69)")
    parser.add_argument("--reference", type=Path, default=None,
                        help="the batch's national reference, as given to it (default: reference/band from here)")
    parser.add_argument("--device", default="cuda", help="torch device for the second run (default cuda)")
    parser.add_argument("--out", type=Path, default=Path("device_check_joint.json"))
    options = parser.parse_args()
    commit = _commit()  # the code that runs: read before the minutes of solving
    areas_parser = argparse.ArgumentParser()
    command.add_arguments(areas_parser)
    # option=value, so that a value starting with '-' is read as a value
    given = ["--areas=states", f"--recipe={options.recipe}", f"--out={options.batch}"]
    if options.reference is not None:
        given.append(f"--reference={options.reference}")
    args = areas_parser.parse_args(given)
    try:
        if not options.batch.is_dir():
            raise InputError(f"{options.batch}: not a directory; give the --out of a finished states batch")
        if is_reference(options.batch):
            raise InputError(f"{options.batch}: a compact areas reference, not a batch; give the --out of a finished "
                             "states batch")
        _check_writable(options.out)
        if options.reference is None and not default_national_reference().is_dir():
            raise InputError(f"no national reference at {default_national_reference()} from here: run from the "
                             "repository root, or give the batch's national reference with --reference DIR")
        factoring = joint_kernels(options.device, "--device")
        national, areas, settings, hashes = command.batch_inputs(args, "states")[:4]
        rows = [done_row(options.batch, a.name, h) for a, h in zip(areas, hashes)]
        missing = [a.name for a, row in zip(areas, rows) if row is None]
        if missing:
            raise InputError(f"{options.batch}: no finished separate solve of {', '.join(missing[:5])}"
                             f"{' ...' if len(missing) > 5 else ''} with these inputs; run `goldstar areas "
                             f"{' '.join(given)}` first")
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    import torch

    base = run(national, areas, settings, hashes, rows, ON_NUMPY, None)
    if isinstance(base, str):  # bands the coupling makes unreachable together: nothing to time
        print(f"ERROR: additive: {base}", file=sys.stderr)
        return EXIT_FAILED
    base_row, base_answer = base
    data = base_answer.problem.data
    print(f"{data.K} areas x {data.n:,} records, {data.N} kept targets", flush=True)
    device_row, _ = run(national, areas, settings, hashes, rows, factoring, base_answer.m)
    figures = {"command": [Path(sys.argv[0]).name, *sys.argv[1:]], "commit": commit, "areas": data.K,
               "records": data.n, "kept_targets": data.N, "recipe": options.recipe,
               "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
               "runs": [base_row, device_row]}
    atomic_write_text(options.out, json.dumps(figures, indent=2) + "\n")  # whole or not at all
    print(f"factoring: {base_row['factor_seconds'] / max(device_row['factor_seconds'], 1e-9):.2f}x, whole solve: "
          f"{base_row['seconds'] / device_row['seconds']:.2f}x; wrote {options.out}")
    failed = [row["factored_on"] for row in (base_row, device_row) if not row["certificate_passed"]]
    apart = device_row["multiplier_difference"] > RECOMPUTE_RTOL
    if failed or apart:
        print(f"FAILED: {'certificate of ' + ', '.join(failed) if failed else ''}"
              f"{'; ' if failed and apart else ''}{'the runs differ by more than a recompute may' if apart else ''}"
              f" (multipliers {device_row['multiplier_difference']:.3g} apart, rtol {RECOMPUTE_RTOL:g} of "
              "max(|x|, 1))", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _check_writable(out: Path) -> None:
    """InputError unless `out` can be written (checked before the solves, by opening it to append:
    an existing file is left as it is, one made for the check is removed)."""
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"--out {out}: give a file in an existing directory (checked before the solves)")
    existed = out.exists()
    try:
        with open(out, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise InputError(f"--out {out}: cannot be written ({exc.strerror}; checked before the solves)") from None
    if not existed:
        out.unlink()


def _commit() -> str | None:
    """The repository's commit the script runs from (None outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


if __name__ == "__main__":
    sys.exit(main())
