"""The `goldstar` command line. main(argv) -> exit code.

Exit codes: 0 success; 1 a check failed or a solver did not converge;
2 bad input (something could not be read, or an argument is wrong), including
an output that may not be written (goldstar.store.outputs) and a reference locked by
another run (goldstar.store.lock): nothing was done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

from .defaults import (
    DEFAULT_EPS, DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_REFERENCES, DEFAULT_SLACK_PENALTY, DEFAULT_UPPER,
    DEFAULT_YEAR, SHOWN_DROPPED, SLACK_UNITS, UNREACHABLE_POLICIES,
)
from .exceptions import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, GoldstarError, InputError, VerificationFailed
from .store.outputs import BUILD_REPORT_COLUMNS, SOLVE_METADATA_KEY, check_output_file

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command, str]] = {}


def command(name: str, help_text: str, arguments: Callable[[argparse.ArgumentParser], None]):
    """Register a sub-command: its arguments and its function."""

    def wrap(fn: Command) -> Command:
        COMMANDS[name] = (arguments, fn, help_text)
        return fn

    return wrap


def parse_option(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as JSON when it parses (numbers, null, true), else a string."""
    if "=" not in text:
        raise InputError(f"--option must look like key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


# -- synth -------------------------------------------------------------------------


def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", type=int, required=True, help="number of records n")
    p.add_argument("--targets", type=int, required=True, help="number of targets J")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="problem directory to write")
    _force_arg(p)


def _force_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace a goldstar problem directory already at --out (never any other directory)")


def _prepare_problem_out(args: argparse.Namespace) -> None:
    """Refuse --out before any work when it may not be written (goldstar.store.outputs)."""
    from .store.outputs import PROBLEM, prepare_output

    prepare_output(args.out, PROBLEM, replace=args.force)


@command("synth", "write a seeded TMD-shaped synthetic problem in the interchange layout", _synth_args)
def cmd_synth(args: argparse.Namespace) -> int:
    from .store.layout import write_problem
    from .inputs.synth import synth_problem

    if args.seed < 0:
        raise InputError(f"`--seed` must be >= 0, got {args.seed}")
    _prepare_problem_out(args)
    problem = synth_problem(args.records, args.targets, args.seed)
    write_problem(problem, args.out, {"source": "goldstar synth", "seed": args.seed}, replace=args.force)
    print(f"wrote {args.out}: n={problem.n} J={problem.J} nnz={problem.nnz} "
          f"lam in [{problem.penalized.lam.min():.3g}, {problem.penalized.lam.max():.3g}]")
    return EXIT_OK


# -- solve -------------------------------------------------------------------------


def _solve_args(p: argparse.ArgumentParser) -> None:
    from .solvers import SOLVERS

    p.add_argument("problem", type=Path, help="problem directory (interchange layout)")
    p.add_argument("--solver", default=None, choices=sorted(SOLVERS),
                   help="default: the exact solver of the problem's objective (newton or band-newton)")
    p.add_argument("--out", type=Path, required=True, help="Parquet file of m and weight per record")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a solver option, e.g. --option tol=1e-10 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--write-unconverged", action="store_true",
                   help="write the answer even when it did not converge or fails its certificate "
                        "(marked in the file; exit code still 1)")


@command("solve", "solve a problem directory and write the weights", _solve_args)
def cmd_solve(args: argparse.Namespace) -> int:
    """Solve, certify, and write --out only when the answer converged and its certificate passed.

    Otherwise nothing is written (an earlier file at --out stays as it was) and
    the exit code is 1; --write-unconverged writes the answer anyway, marks it
    in the file's metadata and says so on stderr, and the exit code is still 1.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .store.atomic import atomic_write
    from .store.layout import read_problem
    from .progress import Progress
    from .solvers.solve import check_options, exact_solver
    from .workflow import solve_certified

    check_output_file(args.out, "weights", "--out")
    raw_options = dict(parse_option(o) for o in args.option)
    if args.solver is not None:
        check_options(args.solver, raw_options)  # before the problem is read
    problem = read_problem(args.problem)
    method = args.solver or exact_solver(problem)
    check_options(method, raw_options)  # before the progress bar starts
    with Progress(method, quiet=args.quiet) as progress:
        solution, cert = solve_certified(problem, method, raw_options, progress=progress)
    print(f"solver      {solution.method} ({solution.message})")
    print(f"loss        {solution.loss:.15g}")
    print(f"pg          {solution.pg:.3g}")
    print(f"gap         {cert.gap:.3g}")
    print(f"certificate {'passed' if cert.passed else 'FAILED: ' + '; '.join(cert.failures())}")
    at_lower = int(np.sum(solution.m <= problem.lower))
    at_upper = int(np.sum(solution.m >= problem.upper))
    print(f"bounds      {at_lower:,} at lower ({at_lower / problem.n:.2%}), "
          f"{at_upper:,} at upper ({at_upper / problem.n:.2%})")
    print(f"iterations  {solution.iterations}")
    print(f"seconds     {solution.seconds:.3f}")
    faults = []
    if not solution.success:
        faults.append(f"{solution.method} did not converge: {solution.message}")
    if not cert.passed:
        faults.append("its answer fails the certificate: " + "; ".join(cert.failures()))
    if faults and not args.write_unconverged:
        print(f"ERROR: {'; '.join(faults)}. Nothing written to {args.out}; pass --write-unconverged "
              "to write this answer anyway", file=sys.stderr)
        return EXIT_FAILED
    status = {"method": solution.method, "status": solution.summary()["status"], "message": solution.message,
              "converged": solution.success, "certificate_passed": cert.passed}
    table = pa.table({
        "record_id": pa.array(problem.record_ids, pa.int64()),
        "m": pa.array(solution.m, pa.float64()),
        "weight": pa.array(problem.w0 * solution.m, pa.float64()),
    }).replace_schema_metadata({SOLVE_METADATA_KEY: json.dumps(status, sort_keys=True).encode("utf-8")})
    atomic_write(args.out, lambda tmp: pq.write_table(table, tmp))
    print(f"wrote       {args.out}")
    if faults:
        for line in (f"WARNING: wrote UNCONVERGED weights to {args.out} (--write-unconverged): "
                     f"{'; '.join(faults)}.",
                     "WARNING: these are NOT the optimum; its Parquet metadata says so "
                     "(goldstar_solve: converged/certificate_passed)."):
            print(line, file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# -- build -------------------------------------------------------------------------


def _build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", type=Path, default=None,
                   help="record table in SOI variable names (CSV, CSV.gz or Parquet); "
                        "default: the embedded CPS file through its adapter")
    p.add_argument("--targets", type=Path, default=None,
                   help="SOI target table (soi.csv's columns); default: the embedded soi.csv")
    p.add_argument("--year", type=int, default=DEFAULT_YEAR, help=f"SOI year (default {DEFAULT_YEAR})")
    p.add_argument("--out", type=Path, required=True, help="problem directory to write")
    p.add_argument("--report", type=Path, default=None,
                   help="CSV of name, target, initial weighted total, relative error")
    _force_arg(p)
    _parameter_args(p)
    _objective_args(p)
    _engine_args(p)


def _objective_args(p: argparse.ArgumentParser) -> None:
    """--objective and the band objective's parameters (goldstar.problem.objectives.band)."""
    from .problem.objectives import OBJECTIVES

    p.add_argument("--objective", choices=sorted(OBJECTIVES), default="penalized",
                   help="penalized (the notes', default) or band (TMD's band QP)")
    p.add_argument("--eps", type=float, default=None, help=f"band: half-width relative to the target (default {DEFAULT_EPS:g})")
    p.add_argument("--slack-penalty", type=float, default=None, help=f"band: M (default {DEFAULT_SLACK_PENALTY:g})")
    p.add_argument("--slack-units", choices=SLACK_UNITS, default=None,
                   help=f"band: {SLACK_UNITS[0]} (TMD's construction, default) or {SLACK_UNITS[1]}")
    p.add_argument("--unreachable", choices=UNREACHABLE_POLICIES, default=None,
                   help=f"band, target units: {UNREACHABLE_POLICIES[0]} unreachable targets and record them "
                        f"(default), or {UNREACHABLE_POLICIES[1]} (exit 1)")


def objective_spec(args: argparse.Namespace) -> dict[str, Any] | None:
    """The objective the flags ask for, as stored (None: penalized, with --penalty).

    Band flags with the penalized objective, or --penalty with band, are refused."""
    band_flags = {"--eps": args.eps, "--slack-penalty": args.slack_penalty,
                  "--slack-units": args.slack_units, "--unreachable": args.unreachable}
    given = [flag for flag, value in band_flags.items() if value is not None]
    if args.objective == "penalized":
        if given:
            raise InputError(f"{', '.join(given)} belong to --objective band, not penalized")
        return None
    if getattr(args, "penalty", None) is not None:
        raise InputError("--penalty belongs to --objective penalized, not band")
    from .problem.objectives import Band

    spec = {"name": "band", **{flag[2:].replace("-", "_"): value for flag, value in band_flags.items()
                               if value is not None}}
    Band.from_dict({k: v for k, v in spec.items() if k != "name"}, "the command line")  # validate now
    return spec


def _engine_args(p: argparse.ArgumentParser) -> None:
    from .inputs.engines import add_engine_arguments

    add_engine_arguments(p)


def _parameter_args(p: argparse.ArgumentParser) -> None:
    """--penalty, --lower, --upper: None when not given, and the default (goldstar.defaults) applies later."""
    p.add_argument("--penalty", type=float, default=None, help=f"deviation penalty (default {DEFAULT_PENALTY})")
    p.add_argument("--lower", type=float, default=None, help=f"lowest multiplier (default {DEFAULT_LOWER})")
    p.add_argument("--upper", type=float, default=None, help=f"highest multiplier (default {DEFAULT_UPPER:g})")


def given_or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


@command("build", "build a problem directory from a record table and the SOI targets", _build_args)
def cmd_build(args: argparse.Namespace) -> int:
    import pandas as pd

    from .problem.objectives.penalized import relative_error
    from .store.atomic import atomic_write
    from .inputs.engines import engine_options
    from .store.layout import write_problem
    from .workflow import build

    if args.report is not None:
        check_output_file(args.report, "build report", "--report")
    _prepare_problem_out(args)
    built = build(
        args.records, args.targets, args.year, objective=objective_spec(args),
        penalty=given_or_default(args.penalty, DEFAULT_PENALTY),
        lower=given_or_default(args.lower, DEFAULT_LOWER), upper=given_or_default(args.upper, DEFAULT_UPPER),
        engine=args.engine, engine_options=engine_options(args),
    )
    problem, info, prepass, metadata, seconds = built.problem, built.info, built.prepass, built.metadata, built.seconds
    for message in built.warnings:
        print(f"WARNING: {message}", file=sys.stderr)
    if info.engine is not None:
        print(f"engine        {info.engine['name']} {info.engine.get('version') or ''}".rstrip()
              + ("" if "cache_hit" not in info.engine else
                 f" (derived table {'from the cache' if info.engine['cache_hit'] else 'computed and cached'})"))
    write_problem(problem, args.out, metadata, replace=args.force)
    print(f"records       n = {problem.n:,} ({info.filers:,} filers; weights prescaled by {info.prescale:.6f})")
    print(f"targets       J = {problem.J} ({len(info.dropped_targets)} dropped: no contributing record)")
    print(f"nonzeros      {problem.nnz:,} ({problem.nnz / problem.n:.2f} a record)")
    print(f"objective     {problem.objective.as_dict()['name']}")
    if problem.objective.name == "penalized":
        print(f"L0            {problem.penalized.L0:.12g}")
        print(f"lam           [{problem.penalized.lam.min():.3g}, {problem.penalized.lam.max():.3g}]")
    if prepass is not None:
        reasons = Counter(d["reason"] for d in prepass.dropped)
        print(f"pre-pass      {len(prepass.dropped)} target(s) dropped as unreachable ("
              + ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) +
              f"; ranges {prepass.seconds['ranges']:.2f} s, elastic LP {prepass.seconds['lp']:.1f} s)"
              + (":" if prepass.dropped else ""))
        for line in prepass.describe()[:SHOWN_DROPPED]:
            print(f"  {line}")
        if len(prepass.dropped) > SHOWN_DROPPED:
            where = f"every one in {args.report}" if args.report is not None else "--report FILE lists every one"
            print(f"  ... and {len(prepass.dropped) - SHOWN_DROPPED} more ({where}, and problem.json)")
    print("targets by variable:")
    for variable, count in sorted(info.targets_by_variable.items()):
        print(f"  {variable:32s} {count}")
    print(f"build seconds {seconds:.2f}")
    print(f"wrote         {args.out}")
    if args.report is not None:
        initial = info.initial_totals
        dropped = {d["name"]: d["reason"] for d in (prepass.dropped if prepass is not None else [])}
        report = pd.DataFrame(dict(zip(BUILD_REPORT_COLUMNS, (
            problem.target_names, problem.t, initial, relative_error(initial, problem.t),
            [dropped.get(name, "") for name in problem.target_names]))))
        atomic_write(args.report, lambda tmp: report.to_csv(tmp, index=False))
        print(f"report        {args.report}")
    return EXIT_OK


# -- goldstar (the reference) and verify -----------------------------------------------


def _goldstar_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--problem", type=Path, default=None,
                   help="a problem directory to use instead of building one (its problem.json sets "
                        "penalty and bounds: not with --records, --targets, --year, --penalty, --lower, --upper)")
    p.add_argument("--records", default=None, help="record table to build from (default: embedded CPS)")
    p.add_argument("--targets", default=None, help="SOI target table (default: embedded soi.csv)")
    p.add_argument("--year", type=int, default=None, help=f"SOI year (default {DEFAULT_YEAR})")
    _parameter_args(p)
    _objective_args(p)
    _engine_args(p)
    p.add_argument("--reference", type=Path, default=None,
                   help="reference directory to write (default reference/default, reference/band for "
                        "--objective band)")
    p.add_argument("--force", action="store_true", help="replace a reference made from other inputs (never a directory that is not a goldstar reference)")
    p.add_argument("--lbfgsb-maxiter", type=int, default=None,
                   help="iteration cap of the L-BFGS-B stage (default 3000)")
    p.add_argument("--lbfgsb-gtol", type=float, default=None, help="pg tolerance of the L-BFGS-B stage (default 1e-10)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


@command("goldstar", "make the gold-star reference: L-BFGS-B, Newton polish, certificate, atomic write",
         _goldstar_args)
def cmd_goldstar(args: argparse.Namespace) -> int:
    from .inputs.engines import engine_options, taxcalc_flag, taxcalc_option_values
    from .pipeline import make_reference
    from .progress import Progress
    from .inputs.source import ProblemSource

    build_flags = {"--records": args.records, "--targets": args.targets, "--year": args.year,
                   "--penalty": args.penalty, "--lower": args.lower, "--upper": args.upper,
                   "--engine": args.engine,
                   **{taxcalc_flag(k): v for k, v in taxcalc_option_values(args).items()}}
    spec = objective_spec(args)
    if args.reference is None:
        args.reference = DEFAULT_REFERENCES[args.objective]
    if spec is not None:
        build_flags["--objective"] = args.objective
    if args.problem is not None:
        given = [flag for flag, value in build_flags.items() if value is not None]
        if given:
            raise InputError(
                f"--problem {args.problem} cannot be combined with {', '.join(given)}: a problem directory "
                "carries its own targets, penalty and bounds (problem.json); build a new problem directory "
                "with `goldstar build` or `goldstar synth` to change them"
            )
        source = ProblemSource.given(args.reference, kind="directory", path=args.problem)
    else:
        settings = {flag[2:]: value for flag, value in build_flags.items()
                    if value is not None and flag != "--objective" and not flag.startswith(("--engine", "--tc-"))}
        source = ProblemSource.given(args.reference, kind="build", objective=spec, engine=args.engine,
                                     engine_options=engine_options(args) or None, **settings)
    lbfgsb = {}
    if args.lbfgsb_maxiter is not None:
        lbfgsb["maxiter"] = args.lbfgsb_maxiter
    if args.lbfgsb_gtol is not None:
        lbfgsb["gtol"] = args.lbfgsb_gtol
    run = make_reference(
        source, args.reference, force=args.force, lbfgsb_options=lbfgsb,
        progress_factory=lambda name: Progress(name, quiet=args.quiet),
    )
    print("seconds     " + ", ".join(f"{k} {v:.2f}" for k, v in run.timings.items()))
    d = run.stages[0]["distance_from_optimum"]
    print(f"lbfgsb vs optimum: loss +{d['loss_difference']:.3g}, largest relative weight "
          f"difference {d['max_relative_weight_difference']:.3g} (record_id {d['record_id_of_max']})")
    return EXIT_OK


def _verify_args(p: argparse.ArgumentParser) -> None:
    from .verify import BACKENDS, MODES

    p.add_argument("--reference", type=Path, default=None,
                   help=f"reference directory (default {DEFAULT_REFERENCES['penalized']})")
    p.add_argument("--areas", type=Path, default=None, metavar="DIR",
                   help="a compact areas reference (e.g. reference/areas) instead: hashes and every area's "
                        "certificate; --mode recompute adds a re-solve of every area on Dask")
    p.add_argument("--mode", action="append", choices=MODES, default=None,
                   help="hash, certificate or recompute (repeatable; default: all three; with --areas: "
                        "hash and certificate)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="numpy",
                   help="recompute backend (default numpy)")
    p.add_argument("--device", default="auto", help="torch device for --backend torch (default auto)")
    p.add_argument("--problem", type=Path, default=None,
                   help="check against this problem directory instead of the recorded source")


@command("verify", "check the reference: input hashes, certificate, recompute", _verify_args)
def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import DEFAULT_MODES, verify

    if args.areas is not None:
        if args.reference is not None or args.problem is not None or args.backend != "numpy" or args.device != "auto":
            raise InputError("--areas verifies a compact areas reference on its own: "
                             "drop --reference, --problem, --backend and --device")
        from .areas.command import verify_directory

        return verify_directory(args.areas, tuple(dict.fromkeys(("hash", "certificate", *(args.mode or ())))))
    if args.device != "auto" and args.backend != "torch":
        raise InputError(f"--device {args.device} is the torch backend's device; give --backend torch with it")
    if args.problem is not None and not args.problem.is_dir():
        raise InputError(f"--problem {args.problem}: not a directory (a problem directory of `goldstar build`)")
    modes = tuple(args.mode) if args.mode else DEFAULT_MODES
    if args.backend == "torch" and "recompute" in modes:  # an unknown device is bad input, said up front
        from .solvers import get_solver

        get_solver("newton-torch")  # SolverNotFound (exit 2) without torch
        from .solvers.newton_torch import resolve_device

        resolve_device(args.device, "--device")
    report = verify(args.reference or DEFAULT_REFERENCES["penalized"], modes, backend=args.backend,
                    device=args.device, problem_dir=args.problem)
    print(report.table())
    if not report.passed:
        names = ", ".join(f"{c.mode}/{c.name}" for c in report.failures())
        print(f"ERROR: verification failed: {names}", file=sys.stderr)
        return EXIT_FAILED
    print("all checks passed")
    return EXIT_OK


# -- report --------------------------------------------------------------------------


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reference", type=Path, default=None,
                   help=f"reference directory (default {DEFAULT_REFERENCES['penalized']})")
    p.add_argument("--weights", type=Path, default=None, metavar="FILE",
                   help="any weights file (Parquet: record_id, weight; e.g. `goldstar solve --out`) instead of "
                        "a reference, with --problem")
    p.add_argument("--problem", type=Path, default=None, metavar="DIR",
                   help="with --weights: the problem directory the weights were solved on")
    p.add_argument("--areas", type=Path, default=None,
                   help="an areas output directory (goldstar areas --out) instead of a reference: every "
                        "area's row and the sum over areas of each record's weight against its national one")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")


@command("report", "write a self-contained HTML report of a reference, of weights on a problem, or of an "
                   "areas batch", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    check_output_file(args.out, "html", "--out")
    subjects = [flag for flag, value in (("--reference", args.reference), ("--weights", args.weights),
                                         ("--areas", args.areas)) if value is not None]
    if len(subjects) > 1:
        raise InputError(f"give one of --reference, --weights (with --problem) or --areas, not {' and '.join(subjects)}")
    if (args.weights is None) != (args.problem is None):
        raise InputError("--weights and --problem go together: the weights, and the problem they were solved on")
    if args.areas is not None:
        from .areas.report import read_summary, unfinished, write_areas_report

        summary = read_summary(args.areas)
        write_areas_report(args.areas, args.out, summary)
        started = unfinished(args.areas, summary)
        if started is not None:
            print(f"note: the batch in {args.areas} has not finished: {len(summary)} of its {started} areas have a "
                  "row in summary.csv; the report is of those alone", file=sys.stderr)
    else:
        from .present.report import write_report

        write_report(args.out, reference=args.reference or (None if args.weights else DEFAULT_REFERENCES["penalized"]),
                     weights=args.weights, problem=args.problem)
    print(f"wrote {args.out}")
    return EXIT_OK


# -- impact (what the weights mean in dollars; needs the taxcalc extra) ----------------


def _impact_args(p: argparse.ArgumentParser) -> None:
    from .inputs.engines import add_taxcalc_arguments

    p.add_argument("weights", nargs="*", type=Path, default=[Path("reference/default")],
                   help="reference directories or Parquet files (record_id, weight); the first is the "
                        "base (default reference/default)")
    p.add_argument("--records", default=None, help="Tax-Calculator input file (default: the first reference's)")
    p.add_argument("--year", type=int, default=None, help="tax year (default: the first reference's)")
    p.add_argument("--html", type=Path, default=None, help="also write the tables as a self-contained HTML page")
    p.add_argument("--no-file-weights", action="store_true", help="leave out the file's own weights")
    add_taxcalc_arguments(p)


@command("impact", "Tax-Calculator's income tax, payroll tax and AGI under each set of weights", _impact_args)
def cmd_impact(args: argparse.Namespace) -> int:
    from .inputs.engines import taxcalc_option_values
    from .present.impact import html_section, load_weights, measure, text_tables

    if args.html is not None:
        check_output_file(args.html, "html", "--html")
    sets = [load_weights(w) for w in args.weights]
    impact, entry = measure(sets, {"records": args.records, "year": args.year, **taxcalc_option_values(args)},
                            file_weights=not args.no_file_weights)
    facts = impact.facts
    print(f"Tax-Calculator {facts['taxcalc']}, {facts['records']}, {facts['year']}, {facts['amounts']} amounts "
          f"({'derived table from the cache' if entry.hit else 'derived table computed and cached'})")
    print(text_tables(impact))
    if args.html is not None:
        from .store.atomic import atomic_write_text
        from .present.markup import page_head

        atomic_write_text(args.html, f"{page_head('goldstar impact')}{html_section(impact)}</body></html>")
        print(f"wrote {args.html}")
    return EXIT_OK


# -- areas (goldstar/areas/command.py) ------------------------------------------------


def _areas_args(p: argparse.ArgumentParser) -> None:
    from .areas.command import add_arguments

    add_arguments(p)


@command("areas", "exact band weights for a set of areas (states, districts, synthetic:N) on Dask", _areas_args)
def cmd_areas(args: argparse.Namespace) -> int:
    from .areas.command import run

    return run(args)


# -- entry point ---------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse with its errors as InputError: one `ERROR:` line and exit 2, like every other bad
    input, instead of a usage block. `--help` still prints the usage and exits 0."""

    def error(self, message: str):
        raise InputError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="goldstar",
        description="Exact, reproducible reweighting weights with a certificate of optimality.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (arguments, fn, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        arguments(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse's --help and --version
            return int(exc.code or 0)
        return args.func(args)
    except VerificationFailed as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GoldstarError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # the reader of stdout went away (e.g. `| head`): stop, without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail
        print("ERROR: standard output was closed (broken pipe); the command stopped there", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("ERROR: interrupted; nothing was half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
