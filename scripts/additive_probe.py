"""The joint method of the additive areas on a synthetic joint problem at a chosen slack penalty,
or on the 51 states as `goldstar areas --areas states` builds them.

    python scripts/additive_probe.py [--records 3000] [--cells 20] [--areas 10] [--rho 1e6]
    python scripts/additive_probe.py --states [--recipe goldstar-77] [--from-separate reference/areas]
    ... [--max-exhaustion E] [--dual-prox W --prox-decay 0.1 --prox-rounds 12] [--max-inner N] [--time-limit S]
        [--save FILE.npz] [--start FILE.npz]

Synthetic: K areas over n records and J cells (shares from a Dirichlet draw; each area's targets
its share of the national total moved by up to 10%; box [0, 25]), every band with slack penalty
rho in relative units. States: each state's targets, pre-pass drops, bands and slack penalties
(target units, the continuation up to rho_cap 1e16) as its own band problem has them, the
records with a positive national weight; --from-separate starts at the last stage from the
separate solves' duals and their x. --max-exhaustion E caps each record's sum over the areas at
E instead of making it add up to one. Cells whose areas' bands add up outside what the coupled
records can reach (goldstar.areas.joint.coupling_conflicts) are printed and nothing is solved
(exit 1). Prints the method's iterations and seconds, then the joint certificate's figures
(docs/additive.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar.certificate.additive import certify_joint  # noqa: E402
from goldstar.solvers import get_solver  # noqa: E402
from goldstar.store.atomic import atomic_write  # noqa: E402
from goldstar.areas.joint import JointProblem, check_cap, coupling_conflicts, joint_problem, separate_duals  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402
from goldstar.areas.joint_run import JOINT_HEAP_BYTES  # noqa: E402
from goldstar.areas.memory import keep_arrays_on_heap  # noqa: E402
from goldstar.solvers.additive_core import EXHAUSTION, JointData, run_joint, uncoupled_x  # noqa: E402

EPS = 0.005


def _save(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: numpy adds no suffix to the name
        np.savez(fh, x=x, y=y)


def progress(entry: dict) -> None:
    if "round" in entry:
        print(f"round {entry['round']} at dual prox weight {entry['weight']:g}: the centre moved "
              f"{entry['moved']:.3g} ({entry['message']})", flush=True)
        return
    print(f"  stage {entry['stage']} outer {entry['outer']} inner {entry['inner']}: |G| {entry['G_inf']:.3g}, "
          f"step {entry['step']:.3g}, {entry['seconds']:.1f} s", flush=True)


def synthetic(n: int, J: int, K: int, seed: int = 0) -> tuple[JointData, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = sp.random(n, J, density=0.6, random_state=seed, data_rvs=lambda k: rng.uniform(0.5, 2.0, k)).tocsr()
    A = A[np.diff(A.indptr) > 0]
    w = rng.uniform(1.0, 3.0, A.shape[0])
    shares = rng.dirichlet(np.full(K, 3.0))
    t = shares[:, None] * (A.T @ w)[None, :] * (1.0 + 0.1 * rng.uniform(-1.0, 1.0, (K, J)))
    kept = np.ones((K, J), dtype=bool)
    ts = np.maximum(np.abs(t), 1.0)
    data = JointData(A=A, absA=abs(A), w=w, shares=shares, upper=np.full(K, 25.0), kept=kept, ts=ts)
    return data, ((t - EPS * abs(t)) / ts)[kept], ((t + EPS * abs(t)) / ts)[kept]


def states(recipe: str, max_exhaustion: float | None) -> JointProblem:
    """The 51 states' joint problem as `goldstar areas --areas states --recipe RECIPE` builds them."""
    from goldstar.areas import command
    from goldstar.cli import build_parser

    args = build_parser().parse_args(["areas", "--areas", "states", "--recipe", recipe, "--out", "unused"])
    national, areas, settings, hashes, _ = command.batch_inputs(args, "states")
    problem = joint_problem(national, areas, settings, hashes, max_exhaustion=max_exhaustion)
    shares = np.array([spec.pop_share for spec in areas])
    print(f"{len(areas)} states, shares summing to {shares.sum():.17g} (used divided by it), "
          f"{problem.data.n:,} records feed a cell, {problem.data.N} kept targets")
    return problem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--areas", type=int, default=10)
    parser.add_argument("--rho", type=float, default=1e6)
    parser.add_argument("--dual-prox", type=float, default=0.0,
                        help="rounds of a proximal point on the dual, starting at this weight (0: none)")
    parser.add_argument("--prox-decay", type=float, default=0.1, help="the dual prox weight's factor a round")
    parser.add_argument("--prox-rounds", type=int, default=12, help="rounds with the dual prox term")
    parser.add_argument("--max-inner", type=int, default=None, help="the inner Newton's cap (default band-newton's)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds for each round's loop")
    parser.add_argument("--save", type=Path, help="write the answer (x, y) to this .npz")
    parser.add_argument("--start", type=Path, help="start from a --save file's x and y")
    parser.add_argument("--states", action="store_true", help="the 51 states instead of a synthetic problem")
    parser.add_argument("--recipe", default="goldstar-77", help="with --states: the areas recipe")
    parser.add_argument("--max-exhaustion", type=float, default=None, metavar="E",
                        help="cap each record's area weights at E times its national weight instead of "
                             "making them add up to it")
    parser.add_argument("--from-separate", type=Path, metavar="DIR",
                        help="with --states: start at the last slack stage from the separate solves' "
                             "optimum, read from an areas reference made from the same national weights and "
                             "recipe (reference/areas)")
    args = parser.parse_args(argv)
    if args.from_separate is not None and (not args.states or args.start is not None):
        parser.error("--from-separate needs --states, and not --start")
    if args.max_exhaustion is not None:
        try:
            check_cap(args.max_exhaustion, "--max-exhaustion")
        except ValueError as exc:
            parser.error(str(exc))
    if args.from_separate is not None and not (args.from_separate / "duals.parquet").is_file():
        parser.error(f"--from-separate {args.from_separate}: not an areas reference (no duals.parquet in it)")
    if args.start is not None and not args.start.is_file():
        parser.error(f"--start {args.start}: no such file")
    if args.save is not None and args.save.exists():
        parser.error(f"--save {args.save}: the file exists; name a new one")
    x0 = y0 = None
    if args.states:
        try:
            problem = states(args.recipe, args.max_exhaustion)
        except InputError as exc:
            parser.error(str(exc))
        data, l, u, stages = problem.data, problem.l, problem.u, problem.stages
        ids, areas, names = problem.record_ids, problem.areas, problem.targets
        conflicts = coupling_conflicts(problem)
        if conflicts:
            print("bands the coupling makes unreachable together (the cells' totals); not solved:")
            for conflict in conflicts:
                print(f"  {conflict}")
            return 1
        what = f"{len(stages)} stage(s) to rho_cap"
        if args.from_separate is not None:
            try:
                y0 = separate_duals(problem, args.from_separate)
            except InputError as exc:
                parser.error(f"--from-separate: {exc}")
            x0, stages = uncoupled_x(data, y0), stages[-1:]
            sums, over = (x0 * data.shares).sum(axis=1), args.max_exhaustion or 2.0
            print(f"from the separate optimum: each record's area weights sum to at most {sums.max():.6g} "
                  f"times its national weight ({int((sums > over).sum())} records above {over:g}x)")
            what = "the last stage from the separate optimum"
    else:
        data, l, u = synthetic(args.records, args.cells, args.areas)
        if args.max_exhaustion is not None:
            data.mode, data.bound = EXHAUSTION, args.max_exhaustion
        stages, ids = [np.full(data.N, args.rho)], np.arange(data.n)
        areas, names = [f"A{a}" for a in range(data.K)], [f"t{j}" for j in range(data.N)]
        what = f"rho {args.rho:g}"
    rho = stages[-1]
    keep_arrays_on_heap(JOINT_HEAP_BYTES)  # as the command's joint solve does
    start = time.perf_counter()
    options = dict(get_solver("band-newton").defaults)
    if args.max_inner is not None:
        options["max_inner"] = args.max_inner
    options["time_limit"] = args.time_limit
    if args.start is not None:
        saved = np.load(args.start)
        if not {"x", "y"} <= set(saved.files):
            parser.error(f"--start {args.start}: not a --save file (it has no x and y arrays)")
        x0, y0 = saved["x"], saved["y"]
    result = run_joint(data, l, u, stages, options, progress=progress, dual_prox=args.dual_prox, x0=x0, y0=y0,
                       prox_rounds=args.prox_rounds, prox_decay=args.prox_decay)
    if args.save is not None:
        atomic_write(args.save, lambda tmp: _save(tmp, result.x, result.y))
    seconds = time.perf_counter() - start
    cert = certify_joint(data, l, u, rho, result.x, result.y, record_ids=ids, areas=areas, names=names)
    coupling = data.mode if args.max_exhaustion is None else f"{data.mode} at E = {args.max_exhaustion:g}"
    print(f"{data.K} areas x {data.n:,} records, {data.N} targets, {coupling}, {what}: {result.message}; "
          f"{seconds:.1f} s")
    print(f"certificate {'passed' if cert.passed else 'FAILED'}: fixed point {cert.fixed_point_error:.3g}, "
          f"gap {cert.gap:.3g} (Q {cert.loss:.6g}), coupling {cert.coupling_residual:.3g}")
    for failure in cert.failures():
        print(f"  {failure}")
    return 0 if cert.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
