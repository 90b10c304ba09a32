"""The districts of several states within their state weights, in one command:
`goldstar areas --areas districts:NY,PA --within DIR [--additive | --max-exhaustion E] --out OUT`.

Each state is the one-state command's batch (goldstar.areas.within) in its own directory OUT/<ST>:
its marker, records (the state's weights), rows, summary and joint solve, so `goldstar report
--areas OUT/NY` reads it, and a rerun of the one-state command into OUT/NY skips its finished
districts. The national inputs are read once. The separate district solves run on one Dask
cluster, state after state (each state's districts as tasks); then every state's joint solve is
one task on that cluster, all submitted at once: the states' joint problems share nothing
(docs/additive.md, "Districts within their state"); a joint task writes OUT/<ST>/joint where it
runs, so with --scheduler OUT must be a directory the workers share. Each task's report is printed whole when it
ends, so two states' lines never interleave, and a table of the states closes the run.

OUT holds WITHIN.json (what it is: the states, the states batch) beside the states' directories.
Everything is checked before anything is written: every state's districts complete and its
weights readable in DIR, each OUT/<ST> new, empty or an areas output made with these settings.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..exceptions import EXIT_FAILED, EXIT_OK, InputError
from ..store.atomic import atomic_write_text
from ..store.lock import reference_lock
from . import batch
from .joint_run import check_coupling, check_joint_out, coupled, joint_after_batch
from .output import WITHIN_KIND, WITHIN_MARKER, check_out, check_settings, read_marker, say_not_ok
from .targets import AreaSpec
from .within import Rebuild, is_reference, reference_state_weights, within_state

def check_states_out(out: Path, states: list[str], within: Path) -> None:
    """Refuse OUT, before any work and without writing, unless it is new, empty (but for the
    lock files of its states' directories), or an earlier run's within the same states batch (its
    WITHIN.json); each OUT/<ST> is then checked as any --out (output.check_out)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    marker = read_marker(out, WITHIN_MARKER, WITHIN_KIND)
    if out.is_dir() and marker is None and any(not _is_lock(path) for path in out.iterdir()):
        raise InputError(f"--out {out}: a non-empty directory that is not a goldstar districts-within output "
                         f"(no readable {WITHIN_MARKER}); goldstar will not write into it. Give a new or empty "
                         "directory.")
    if marker is not None and Path(str(marker.get("within"))).resolve() != Path(within).resolve():
        raise InputError(f"--out {out}: its states' districts were solved within {marker.get('within')}, not "
                         f"--within {within}; give another --out")
    for state in states:
        check_out(out / state)


def _is_lock(path: Path) -> bool:
    """A lock file goldstar.store.lock keeps beside a state's directory (`.NY.lock`)."""
    return path.is_file() and path.name.startswith(".") and path.name.endswith(".lock")


@dataclass
class StatePlan:
    """One state's part of the command: its one-state arguments (areas, OUT/<ST>), the state's
    data in the national data's place, its districts with their settings and input hashes, and
    the settings its OUT/<ST> records."""

    state: str
    args: argparse.Namespace
    state_data: Any  # goldstar.areas.inputs.NationalData, the state's weights in the national ones' place
    districts: list[AreaSpec]
    settings: list  # each district's goldstar.areas.problem.AreaSettings
    hashes: list[str]
    recorded: dict[str, Any]
    seconds: float  # to make the plan (the state's weights read, its districts' targets)


def by_state(areas: list[AreaSpec]) -> dict[str, list[AreaSpec]]:
    """The areas grouped by their state, in the order the states first appear."""
    groups: dict[str, list[AreaSpec]] = {}
    for spec in areas:
        groups.setdefault(spec.state, []).append(spec)
    return groups


def state_args(args: argparse.Namespace, state: str) -> argparse.Namespace:
    """The one-state command's arguments for `state`: its districts, into OUT/<ST>. Plain values
    only (not the CLI's function), so a worker can take them."""
    values = {k: v for k, v in vars(args).items() if k != "func"}
    return argparse.Namespace(**{**values, "areas": f"districts:{state}", "out": Path(args.out) / state})


class _Said:
    """A text stream that keeps what is written to it in `lines` with its stream's name, so that a
    task's stdout and stderr come back in the order they were said."""

    def __init__(self, lines: list[tuple[str, str]], name: str):
        self.lines, self.name = lines, name

    def write(self, text: str) -> int:
        self.lines.append((self.name, text))
        return len(text)

    def flush(self) -> None:
        pass


def joint_task(args: argparse.Namespace, national: Any, areas: list, settings: list, hashes: list[str],
               rows: list[dict[str, Any]], area_set: str, tmd_years: Any) -> tuple[int, list, dict | None]:
    """One state's joint solve on a worker (joint_run.joint_after_batch). Returns its exit code
    (bad input: 2, its message said), what it said as (stream, text) pieces in order, and the
    solve as the OUT/<ST>/joint/joint.json it wrote records it (None when it wrote none)."""
    said: list[tuple[str, str]] = []
    records: list[dict] = []
    try:
        code = joint_after_batch(args, national, areas, settings, hashes, rows, area_set, tmd_years,
                                 out=_Said(said, "stdout"), err=_Said(said, "stderr"), written=records.append)
    except InputError as exc:
        said.append(("stderr", f"ERROR: {exc}\n"))
        code = 2
    solve = {"certified": records[0]["certified"], **records[0]["solve"]} if records else None
    return code, said, solve


def _show(state: str, said: list[tuple[str, str]]) -> None:
    """A task's pieces of text, in order, each line on its own stream with the state before it."""
    for name, pieces in itertools.groupby(said, key=lambda piece: piece[0]):
        for line in "".join(text for _, text in pieces).splitlines():
            print(f"{state}  {line}", file=getattr(sys, name))


def plan_states(args: argparse.Namespace, national: Any, areas: list[AreaSpec], overrides: Any, seed: int,
                settings_and_hashes: Callable, recorded_settings: Callable, rebuild: Rebuild) -> list[StatePlan]:
    """Each state's plan (the command's own `settings_and_hashes`, `recorded_settings` and
    `rebuild` of a states reference's areas, passed in), every state checked before anything is
    written: its districts complete and its weights in --within (within_state; from a states
    reference, every state's rebuilt at once), its coupling, OUT/<ST>/joint and OUT/<ST>'s
    recorded settings."""
    groups = by_state(areas)
    found = (reference_state_weights(args.within, list(groups), national, rebuild) if is_reference(args.within)
             else None)
    plans = []
    for state, districts in groups.items():
        start = time.perf_counter()
        sub = state_args(args, state)
        state_data, specs = within_state(national, districts, args.within, found=found)
        settings, hashes = settings_and_hashes(sub, state_data, specs, overrides)
        if coupled(args):
            check_coupling(specs, args.max_exhaustion)
            check_joint_out(sub.out)
        recorded = recorded_settings(sub, state_data, seed)
        check_settings(sub.out, recorded, rerun_all=args.rerun_all)
        plans.append(StatePlan(state, sub, state_data, specs, settings, hashes, recorded,
                               time.perf_counter() - start))
    return plans


def run_within_states(args: argparse.Namespace, plans: list[StatePlan], separate_batch: Callable,
                      tmd_years: Any, start: float) -> int:
    """The command (module docstring) for the checked `plans`, each state's separate solves by the
    command's own `separate_batch`; exit 0 when every state's districts are ok (and, coupled,
    certified), else 1."""
    states = [plan.state for plan in plans]
    client = batch.make_client(args.scheduler, args.workers)  # a dead scheduler is refused before any write
    with ExitStack() as held:
        held.callback(batch.close_client, client)
        _write_marker(Path(args.out), states, args)  # first: OUT is then never a directory of locks alone
        for state in states:
            held.enter_context(reference_lock(Path(args.out) / state, run="goldstar areas"))
        done = {}
        for plan in plans:
            print(f"within       {plan.state}: {len(plan.districts)} district(s) into {plan.args.out}", file=sys.stderr)
            done[plan.state] = separate_batch(plan.args, client, plan.state_data, plan.districts, plan.settings,
                                              plan.hashes, plan.args.areas, plan.recorded,
                                              time.perf_counter() - plan.seconds)
        codes, solves = _joint_tasks(client, plans, done, tmd_years) if coupled(args) else (_separate_codes(done), None)
    _table(plans, done, solves)
    print(f"within       {len(states)} state(s) in {time.perf_counter() - start:.1f} s; wrote {args.out}")
    return EXIT_OK if all(code == EXIT_OK for code in codes.values()) else EXIT_FAILED


def _write_marker(out: Path, states: list[str], args: argparse.Namespace) -> None:
    """OUT/WITHIN.json: what OUT holds, the states of earlier runs into it kept (check_states_out
    refused another --within)."""
    earlier = read_marker(out, WITHIN_MARKER, WITHIN_KIND) or {}
    every = list(dict.fromkeys([*map(str, earlier.get("states", [])), *states]))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / WITHIN_MARKER, json.dumps({
        "kind": WITHIN_KIND, "states": every, "within": str(args.within),
    }, indent=2) + "\n")


def _separate_codes(done: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Without a joint solve: each state's exit code from its districts' rows, the areas that are
    not ok named as the one-state command names them."""
    codes = {}
    for state, rows in done.items():
        codes[state] = EXIT_FAILED if say_not_ok(rows) else EXIT_OK
    return codes


def _joint_tasks(client, plans: list[StatePlan], done: dict[str, list], tmd_years: Any) -> tuple[dict[str, int], dict]:
    """Every state's joint solve as one task, all at once; each report printed as its task ends.
    (each state's exit code, its solve as joint_task returns it)."""
    from dask.distributed import as_completed

    futures = {}
    for plan in plans:
        task_args = argparse.Namespace(**{**vars(plan.args), "quiet": True})
        state_data = client.scatter(plan.state_data, hash=False)  # sent to its worker once, not in the task graph
        futures[client.submit(joint_task, task_args, state_data, plan.districts, plan.settings, plan.hashes,
                              done[plan.state], plan.args.areas, tmd_years, key=f"joint-{plan.state}",
                              pure=False)] = plan.state
    print(f"joint        {len(futures)} state(s)' joint solves as tasks on "
          f"{len(client.scheduler_info().get('workers', {}))} worker(s)", file=sys.stderr)
    codes, solves = {}, {}
    for future in as_completed(futures):
        state = futures[future]
        try:
            code, said, solves[state] = future.result()
        except Exception as exc:  # the worker died, or the task raised
            code, solves[state] = EXIT_FAILED, None
            said = [("stderr", f"ERROR: the joint solve's task failed: {type(exc).__name__}: {exc}\n")]
        future.release()
        codes[state] = code
        print(f"within       {state}: joint solve done ({len(codes)} of {len(futures)})", file=sys.stderr)
        _show(state, said)
    return codes, solves


def _table(plans: list[StatePlan], done: dict[str, list], solves: dict[str, dict | None] | None) -> None:
    """One line a state: its districts, how many are ok, and (coupled) what its joint solve did."""
    print("state  districts  ok  joint")
    for state in (plan.state for plan in plans):
        rows = done[state]
        joint = "-"
        if solves is not None:
            solve = solves.get(state)
            joint = "not solved" if solve is None else (
                f"{'certified' if solve['certified'] else 'NOT certified'}, {solve['inner']} Newton steps, "
                f"{solve['seconds']:.1f} s")
        print(f"{state:<5}  {len(rows):>9}  {sum(r['status'] == 'ok' for r in rows):>2}  {joint}")
