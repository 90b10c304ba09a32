"""`goldstar areas --areas SET [--out DIR]`: the batch of areas from the command line."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..defaults import (
    SHOWN_DROPPED, AREA_LOWER, AREA_UPPER_BY_KIND, DEFAULT_EPS, DEFAULT_SLACK_PENALTY, DEFAULT_SLACK_UNITS, DEFAULT_UNREACHABLE,
    SLACK_UNITS, UNREACHABLE_POLICIES,
)
from ..exceptions import EXIT_FAILED, EXIT_OK, InputError
from ..store.lock import reference_lock
from .penalties import DEFAULT_RULE as DEFAULT_PENALTY_RULE, RULES as PENALTY_RULES

# numpy, pandas, pyarrow and dask are imported inside the functions that use them: the CLI builds
# this command's parser for every `goldstar` call, `--help` included.


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--areas", default=None,
                   help="states, districts (synthetic, 436), districts:ST (those of the states ST, e.g. "
                        "districts:CA,TX), synthetic:N, or a list like AL,CA,NY")
    p.add_argument("--write-reference", type=Path, default=None, metavar="DIR",
                   help="after the batch, write the compact certified reference (duals) to DIR")
    p.add_argument("--force", action="store_true",
                   help="with --write-reference: replace the areas reference already there")
    p.add_argument("--verify", type=Path, default=None, metavar="DIR",
                   help="verify a compact areas reference (e.g. reference/areas) instead of running a batch")
    p.add_argument("--out", type=Path, default=Path("areas-output"), help="output directory (default areas-output)")
    p.add_argument("--scheduler", default=None, help="address of an existing dask.distributed scheduler")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one a core)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds an area may take (default: none)")
    p.add_argument("--unreachable", choices=UNREACHABLE_POLICIES, default=DEFAULT_UNREACHABLE,
                   help="drop: drop targets an area cannot meet, by name; error: report it infeasible")
    p.add_argument("--eps", type=float, default=DEFAULT_EPS, help=f"band half-width, relative (default {DEFAULT_EPS:g})")
    p.add_argument("--slack-penalty", type=float, default=DEFAULT_SLACK_PENALTY,
                   help=f"M (default {DEFAULT_SLACK_PENALTY:g})")
    p.add_argument("--slack-units", choices=SLACK_UNITS, default=DEFAULT_SLACK_UNITS,
                   help="slack in target units (TMD, default) or relative")
    p.add_argument("--slack-penalty-rule", choices=tuple(PENALTY_RULES), default=DEFAULT_PENALTY_RULE,
                   help="uniform: every target at --slack-penalty (default); tmd: TMD's district pricing, "
                        "M 1e3 on its noisy low-AGI cells (goldstar.areas.penalties)")
    p.add_argument("--upper", type=float, default=None,
                   help="multiplier cap for every area (default " + ", ".join(
                       f"{cap:g} for {kind}" for kind, cap in AREA_UPPER_BY_KIND.items()) + ")")
    p.add_argument("--overrides", type=Path, default=None,
                   help="per-area overrides: goldstar's CSV (default goldstar/areas/data/overrides.csv) or TMD's "
                        "solver-overrides YAML (.yaml, .yml)")
    p.add_argument("--reference", type=Path, default=None,
                   help="national goldstar reference directory, hash-checked before use "
                        "(default reference/band)")
    p.add_argument("--national-weights", type=Path, default=None, metavar="FILE",
                   help="national weights from elsewhere instead of a reference: Parquet or CSV with "
                        "record_id and weight (no certificate stands behind them)")
    p.add_argument("--records", type=Path, default=None, help="national record table (default: embedded CPS)")
    p.add_argument("--soi", type=Path, default=None, help="SOI state table (default: the vendored 2022 table)")
    p.add_argument("--recipe", default=None, metavar="NAME|FILE",
                   help="the targets, in TMD's spec format: a shipped recipe (goldstar-77, the default; "
                        "tmd-states; tmd-districts) or a spec CSV")
    p.add_argument("--targets-dir", type=Path, default=None, metavar="DIR",
                   help="the areas and their targets from TMD's <area>_targets.csv files in DIR (no recipe, "
                        "no SOI table); --areas AL,CA picks some (default: every file)")
    p.add_argument("--sharing", type=Path, default=None, metavar="FILE",
                   help="which SOI column shares each cell among areas (default: the shipped table)")
    p.add_argument("--engine", choices=("cps", "taxcalc"), default=None,
                   help="records engine for the national records: cps (default for the embedded file) or "
                        "taxcalc (Tax-Calculator at --tmd-year: TMD's area variables c18300, eitc, ...)")
    from ..inputs.engines import add_taxcalc_arguments

    add_taxcalc_arguments(p)
    p.add_argument("--seed", type=int, default=None, help="seed of the synthetic splits (default 20260101)")
    p.add_argument("--tmd-year", type=int, default=2015,
                   help="year of the WT<year> column of the TMD-layout files (default 2015, the national year)")
    p.add_argument("--last-year", type=int, default=None,
                   help="the last WT<year> column of the weights files (default 2034, TMD's); later years "
                        "grow the --tmd-year weights by population")
    p.add_argument("--population", type=Path, default=None, metavar="FILE",
                   help="year,population CSV the later years grow by (default: the CBO figures TMD uses)")
    p.add_argument("--no-tmd-weights", action="store_true", help="skip the TMD-layout weights files")
    p.add_argument("--rerun-all", action="store_true",
                   help="solve every area, even those already done; also re-solves in place an --out "
                        "made with other settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    joint = p.add_mutually_exclusive_group()
    joint.add_argument("--additive", action="store_true",
                       help="after the batch, solve the areas jointly so that each record's area weights add "
                            "up to its national weight (a whole set: all the states); written to OUT/joint")
    joint.add_argument("--max-exhaustion", type=float, default=None, metavar="E",
                       help="after the batch, solve the areas jointly so that each record's area weights sum "
                            "to at most E times its national weight, exactly; written to OUT/joint")
    p.add_argument("--within", type=Path, default=None, metavar="DIR",
                   help="solve the districts of a state (--areas districts:ST) within its weights in the states "
                        "batch DIR (its joint solve's when DIR has one) or the compact states reference DIR "
                        "instead of the national weights; with "
                        "--additive each record's district weights add up to its state weight. Several states "
                        "(districts:NY,PA): each into OUT/<ST>, their joint solves as Dask tasks")
    p.add_argument("--joint-device", default=None, metavar="DEVICE",
                   help="factor the joint solve's Newton systems with torch on DEVICE (cuda, cuda:N, cpu, auto: "
                        "cuda when torch sees a GPU); default: numpy and scipy on the CPU")
    p.add_argument("--joint-time-limit", type=float, default=None, metavar="S",
                   help="seconds after which the joint solve stops, checked between its Newton steps (a step "
                        "of the 51 states takes 3 to 9 s); default: none")


# TMD-layout weights columns are named WT<year>: a calendar year of the federal income tax
# (first levied in 1913) up to the end of any projection anyone runs.
TMD_YEARS = range(1913, 2101)
SEED_LIMIT = 2**63  # numpy's generators take any non-negative integer; JSON and int64 hold these


def default_arguments() -> argparse.Namespace:
    """The command line's defaults (every option left out)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([])


def default_settings() -> dict[str, Any]:
    """SETTING_OPTIONS at the command line's defaults: what an areas reference that records no
    settings was made with."""
    from .reference import command_settings

    return command_settings(default_arguments())


# what `--verify DIR` does not take: it writes nothing, solves no joint problem, and rebuilds the
# areas with the settings the reference records
NOT_FOR_VERIFY = ("out", "write_reference", "force", "rerun_all", "additive", "max_exhaustion", "joint_device",
                  "joint_time_limit", "targets_dir", "eps", "slack_penalty", "slack_units", "slack_penalty_rule",
                  "unreachable", "upper", "time_limit")


def check_verify_arguments(args: argparse.Namespace) -> None:
    """`--verify DIR`'s checks that need no file: InputError naming an option it does not take
    (NOT_FOR_VERIFY, given other than its default) or a bad value, before any work."""
    defaults = default_arguments()
    given = [f"--{name.replace('_', '-')}" for name in NOT_FOR_VERIFY if getattr(args, name) != getattr(defaults, name)]
    if given:
        raise InputError(f"--verify {args.verify}: {', '.join(given)} do(es) not apply: verify writes nothing and "
                         "rebuilds each area with the settings the reference records")
    _check_inputs_and_cluster(args)


def _check_inputs_and_cluster(args: argparse.Namespace) -> None:
    """The checks a batch and `--verify` share: the seed, the cluster's options, one national input."""
    if args.seed is not None and not 0 <= args.seed < SEED_LIMIT:
        raise InputError(f"`--seed` must be a whole number from 0 to 2**63 - 1, got {args.seed}")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"`--workers` must be >= 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise InputError("`--workers` sizes a local cluster; with `--scheduler` the cluster has its own workers")
    if args.reference is not None and args.national_weights is not None:
        raise InputError("give --reference (a goldstar reference) or --national-weights (a weights file), not both")


def check_arguments(args: argparse.Namespace) -> None:
    """Every check that needs no file: InputError naming the option, before any work."""
    from ..params import number
    from .targets import parse_area_set

    if args.targets_dir is not None:
        given = [flag for flag, value in (("--recipe", args.recipe), ("--sharing", args.sharing),
                                          ("--soi", args.soi), ("--seed", args.seed),
                                          ("--write-reference", args.write_reference)) if value is not None]
        if given:
            raise InputError(f"--targets-dir gives every area's targets: {', '.join(given)} do not apply "
                             "(a reference is written from a recipe batch)")
    elif args.areas is None:
        raise InputError("give `--areas` (states, districts, synthetic:N or a list like AL,CA,NY), "
                         "`--targets-dir DIR`, or `--verify DIR`")
    else:
        parse_area_set(args.areas)
    base_settings(args)  # eps, slack penalty, units, policy, time limit: AreaSettings' own checks
    if args.upper is not None:
        number("--upper", args.upper, "the command line", above=AREA_LOWER)
    _check_inputs_and_cluster(args)
    if args.tmd_year not in TMD_YEARS:
        raise InputError(f"`--tmd-year` must be a year from {TMD_YEARS.start} to {TMD_YEARS.stop - 1}, "
                         f"got {args.tmd_year}")
    if args.last_year is not None and args.last_year not in TMD_YEARS:
        raise InputError(f"`--last-year` must be a year from {TMD_YEARS.start} to {TMD_YEARS.stop - 1}, "
                         f"got {args.last_year}")
    if args.no_tmd_weights and (args.last_year is not None or args.population is not None):
        raise InputError("--last-year and --population shape the weights files: they do not apply with "
                         "--no-tmd-weights")
    weight_file_years(args)  # the population file and the years, before any work
    if args.max_exhaustion is not None and not math.isfinite(args.max_exhaustion):
        raise InputError(f"`--max-exhaustion` must be a finite number, got {args.max_exhaustion}")  # the rest
        # (at least the areas' shares' sum) once the areas are known: goldstar.areas.joint_run.check_coupling
    states = within_states(args)
    several = len(states) > 1  # OUT/<ST> for each state (goldstar.areas.within_batch)
    if (args.additive or args.max_exhaustion is not None) and not several:
        from .joint_run import check_joint_out

        check_joint_out(args.out)  # a folder of anyone else's at OUT/joint: refused before any work
    if args.within is not None:
        if args.targets_dir is not None:
            raise InputError("--within solves districts within a states batch's weights: --targets-dir does not apply")
        if several and args.write_reference is not None:
            raise InputError(f"--write-reference writes one state's districts: give --areas districts:ST, not "
                             f"the districts of {len(states)} states")
        if not args.within.is_dir():
            raise InputError(f"--within {args.within}: not a directory; give the --out of a states batch or a "
                             "compact states reference (--write-reference)")
        if _same_or_inside(args.within, args.out) or _same_or_inside(args.out, args.within):
            raise InputError(f"--within {args.within} and --out {args.out} must not contain each other")
    from .joint_run import JOINT_DEVICE, check_joint_device, check_joint_time_limit, coupled

    joint_options = "--additive or --max-exhaustion"  # the options that ask for a joint solve
    check_joint_device(args.joint_device, coupled(args), JOINT_DEVICE, joint_options)  # said before any solve
    check_joint_time_limit(args.joint_time_limit, coupled(args), "the command line", "--joint-time-limit",
                           joint_options)
    if args.force and args.write_reference is None:
        raise InputError("--force replaces the areas reference at --write-reference; give --write-reference too")
    if args.write_reference is not None:
        from .reference import check_reference_output

        check_reference_output(args.write_reference, force=args.force)
        if _same_or_inside(args.write_reference, args.out) or _same_or_inside(args.out, args.write_reference):
            raise InputError(f"--write-reference {args.write_reference} and --out {args.out} must not "
                             "contain each other")
    if several:
        from .within_batch import check_states_out

        check_states_out(args.out, states, args.within)
    else:
        from .output import check_out

        check_out(args.out, rerun_all=args.rerun_all)


def weight_file_years(args: argparse.Namespace):
    """The year columns of the weights files (goldstar.areas.years), None with --no-tmd-weights."""
    from .years import DEFAULT_LAST_YEAR, DEFAULT_POPULATION, read_population, weight_years

    if args.no_tmd_weights:
        return None
    path = args.population or DEFAULT_POPULATION
    last = DEFAULT_LAST_YEAR if args.last_year is None else args.last_year
    if args.last_year is None and last < args.tmd_year:
        last = args.tmd_year  # a base year past TMD's last: that year alone
    return weight_years(args.tmd_year, last, read_population(path), f"--population {path}")


def _same_or_inside(path: Path, other: Path) -> bool:
    path, other = Path(path).resolve(), Path(other).resolve()
    return path == other or other in path.parents


# AreaSettings' fields as the command line names them, for its error messages
OPTION_OF_SETTING = {"eps": "--eps", "slack_penalty": "--slack-penalty", "time_limit": "--time-limit"}


def base_settings(args: argparse.Namespace):
    """The command line's AreaSettings, checked by AreaSettings itself; its errors name the options."""
    from .problem import AreaSettings

    try:
        return AreaSettings(eps=args.eps, slack_penalty=args.slack_penalty, slack_units=args.slack_units,
                            unreachable=args.unreachable, time_limit=args.time_limit)
    except InputError as exc:
        message = str(exc).split(": ", 1)[-1]
        for setting, option in OPTION_OF_SETTING.items():
            message = message.replace(f"`{setting}`", f"`{option}`")
        raise InputError(f"the command line: {message}") from None


def warn_about_workers(workers: int | None) -> None:
    cores = os.cpu_count() or 1
    if workers is not None and workers > cores:
        print(f"WARNING: --workers {workers} on {cores} core(s): the workers will share the cores, and the "
              f"batch is slower than with --workers {cores}", file=sys.stderr)


def recorded_settings(args: argparse.Namespace, national, seed: int) -> dict[str, Any]:
    """What a batch's areas depend on besides their names: compared with a later batch into the
    same --out (goldstar.areas.output.check_settings)."""
    from ..hashing import file_hash
    from .overrides import DEFAULT_OVERRIDES
    from .years import DEFAULT_POPULATION

    overrides = args.overrides or DEFAULT_OVERRIDES
    years = weight_file_years(args)
    return {
        **{k: v for k, v in base_settings(args).as_dict().items() if k != "slack_penalty_by_target"},
        "slack_penalty_rule": args.slack_penalty_rule,
        "upper": args.upper, "seed": seed, "tmd_year": None if args.no_tmd_weights else args.tmd_year,
        "weight_years": None if years is None else {**years.as_dict(), "population": file_hash(
            args.population or DEFAULT_POPULATION)},
        "national_weights": national.hashes["national_weights"]["hash"],
        "records": national.hashes["records"]["hash"], "recipe": national.hashes["recipe"]["hash"],
        "sharing": national.hashes.get("sharing", {}).get("hash"), "engine": national.hashes.get("engine"),
        "soi": national.hashes["soi"]["hash"], "overrides": file_hash(overrides),
    }


def run(args: argparse.Namespace) -> int:
    if args.verify is not None:
        check_verify_arguments(args)
        return verify(args)
    check_arguments(args)
    with contextlib.ExitStack() as held:
        for directory in (args.out, args.write_reference):
            if directory is not None:
                held.enter_context(reference_lock(directory, run="goldstar areas"))
        return _run_locked(args)


def _run_locked(args: argparse.Namespace) -> int:
    from . import batch
    from .problem import AreaSettings

    batch.check_solver(AreaSettings.solver)  # SolverNotFound (exit 2) before any work, not 51 failed rows
    warn_about_workers(args.workers)
    start = time.perf_counter()
    if len(within_states(args)) > 1:
        from .within_batch import plan_states, run_within_states

        national, areas, overrides, seed = recipe_inputs(args, args.areas)
        plans = plan_states(args, national, areas, overrides, seed, settings_and_hashes, recorded_settings,
                            lambda reference, info: _inputs_as_made(args, reference, info))
        return run_within_states(args, plans, separate_batch, weight_file_years(args), start)
    national, areas, settings, hashes, seed = batch_inputs(args, args.areas)
    from .joint_run import coupled

    if coupled(args):
        from .joint_run import check_coupling

        check_coupling(areas, args.max_exhaustion)  # a subset or a cap below the shares: exit 2, nothing written
    area_set = args.areas if args.targets_dir is None else f"{args.areas or 'all'} of {args.targets_dir}"
    settings_record = recorded_settings(args, national, seed)
    from .output import check_settings

    check_settings(args.out, settings_record, rerun_all=args.rerun_all)
    client = batch.make_client(args.scheduler, args.workers)  # a dead scheduler is refused before any write
    try:
        rows = separate_batch(args, client, national, areas, settings, hashes, area_set, settings_record, start)
    finally:
        batch.close_client(client)
    bad = [r for r in rows if r["status"] != "ok"]
    if coupled(args):
        from .joint_run import joint_after_batch

        return joint_after_batch(args, national, areas, settings, hashes, rows, area_set, weight_file_years(args))
    if args.write_reference is not None:
        if bad:
            print(f"ERROR: --write-reference {args.write_reference}: not written, {len(bad)} area(s) are not ok; "
                  "a reference holds certified areas only", file=sys.stderr)
        else:
            from .output import read_m
            from .reference import command_settings, write_reference

            weights = {r["area"]: r["pop_share"] * national.weight * read_m(args.out, r["area"]) for r in rows}
            write_reference(args.write_reference, rows, national.cell_names, national.hashes, weights,
                            args.areas, force=args.force, settings=command_settings(args))
            print(f"reference    {args.write_reference} ({len(weights)} areas)")
    from .output import say_not_ok

    say_not_ok(rows)
    return EXIT_FAILED if bad else EXIT_OK


def say_own_settings(args: argparse.Namespace, national: Any, areas: list, settings: list) -> None:
    """How many areas an overrides file (or TMD's parameter files) gave settings of their own: a
    file meant for other areas shows here as none, or, through its defaults, as all."""
    from .problem import settings_for

    base = batch_base_settings(args, national)  # cheap: the rule over the cells
    own = [a.name for a, s in zip(areas, settings) if s != settings_for(a, base, None, args.upper)]
    if own:
        shown = ", ".join(own[:SHOWN_DROPPED]) + (f" ... and {len(own) - SHOWN_DROPPED} more"
                                                  if len(own) > SHOWN_DROPPED else "")
        print(f"overrides    {len(own)} of {len(areas)} areas with settings of their own: {shown}", file=sys.stderr)


def within_states(args: argparse.Namespace) -> list[str]:
    """The states whose districts `--within` solves (none without it), from --areas alone."""
    if getattr(args, "within", None) is None or args.areas is None:
        return []
    from .targets import area_names

    return sorted({name[:2] for name in area_names(args.areas)})


def separate_batch(args: argparse.Namespace, client, national, areas: list, settings: list, hashes: list[str],
                   area_set: str, settings_record: dict[str, Any], start: float) -> list[dict[str, Any]]:
    """The separate solves of `areas` into args.out on the client's cluster: the directory made
    ready (marker, records, target files), each area solved and written as it finishes, what they
    did said and recorded (batch.json); the rows, in the areas' order."""
    import numpy as np

    from . import batch
    from .batch import client_versions
    from .output import prepare_out, write_batch_record, write_records
    from .target_files import write_target_files

    prepare_out(args.out, {
        "areas": area_set, "seed": settings_record["seed"], "synthetic": any(a.synthetic for a in areas),
        "national": national.hashes, "versions": client_versions(), "count": len(areas),
        "dropped_cells": list(national.dropped_cells), "settings": settings_record,
    })
    write_records(args.out, national.record_ids, national.weight)
    written = write_target_files(args.out / "targets", areas, national.cells, national.population)
    setup = time.perf_counter() - start
    workers = len(client.scheduler_info().get("workers", {}))
    print(f"areas        {len(areas)} ({area_set}{'; SYNTHETIC' if any(a.synthetic for a in areas) else ''}) "
          f"on {workers} worker(s); set-up {setup:.1f} s", file=sys.stderr)
    say_own_settings(args, national, areas, settings)
    t0 = time.perf_counter()
    rows = batch.run_batch(client, national, areas, settings, hashes, args.out,
                           tmd_years=weight_file_years(args),
                           skip_done=not args.rerun_all, progress=not args.quiet)
    wall = time.perf_counter() - t0
    status: dict[str, int] = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
    skipped = sum(bool(r.get("skipped")) for r in rows)
    with_drops = sum(bool(r.get("dropped")) for r in rows)
    rss = [r.get("rss_peak_mb") for r in rows if r.get("rss_peak_mb") and not r.get("skipped")]
    secs = [r.get("seconds") for r in rows if r.get("seconds") and not r.get("skipped")]
    print("status       " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())) + f" (skipped, already done: {skipped})")
    print(f"drops        {with_drops} area(s) with dropped targets")
    kept = sorted(r["kept"] for r in rows if r.get("kept") is not None)
    if kept:
        print(f"targets      kept {kept[len(kept) // 2]} of {national.recipe_size} (median over areas; fewest "
              f"{kept[0]}, most {kept[-1]})")
    if national.dropped_cells:
        shown = ", ".join(national.dropped_cells[:SHOWN_DROPPED])
        more = len(national.dropped_cells) - SHOWN_DROPPED
        print(f"empty        {len(national.dropped_cells)} target(s) no record contributes to, no area's target: "
              f"{shown}{f' ... and {more} more' if more > 0 else ''}")
    if secs:
        print(f"area seconds median {np.median(secs):.2f}, max {max(secs):.2f}; batch wall {wall:.1f} s")
    if rss:
        print(f"memory       peak RSS of a worker {max(rss):.0f} MB")
    write_batch_record(args.out, {
        "areas": area_set, "workers": workers, "scheduler": args.scheduler or "local",
        "cores": os.cpu_count(), "setup_seconds": setup, "wall_seconds": wall, "solved": len(rows) - skipped,
        "skipped": skipped, "status": status, "tmd_weights": not args.no_tmd_weights,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    print(f"wrote        {args.out}/summary.csv" + (f"; {written} target files in {args.out}/targets" if written else ""))
    return rows


def batch_inputs(args: argparse.Namespace, area_set: str, weights=None) -> tuple[Any, list, list, list[str], int]:
    """What a batch and its verify both start from: the national data (with the SOI table's hash),
    the areas, each one's settings and input hash, and the seed. Every file is read and checked
    here, the small ones first, before anything is solved or written. With --within, the state's
    weights in the national data's place (goldstar.areas.within)."""
    if getattr(args, "targets_dir", None) is not None:
        return _target_file_inputs(args, weights)
    national, areas, overrides, seed = recipe_inputs(args, area_set, weights)
    if getattr(args, "within", None) is not None:
        from .within import within_state

        national, areas = within_state(national, areas, args.within,
                                       lambda reference, info: _inputs_as_made(args, reference, info, weights))
    return (national, areas, *settings_and_hashes(args, national, areas, overrides), seed)


def as_made(args: argparse.Namespace, reference: Path, info: dict[str, Any]) -> argparse.Namespace:
    """`args` with the settings an areas reference records (it was made with them; every area's
    input hash covers them) and, unless args gives them, the shipped recipe it was made from and
    the states batch or reference its districts were solved within (--within)."""
    from .recipe import shipped_recipe
    from .reference import recorded_settings as settings_made_with

    made = argparse.Namespace(**vars(args))
    for name, value in (settings_made_with(reference, info) or default_settings()).items():
        setattr(made, name, value)
    if made.recipe is None:
        made.recipe = shipped_recipe(info.get("national", {}).get("recipe"))
    within = info.get("national", {}).get("within")
    if getattr(made, "within", None) is None and isinstance(within, dict):  # districts within their state's weights
        made.within = Path(str(within.get("directory")))
    return made


def _inputs_as_made(args: argparse.Namespace, reference: Path, info: dict[str, Any],
                    weights=None) -> tuple[Any, list, list, list[str]]:
    """batch_inputs of the areas an areas reference holds, as it was made (as_made), on the
    national inputs `args` (and `weights`, as batch_inputs takes them) name; InputError naming
    the reference when its recipe is not the one found (_recipe_mismatch)."""
    made = as_made(argparse.Namespace(**{**vars(args), "recipe": None}), reference, info)  # the states' own recipe
    if made.recipe is None:  # made from no shipped recipe: the one args names may be it (checked below)
        made.recipe = args.recipe
    made.within, made.areas = None, info["areas"]
    national, areas, settings, hashes = batch_inputs(made, info["areas"], weights)[:4]
    mismatch = _recipe_mismatch(reference, info, national)
    if mismatch is not None:
        raise InputError(f"{reference}: {mismatch}")
    return national, areas, settings, hashes


def recipe_inputs(args: argparse.Namespace, area_set: str, weights=None) -> tuple[Any, list, Any, int]:
    """batch_inputs for a recipe before --within: the national data, the areas with their SOI-share
    targets, the overrides table and the seed."""
    from ..hashing import file_entry
    from ..defaults import DEFAULT_SOI_STATES
    from .inputs import file_weights, load_national, read_soi_states, reference_weights
    from .memory import check_batch_memory
    from .overrides import DEFAULT_OVERRIDES, read_overrides
    from ..inputs.engines import engine_options
    from .recipe import DEFAULT_RECIPE, read_recipe, resolve_recipe
    from .sharing import DEFAULT_SHARING, read_sharing
    from .targets import DEFAULT_SEED, area_names, make_areas, parse_area_set

    kind, count = parse_area_set(area_set)
    if kind == "synthetic":
        check_batch_memory(count, 0, None)  # the areas alone, before anything is read
    recipe = resolve_recipe(args.recipe) if args.recipe is not None else DEFAULT_RECIPE
    cell_list = read_recipe(recipe)
    sharing_path = args.sharing or DEFAULT_SHARING
    sharing = read_sharing(sharing_path)
    for cell in cell_list:  # every cell has its sharing row, before the records are read
        sharing.columns(cell, f"recipe file {recipe}: cell {cell.name}")
    overrides = read_overrides(args.overrides or DEFAULT_OVERRIDES, areas=set(area_names(area_set)),
                               targets=[c.name for c in cell_list])
    soi_path = args.soi or DEFAULT_SOI_STATES
    soi = read_soi_states(soi_path, sharing.all_columns())
    if weights is None:  # given by the Python API (goldstar.areas.api), else from the command line
        weights = (file_weights(args.national_weights) if args.national_weights is not None
                   else reference_weights(args.reference))
    national = load_national(weights, args.records, recipe, engine=args.engine, year=args.tmd_year,
                             engine_options=engine_options(args))
    if kind == "synthetic":
        check_batch_memory(count, national.n, 0 if args.scheduler else args.workers)
    national.hashes["soi"] = file_entry(soi_path)
    national.hashes["sharing"] = file_entry(sharing_path)
    national.hashes["content"] = national.content_hash()
    overrides = _checked_overrides(overrides, national.cell_names, args.overrides or DEFAULT_OVERRIDES,
                                   set(area_names(area_set)))
    seed = DEFAULT_SEED if args.seed is None else args.seed
    return national, make_areas(area_set, soi, national, sharing, seed), overrides, seed


def batch_base_settings(args: argparse.Namespace, national: Any) -> Any:
    """The AreaSettings every area starts from: the command line's, with the slack-penalty
    rule's per-target M on the national data's cells."""
    import dataclasses

    from .penalties import rule_penalties

    return dataclasses.replace(base_settings(args),
                               slack_penalty_by_target=rule_penalties(args.slack_penalty_rule, national.cells))


def settings_and_hashes(args: argparse.Namespace, national, areas: list, overrides) -> tuple[list, list[str]]:
    """Each area's settings (command line, slack-penalty rule, kind, overrides file) and its input hash."""
    from .problem import area_input_hash, settings_for

    base = batch_base_settings(args, national)
    settings = [settings_for(a, base, overrides, args.upper) for a in areas]
    national_hash = national.hashes["content"] + "|" + national.hashes["soi"]["hash"]
    hashes = [area_input_hash(national_hash, a, s, national.cell_names) for a, s in zip(areas, settings)]
    return settings, hashes


def _target_file_inputs(args: argparse.Namespace, weights=None) -> tuple[Any, list, list, list[str], int]:
    """batch_inputs for `--targets-dir`: the areas and their targets from TMD's target files,
    the national records and weights as for a recipe; no SOI table, sharing or seed."""
    import numpy as np

    from ..inputs.engines import engine_options
    from .inputs import STATES, file_weights, load_national, reference_weights
    from .overrides import DEFAULT_OVERRIDES, read_overrides, read_params_files, with_params_files
    from .target_files import SUFFIX as TARGETS_SUFFIX, read_target_dir, target_dir_hash
    from .targets import AreaSpec

    wanted = None if args.areas is None else [x.strip().upper() for x in args.areas.split(",") if x.strip()]
    files = read_target_dir(args.targets_dir, wanted)
    cells = list(files[0].cells)
    overrides = read_overrides(args.overrides or DEFAULT_OVERRIDES, areas={f.area for f in files},
                               targets=[c.name for c in cells])
    overrides = with_params_files(overrides, read_params_files(
        args.targets_dir, {f.area: f.path.name[: -len(TARGETS_SUFFIX)] for f in files}))
    if weights is None:  # given by the Python API (goldstar.areas.api), else from the command line
        weights = (file_weights(args.national_weights) if args.national_weights is not None
                   else reference_weights(args.reference))
    national = load_national(weights, args.records, cells, engine=args.engine, year=args.tmd_year,
                             engine_options=engine_options(args))
    if not national.population:
        raise InputError("--targets-dir: the records have no XTOT (persons), so an area's population share "
                         "(its XTOT target over the national weighted XTOT) cannot be computed")
    national.hashes["recipe"] = {"file": str(args.targets_dir), "hash": target_dir_hash(files)}
    national.hashes["soi"] = {"file": None, "hash": "none"}
    national.hashes["content"] = national.content_hash()
    overrides = _checked_overrides(overrides, national.cell_names, args.overrides or DEFAULT_OVERRIDES,
                                   {f.area for f in files})
    position = {c.name: k for k, c in enumerate(cells)}
    kept = [position[name] for name in national.cell_names]
    areas = [AreaSpec(f.area, "state" if f.area in STATES else "district", f.area[:2],
                      f.population / national.population, f.targets[kept], np.full(len(kept), np.nan), False)
             for f in files]
    return (national, areas, *settings_and_hashes(args, national, areas, overrides), 0)


def _checked_overrides(overrides: Any, cell_names: tuple[str, ...], path: Path, areas: set[str]) -> Any:
    """The overrides table (a DataFrame) for the national data's targets. A recipe target no
    national record contributes to is no target of any area (NationalData): named in goldstar's
    CSV, it is refused by row, not failed in every area; matched by one of TMD's drop patterns,
    its drop is moot and left out (goldstar.areas.overrides). A TMD file that names areas, none
    of them the batch's, is said: only its defaults apply."""
    from .overrides import DROPS_BY_PATTERN, NAMED_AREAS

    named = overrides.attrs.get(NAMED_AREAS, [])
    if named and not set(named) & areas:
        print(f"WARNING: overrides file {path} names {len(named)} area(s) (e.g. {named[0].lower()}) and none of "
              "this batch's, so only its _defaults apply (TMD's districts are areas of --targets-dir; the "
              "districts goldstar makes from a recipe are named like AL01-SYN)", file=sys.stderr)
    kept = set(cell_names)
    if overrides.attrs.get(DROPS_BY_PATTERN):
        overrides = overrides.copy()
        overrides["drop"] = [";".join(x for x in drop.split(";") if x in kept) for drop in overrides["drop"]]
        return overrides
    for k, row in overrides.iterrows():
        for column in ("targets", "drop"):
            for name in (x for x in row[column].split(";") if x):
                if name not in kept:
                    raise InputError(f"overrides file {path}: row {k + 2}, `{column}`: {name!r} has no "
                                     "contributing record in the national data, so no area has it as a target")
    return overrides


def verify(args: argparse.Namespace, modes: tuple[str, ...] = ("hash", "certificate")) -> int:
    """Verify a compact areas reference: rebuild each area from the inputs (hashes), rebuild its
    weights from the stored dual and certify them (certificate); with `recompute`, also re-solve
    every area through Dask and compare the multipliers record by record."""
    import tempfile

    import numpy as np

    from .reference import MANIFEST, national_mismatch, read_reference, verify_reference
    from .targets import area_names

    start = time.perf_counter()
    reference = args.verify
    _, info = read_reference(reference)
    _check_recorded_paths_found(args, reference, info)
    given = ("--reference" if args.reference is not None else "--national-weights"  # the national weights' option
             if args.national_weights is not None else None)
    args = as_made(args, reference, info)  # the areas are rebuilt as they were made
    area_set = args.areas or info["areas"]
    if info.get("joint") is not None and sorted(area_names(area_set)) != sorted(area_names(info["areas"])):
        raise InputError(f"--areas {area_set}: {reference} holds the joint solve of {info['areas']!r}, whose "
                         "areas were solved together: it is verified whole")
    national, areas, settings, hashes, _ = batch_inputs(args, area_set)
    mismatch = (national_mismatch(info["national"], national.hashes, str(reference), given)
                or _recipe_mismatch(reference, info, national) or _input_mismatch(info, national)
                or _within_mismatch(reference, info, national))
    if mismatch is not None:  # every area's input hash would fail: say why once
        print(f"ERROR: {reference}: {mismatch}", file=sys.stderr)
        return EXIT_FAILED
    if info.get("joint") is not None:
        from .joint_run import verify_joint_reference

        if "recompute" in modes:
            raise InputError(f"{reference}: a joint reference is verified by its hashes and its joint certificate; "
                             "--mode recompute (solving the joint problem again) is not offered for it")
        results = verify_joint_reference(reference, info, national, areas, settings, hashes)
        return _print_verified(reference, results, modes, start)
    rebuilt: dict[str, Any] | None = {} if "recompute" in modes else None  # only a recompute compares them
    results = verify_reference(reference, national, areas, settings, hashes, rebuilt,
                               complete=area_set == info["areas"])
    if "recompute" in modes:
        from ..verify import RECOMPUTE_RTOL, multiplier_difference
        from . import batch
        from .output import prepare_out, read_m

        ok_areas = {a for a, ok, _ in results if ok}
        todo = [(a, s, h) for a, s, h in zip(areas, settings, hashes) if a.name in ok_areas]
        with tempfile.TemporaryDirectory(prefix="goldstar-areas-recompute-") as tmp:
            prepare_out(Path(tmp), {"areas": area_set, "purpose": "verify --mode recompute"})
            client = batch.make_client(args.scheduler, args.workers)
            try:
                rows = batch.run_batch(client, national, [t[0] for t in todo], [t[1] for t in todo],
                                       [t[2] for t in todo], Path(tmp), tmd_years=None, skip_done=False,
                                       progress=not args.quiet)
            finally:
                batch.close_client(client)
            recomputed = {r["area"]: (r, read_m(Path(tmp), r["area"]) if r["status"] == "ok" else None) for r in rows}
        checked = []
        for area, ok, what in results:
            if area in recomputed:
                row, m = recomputed[area]
                if m is None:
                    ok, what = False, what + f"; recompute {row['status']}: {row.get('message', '')}"
                else:
                    x = rebuilt[area]
                    diff = multiplier_difference(m, x)
                    ok = ok and diff <= RECOMPUTE_RTOL
                    what += f"; recompute within {diff:.2g} (rtol {RECOMPUTE_RTOL:g} of max(|x|, 1))"
            checked.append((area, ok, what))
        results = checked
    return _print_verified(reference, results, modes, start)


def _check_recorded_paths_found(args: argparse.Namespace, reference: Path, info: dict[str, Any]) -> None:
    """InputError when verify would read a directory the areas reference names by a path from the
    directory it was made in (its national reference, the default's; the states it was solved
    within) and nothing is there from here, naming the option that says where it is."""
    from .inputs import default_national_reference

    national = info.get("national", {})
    made_from, within = national.get("national_reference"), national.get("within")
    missing = []
    if (args.reference is None and args.national_weights is None and isinstance(made_from, dict)
            and made_from.get("directory") and not default_national_reference().is_dir()):
        missing.append((f"the national reference {made_from['directory']}", "--reference"))
    if (getattr(args, "within", None) is None and isinstance(within, dict) and within.get("directory")
            and not Path(str(within["directory"])).is_dir()):
        missing.append((f"the states at {within['directory']}", "--within"))
    if missing:
        what = " and ".join(name for name, _ in missing)
        options = " ".join(f"{option} DIR" for _, option in missing)
        raise InputError(f"{reference}: made from {what} (paths from the directory it was made in), not found "
                         f"from here; run verify from that directory, or `goldstar areas --verify {reference} "
                         f"{options}`")


def _print_verified(reference: Path, results: list[tuple[str, bool, str]], modes: tuple[str, ...], start: float) -> int:
    from .joint_run import JOINT_CHECK
    from .reference import MANIFEST

    for area, ok, what in results:
        print(f"{area:10s} {'ok  ' if ok else 'FAIL'} {what}")
    failed = [a for a, ok, _ in results if not ok]
    checked = [a for a, _, _ in results if a not in (MANIFEST, JOINT_CHECK)]
    bad_areas = [a for a in failed if a not in (MANIFEST, JOINT_CHECK)]
    joint = any(a == JOINT_CHECK for a, _, _ in results)
    manifest = any(a == MANIFEST for a, _, _ in results)
    if checked:
        what = (f"{len(checked) - len(bad_areas)} of {len(checked)} areas"
                f"{' and ' + MANIFEST if manifest and MANIFEST not in failed else ''}"
                f"{' and the joint certificate' if joint and JOINT_CHECK not in failed else ''}")
    else:  # a check of the whole (the joint problem's) failed before any area's
        what = f"no area: the {', '.join(failed)} check failed first"
    print(f"verified     {what} in {time.perf_counter() - start:.1f} s ({', '.join(modes)})")
    if failed:
        print(f"ERROR: {reference}: {len(failed)} failed verification: {', '.join(failed[:10])}"
              + (" ..." if len(failed) > 10 else ""), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _recipe_mismatch(reference: Path, info: dict[str, Any], national: Any) -> str | None:
    """A sentence naming both recipes when the reference was made from another recipe file than
    the one this verify reads (every area's input hash covers its targets); None when they agree."""
    recorded, found = info.get("national", {}).get("recipe"), national.hashes.get("recipe")
    if not isinstance(recorded, dict) or found is None or recorded.get("hash") == found["hash"]:
        return None
    from .recipe import shipped_recipe

    made_from = f"the areas reference was made from the recipe {recorded.get('file')} ({recorded.get('hash')})"
    read = f"this verify read {found['file']} ({found['hash']})"
    shipped = shipped_recipe(recorded)
    if shipped is not None:
        return (f"{made_from}, the shipped {shipped}; {read}: drop --recipe (verify finds the shipped one), or "
                f"give `--recipe {shipped}`")
    return (f"{made_from}, which is no shipped recipe; {read}: give that recipe with "
            f"`goldstar areas --verify {reference} --recipe FILE`")


# the national inputs besides the weights and the recipe that every area's input hash covers, by
# the key NationalData's hashes record them under, and the option that gives each
RECORDED_INPUTS = {"records": "--records", "soi": "--soi", "sharing": "--sharing", "engine": "--engine"}


def _input_mismatch(info: dict[str, Any], national: Any) -> str | None:
    """A sentence naming the first of RECORDED_INPUTS that the reference was made from and this
    verify reads differently (file and hash; the engine by name, options and version), and its
    option; None when they agree or the reference does not record it."""
    recorded = info.get("national", {})
    for key, option in RECORDED_INPUTS.items():
        before, now = recorded.get(key), national.hashes.get(key)
        if not isinstance(before, dict) or not isinstance(now, dict):
            continue
        if key == "engine":
            if before != now:
                return (f"the areas reference was made with the engine {before.get('name')} (options "
                        f"{before.get('options')}, version {before.get('version')}); this verify used {now.get('name')} "
                        f"(options {now.get('options')}, version {now.get('version')}): "
                        + (f"give {option} {before.get('name')}" if before.get("name") != now.get("name") else
                           "verify where the engine's version and options are those it was made with"))
        elif before.get("hash") != now.get("hash"):
            return (f"the areas reference was made from the {option} file {before.get('file')} ({before.get('hash')}); "
                    f"this verify read {now.get('file')} ({now.get('hash')}): give the one it was made from with "
                    f"{option} FILE, or leave {option} out where it was the shipped one")
    return None


def _within_mismatch(reference: Path, info: dict[str, Any], national: Any) -> str | None:
    """A sentence naming the states' source when a districts reference was solved within other
    state weights than the ones rebuilt now (their hash); None when they agree or it holds none."""
    recorded = info.get("national", {})
    within = recorded.get("within")
    if not isinstance(within, dict):
        return None
    before, now = recorded.get("national_weights", {}).get("hash"), national.hashes["national_weights"]["hash"]
    if before == now:
        return None
    return (f"its districts were solved within {within.get('state')}'s weights from {within.get('directory')} "
            f"({within.get('source')}; hash {before}), but the weights found now hash {now}: verify within the "
            f"states they were solved within with `goldstar areas --verify {reference} --within "
            f"{within.get('directory')}` (that path from the directory it was made in), or solve "
            "the districts again within these and write the reference again")


def verify_directory(directory: Path, modes: tuple[str, ...]) -> int:
    """`goldstar verify --areas DIR [--mode ...]`: verify with every other setting at its default
    (the national inputs the reference records are checked by their hashes)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return verify(parser.parse_args(["--verify", str(directory), "--quiet"]), modes)

