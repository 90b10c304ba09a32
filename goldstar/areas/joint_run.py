"""The joint solve of a finished areas batch (`goldstar areas --additive` or `--max-exhaustion E`,
docs/additive.md) and what it writes beside the batch it starts from:

    joint/joint.json          the coupling and E, the areas with their input hashes, the solve
                              (message, iterations, seconds), the joint certificate (passed,
                              figures, failures), and the per-record sums over the areas of the
                              separate batch and of the joint answer
    joint/duals.parquet       area, target, y (null for a dropped target): the joint duals
    joint/m/<AREA>.parquet    the area's joint multipliers, one per national record, as the
                              batch's m/<AREA>.parquet: the area weight is pop_share x weight x m
    joint/tmd/<area>_tmd_weights.csv.gz
                              the joint weights in TMD's area weights layout, as the batch's
                              tmd/ files (not with --no-tmd-weights)

The directory is written whole or not at all (goldstar.store.atomic.atomic_directory) and
replaced by the next joint solve into the same --out only while it holds nothing but these
files (check_joint_out, before any work): a file of anyone else's there is never deleted. The solve starts at the last slack stage
from the separate solves' duals (each area's row holds its y), their joint optimum under a cap
that binds nowhere; the separate rows must be the joint problem's own (same input hashes, the
same targets kept).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..certificate.additive import certify_joint
from ..certificate.conflict import conflict_proof
from ..exceptions import EXIT_FAILED, EXIT_OK, InputError
from ..params import number
from ..solvers import get_solver
from ..solvers.additive_core import ON_NUMPY, Factoring, multipliers_of_dual, solve_from_start, uncoupled_x
from ..store.atomic import atomic_directory
from .exhaustion import SUM_LEVELS, above_cap
from .inputs import NationalData
from .joint import (
    JointProblem, check_cap, coupling_conflicts, joint_duals, joint_problem, joint_shares, kept_duals, proof_line,
)
from .memory import keep_arrays_on_heap, peak_rss_mb
from .output import area_files, file_stem, plain_json, say_not_ok, tmd_weights_files
from .reference import (
    FINGERPRINT_FIELDS, FINGERPRINT_RTOL, command_settings, fingerprint, manifest_check, relative_difference,
    write_reference,
)

JOINT_DIR = "joint"
JOINT_JSON = "joint.json"
JOINT_KIND = "goldstar-areas-joint"  # joint.json's `kind`: how a joint directory is recognised
JOINT_DUALS = "duals.parquet"
SHOWN_CONFLICTS = 10  # conflicts named one a line; the count says how many more
JOINT_CHECK = "joint"  # the joint certificate's line among a joint reference's verify results
# The joint solve's arrays are n x K (88 MB for the 51 states) and N x N (116 MB): kept on the heap
# (goldstar.areas.memory.keep_arrays_on_heap) instead of fresh pages for each. Measured on this
# kind of machine, twenty rounds of allocating and filling arrays of those two sizes took 4.6 s
# with glibc's default threshold and 1.0 s with this one.
JOINT_HEAP_BYTES = 1 << 30


@dataclass
class JointAnswer:
    """The joint solve's outcome: the multipliers over every national record, the duals, the
    solver's result and the certificate."""

    problem: JointProblem
    m: np.ndarray  # national n x K
    y: np.ndarray  # N, area after area
    result: Any  # band_core.BandResult
    certificate: Any  # certificate.additive.JointCertificate
    seconds: float
    factored_on: str  # where the Newton systems were factored: Factoring.where


def coupled(args: Any) -> bool:
    """Whether the command asks for a joint solve (--additive or --max-exhaustion E)."""
    return bool(args.additive) or args.max_exhaustion is not None


def coupling_name(max_exhaustion: float | None) -> str:
    return "additive" if max_exhaustion is None else f"max-exhaustion {max_exhaustion:g}"


def row_duals(problem: JointProblem, rows: list[dict[str, Any]]) -> np.ndarray:
    """The separate batch's duals (each row's y, by target name) as a point of the joint problem;
    InputError naming the area whose row is not ok, was made from other inputs, or keeps other
    targets than the joint problem."""
    by_area = {row["area"]: row for row in rows}
    ys = {}
    for area, input_hash in zip(problem.areas, problem.input_hashes):
        row = by_area.get(area)
        if row is None or row.get("status") != "ok" or not row.get("y"):
            raise InputError(f"area {area}: no certified separate solve to start the joint solve from "
                             f"(status {None if row is None else row.get('status')})")
        if row.get("input_hash") != input_hash:
            raise InputError(f"area {area}: its separate solve was made from other inputs (input hash "
                             f"{row.get('input_hash')}, the joint problem's {input_hash})")
        ys[area] = np.array([np.nan if row["y"].get(name) is None else row["y"][name] for name in problem.cells])
    return kept_duals(problem, ys, "the separate batch")


def national_multipliers(national: NationalData, problem: JointProblem, x: np.ndarray) -> np.ndarray:
    """x (the records that feed a cell x K) over every national record: 0 for a record without
    a national weight (as the batch writes it), 1 for one that feeds no cell (x = 1 is its
    optimum, with nu = 0, in every area)."""
    keep, A = national.positive
    rows = np.flatnonzero(keep)
    feeds = rows[np.diff(A.indptr) > 0]
    m = np.zeros((national.n, problem.data.K))
    m[rows] = 1.0
    m[feeds] = x
    return m


def sum_figures(m: np.ndarray, shares: np.ndarray, weight: np.ndarray) -> dict[str, Any]:
    """The per-record sums sum_a s_a m_ia over the records with a national weight: max, p99,
    median and the counts above SUM_LEVELS beyond the rounding of a K-term sum (a record held
    at a cap of 2 is not above 2)."""
    sums = (m @ shares)[weight > 0]
    return {"max": float(sums.max()), "p99": float(np.quantile(sums, 0.99)), "median": float(np.median(sums)),
            "above": {f"{level:g}": int(above_cap(sums, level, shares.size).sum()) for level in SUM_LEVELS}}


# While the joint solve runs, its dual is tested for a proof that some bands meant to be met are
# unreachable together (goldstar.certificate.conflict): where they are, the dual has no maximum
# and the loop cannot converge. A test costs about a line search evaluation and a sort of every
# record's areas (1.1 to 2.5 s on the 51 states), so it runs at most once every CONFLICT_EVERY seconds of
# the solve and never takes more than 1 / CONFLICT_SHARE of it.
CONFLICT_EVERY = 60.0
CONFLICT_SHARE = 20.0


class CouplingConflict(Exception):
    """The joint dual proved some bands meant to be met unreachable together: `line` names them
    (goldstar.areas.joint.proof_line), `seconds` into the solve."""

    def __init__(self, line: str, seconds: float):
        super().__init__(line, seconds)
        self.line, self.seconds = line, seconds


class _ConflictWatch:
    """Tests the dual of the states it is shown for a conflict's proof, on CONFLICT_EVERY's
    schedule (`__call__`), and the final one (`final`); raises CouplingConflict."""

    def __init__(self, problem: JointProblem, start: float):
        self.problem, self.start = problem, start
        self.hard = problem.hard()[problem.data.kept]
        self.next = start + CONFLICT_EVERY

    def __call__(self, y: np.ndarray) -> None:
        now = time.perf_counter()
        if now >= self.next and self.hard.any():
            self.final(y)
            self.next = time.perf_counter() + max(CONFLICT_EVERY, CONFLICT_SHARE * (time.perf_counter() - now))

    def final(self, y: np.ndarray) -> None:
        problem = self.problem
        proof = conflict_proof(problem.data, problem.l, problem.u, self.hard, y)
        if proof is not None:
            raise CouplingConflict(proof_line(problem, proof), time.perf_counter() - self.start)


JOINT_DEVICE = "--joint-device"  # the command's option, as a bad device is named


def joint_kernels(device: str | None, option: str) -> Factoring:
    """The joint loop's kernels for the torch `device` (None: ON_NUMPY); InputError naming it as
    `option` (the option that gave it) when torch is missing or cannot use the device."""
    if device is None:
        return ON_NUMPY
    try:
        from ..solvers.additive_torch import device_kernels
    except ImportError:
        raise InputError(f"{option} {device!r}: the Newton systems are factored there by torch, which is not "
                         "installed (goldstar's torch extra)") from None
    return device_kernels(device, option)


def check_joint_time_limit(limit: Any, is_coupled: bool, where: str, name: str, joint_options: str) -> None:
    """InputError before any work for a joint time limit (`name`, as the command or the API
    spells it, given in `where`) without a joint solve, or one that is not a number of seconds > 0."""
    if limit is None:
        return
    if not is_coupled:
        raise InputError(f"{where}: {name} limits the joint solve: give {joint_options} too")
    number(name, limit, where, above=0.0)


def check_joint_device(device: Any, is_coupled: bool, option: str, joint_options: str) -> Factoring:
    """The factoring of a joint device as the command or the API gave it (`option`: the option
    that gave it; `joint_options`: the options that ask for a joint solve, as its caller spells
    them); InputError before any work for a device that is not a name, one without a joint
    solve, or one torch cannot use here (joint_kernels)."""
    if device is None:
        return ON_NUMPY
    if not isinstance(device, str):
        raise InputError(f"{option} must be a device's name (cpu, cuda, cuda:N or auto), got {type(device).__name__}")
    if not is_coupled:
        raise InputError(f"{option} {device!r} factors the joint solve's Newton systems: give {joint_options} too")
    return joint_kernels(device, option)


def solve_joint(national: NationalData, problem: JointProblem, y0: np.ndarray, *,
                time_limit: float | None = None, progress: Callable[[dict], None] | None = None,
                factoring: Factoring = ON_NUMPY) -> JointAnswer:
    """The joint optimum from the separate duals y0 at the last slack stage (band-newton's
    options, `time_limit` seconds in all; the dual proximal rounds where the loop without them
    stalls, additive_core.solve_from_start), certified. CouplingConflict when the dual of a state
    on the way, or the answer's, proves some bands meant to be met unreachable together
    (_ConflictWatch): then there is no answer to write. `factoring`: what factors the Newton
    systems (joint_kernels: numpy's, or torch's on a device)."""
    keep_arrays_on_heap(JOINT_HEAP_BYTES)
    start = time.perf_counter()
    options = {**get_solver("band-newton").defaults, "time_limit": time_limit}
    data = problem.data
    states = 0
    watch = _ConflictWatch(problem, start)

    def on_state(G: float, y: np.ndarray) -> None:
        nonlocal states
        states += 1
        if progress is not None:
            progress({"state": states, "G_inf": G, "seconds": time.perf_counter() - start})
        watch(y)

    result = solve_from_start(data, problem.l, problem.u, problem.stages[-1:], options, progress=progress,
                              x0=uncoupled_x(data, y0), y0=y0, on_state=on_state, kernels=factoring.kernels)
    watch.final(result.y)
    cert = certify_joint(data, problem.l, problem.u, problem.stages[-1], result.x, result.y,
                         record_ids=problem.record_ids, areas=problem.areas, names=problem.targets)
    return JointAnswer(problem=problem, m=national_multipliers(national, problem, result.x), y=result.y,
                       result=result, certificate=cert, seconds=time.perf_counter() - start,
                       factored_on=factoring.where)


def duals_table(problem: JointProblem, y: np.ndarray) -> pa.Table:
    """area, target, y for every area and national cell (null where the area drops the cell)."""
    full = problem.data.scatter(y)
    full[~problem.data.kept] = np.nan
    K, J = full.shape
    return pa.table({"area": pa.array(np.repeat(problem.areas, J).tolist(), pa.string()),
                     "target": pa.array(list(problem.cells) * K, pa.string()),
                     "y": pa.array(full.ravel(), pa.float64(), from_pandas=True)})


def joint_record(answer: JointAnswer, max_exhaustion: float | None, separate: dict[str, Any],
                 national: NationalData) -> dict[str, Any]:
    """joint.json's content."""
    problem, cert, result = answer.problem, answer.certificate, answer.result
    return plain_json({
        "kind": JOINT_KIND, "coupling": coupling_name(max_exhaustion), "max_exhaustion": max_exhaustion,
        "areas": problem.areas, "input_hashes": dict(zip(problem.areas, problem.input_hashes)),
        "national": national.hashes,
        "records": problem.data.n, "targets_kept": problem.data.N,
        "solve": {"message": result.message, "outer": result.outer, "inner": result.inner,
                  "seconds": answer.seconds, "start": "the separate solves' duals, at the last slack stage",
                  "factored_on": answer.factored_on,
                  "peak_rss_mb": peak_rss_mb()},
        "certified": bool(cert.passed), "certificate": cert.as_dict(), "failures": cert.failures(),
        "sums": {"separate": separate,
                 "joint": sum_figures(answer.m, problem.data.shares, national.weight)},
    })


def is_joint_directory(path: Path) -> bool:
    try:
        return json.loads((path / JOINT_JSON).read_text(encoding="utf-8")).get("kind") == JOINT_KIND
    except (OSError, ValueError, AttributeError):
        return False


def _foreign_file(target: Path) -> Path | None:
    """The first file or folder under an earlier joint solve's directory that a joint solve does
    not write (joint.json, duals.parquet, m/<AREA>.parquet, tmd/<area>_tmd_weights.csv.gz), or None."""
    for path in sorted(target.rglob("*")):
        relative = path.relative_to(target)
        ours = (relative.parts in ((JOINT_JSON,), (JOINT_DUALS,)) and path.is_file()
                or relative.parts in (("m",), ("tmd",)) and path.is_dir()
                or len(relative.parts) == 2 and path.is_file() and (
                    relative.parts[0] == "m" and path.name.endswith(".parquet")
                    or relative.parts[0] == "tmd" and path.name.endswith("_tmd_weights.csv.gz")))
        if not ours or path.is_symlink():
            return path
    return None


def check_joint_out(out: Path) -> None:
    """InputError unless OUT/joint may be written: absent, an empty folder, or an earlier joint
    solve holding nothing else. Asked before any work and again just before the swap."""
    target = Path(out) / JOINT_DIR
    if not target.exists() and not target.is_symlink():
        return
    if target.is_symlink() or not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder goldstar wrote; not replaced")
    if not any(target.iterdir()):
        return
    if not is_joint_directory(target):
        raise InputError(f"{target}: exists and is not a joint solve goldstar wrote; not replaced")
    foreign = _foreign_file(target)
    if foreign is not None:
        raise InputError(f"{target}: holds {foreign.relative_to(target)}, which a joint solve does not write; "
                         "not replaced (move it away first)")


def write_joint(out: Path, answer: JointAnswer, record: dict[str, Any], national: NationalData,
                pop_shares: list[float], tmd_years: Any = None) -> Path:
    """out/joint/ (module docstring), whole or not at all; what stands there is replaced only
    when it is an earlier joint solve's. `tmd_years` (goldstar.areas.years): also the TMD-layout
    weights files of the weights pop_share x weight x m."""
    target = Path(out) / JOINT_DIR
    problem = answer.problem
    with atomic_directory(target, check=lambda: check_joint_out(out)) as tmp:
        (tmp / "m").mkdir()
        if tmd_years is not None:
            (tmp / "tmd").mkdir()
        for a, area in enumerate(problem.areas):
            table = pa.table({"m": pa.array(answer.m[:, a], pa.float64())})
            pq.write_table(table, tmp / area_files(area)["m"], compression="zstd")
        if tmd_years is not None:
            weights = (share * national.weight * answer.m[:, a] for a, share in enumerate(pop_shares))
            with contextlib.closing(tmd_weights_files(tmd_years, weights)) as files:
                for area, text in zip(problem.areas, files):
                    (tmp / area_files(area)["tmd"]).write_bytes(text)
        pq.write_table(duals_table(problem, answer.y), tmp / JOINT_DUALS, compression="zstd")
        (tmp / JOINT_JSON).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


# joint.json's fields that readers use, and the types they must have
RECORD_FIELDS = {"coupling": str, "areas": list, "certified": bool, "failures": list, "solve": dict,
                 "certificate": dict, "sums": dict, "input_hashes": dict}
SOLVE_FIELDS = {"message": str, "inner": int, "outer": int, "seconds": (int, float)}


def _check_record(path: Path, record: Any) -> None:
    """InputError naming the field of joint.json that is missing or of the wrong type."""
    def bad(field: str, value: Any) -> InputError:
        return InputError(f"{path}: `{field}` is missing or malformed (found {value!r})")

    for name, kind in RECORD_FIELDS.items():
        value = record.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad(name, value)
    for name, kind in SOLVE_FIELDS.items():
        value = record["solve"].get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad(f"solve.{name}", value)
    if not record["areas"] or not all(isinstance(a, str) and a for a in record["areas"]):
        raise bad("areas", record["areas"])
    if not all(isinstance(f, str) for f in record["failures"]):
        raise bad("failures", record["failures"])
    if set(record["input_hashes"]) != set(record["areas"]):
        raise bad("input_hashes", record["input_hashes"])


def read_joint(out: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """joint.json and each area's joint multipliers of an areas output, None when it has no joint
    solve; InputError naming the file when one is there but unreadable."""
    directory = Path(out) / JOINT_DIR
    if not directory.exists():
        return None
    if not is_joint_directory(directory):
        raise InputError(f"{directory}: not a joint solve goldstar wrote (no {JOINT_JSON} of kind {JOINT_KIND})")
    record = json.loads((directory / JOINT_JSON).read_text(encoding="utf-8"))
    _check_record(directory / JOINT_JSON, record)
    m = {}
    for area in record["areas"]:
        path = directory / "m" / f"{file_stem(area)}.parquet"
        try:
            m[area] = pq.read_table(path).column("m").to_numpy()
        except (OSError, KeyError, pa.ArrowException) as exc:
            raise InputError(f"{path}: cannot be read ({exc})") from None
    return record, m


# -- the command line ------------------------------------------------------------------------


def check_coupling(areas: list, max_exhaustion: float | None, names: tuple[str, str] = ("--additive",
                   "--max-exhaustion")) -> None:
    """What the joint problem refuses, before anything is solved or written: a subset under the
    additive coupling, a cap that is not a number of at least the areas' shares' sum; InputError
    naming the option (`names`: the additive one's and the cap's, as the caller spells them)."""
    option = names[0] if max_exhaustion is None else names[1]
    try:
        shares = joint_shares(areas, additive=max_exhaustion is None)
        if max_exhaustion is not None:
            check_cap(max_exhaustion, option, least=float(shares.sum()))
    except ValueError as exc:
        raise InputError(f"{option}: {exc}" if max_exhaustion is None else str(exc)) from None


# Between the outer iterations' lines, a line on the latest state at most this often (seconds).
PROGRESS_EVERY = 30.0


class _Progress:
    """The joint solve's progress on stderr: each outer iteration's end, and between them the
    latest state's |G| every PROGRESS_EVERY seconds (a first outer iteration can take minutes);
    each dual prox round's end, and the restart with them when the loop without them stalls."""

    def __init__(self) -> None:
        # its own clock: the entries' seconds count from different starts (each prox loop's, the solve's)
        self.shown = time.perf_counter()

    def __call__(self, entry: dict) -> None:
        now = time.perf_counter()
        if "stage" in entry:
            print(f"joint        step {entry['inner']} (outer {entry['outer']}): |G| {entry['G_inf']:.3g}, step length "
                  f"{entry['step']:.3g}, {entry['seconds']:.1f} s", file=sys.stderr, flush=True)
            self.shown = now
        elif "round" in entry:
            print(f"joint        dual prox round {entry['round']} (weight {entry['weight']:.3g}) solved; its centre "
                  f"moved {entry['moved']:.3g}", file=sys.stderr, flush=True)
        elif "stalled" in entry:
            print(f"joint        |G| not below its start's {entry['G_start']:.3g} in {entry['stalled']} states (best "
                  f"{entry['best']:.3g}): from the start again with the dual prox rounds", file=sys.stderr, flush=True)
        elif "state" in entry and now - self.shown >= PROGRESS_EVERY:
            print(f"joint        state {entry['state']}: |G| {entry['G_inf']:.3g}, {entry['seconds']:.1f} s",
                  file=sys.stderr, flush=True)
            self.shown = now


@dataclass
class JointOutcome:
    """The joint steps after a batch: the problem, the cells its coupling makes unreachable
    together (then nothing is solved), and the answer."""

    problem: JointProblem | None
    conflicts: list[str]
    answer: JointAnswer | None
    not_ok: list[str]  # areas whose separate solve is not ok (then nothing is built)
    separate: dict[str, Any] | None = None  # the separate solves' per-record sums (sum_figures)
    proven_after: float | None = None  # the conflict's proof came from the solve's dual, this many seconds in

    def conflicts_said(self) -> str:
        """How many conflicts, and what was done: nothing solved, or the solve stopped."""
        if self.proven_after is None:
            return (f"{len(self.conflicts)} conflict(s) among bands no coupled weights meet together (each line a proof "
                    "of its own; a cell may be named by two); nothing joint was solved")
        return (f"bands no coupled weights meet together, proved by the joint dual {self.proven_after:.1f} s into the "
                "solve; nothing joint was written")


def joint_steps(national: NationalData, areas: list, settings: list, hashes: list[str], rows: list[dict[str, Any]],
                max_exhaustion: float | None, *, time_limit: float | None = None,
                progress: Callable[[dict], None] | None = None, factoring: Factoring = ON_NUMPY) -> JointOutcome:
    """What `--additive` or `--max-exhaustion E` does after the batch: nothing when an area's
    separate solve is not ok; else the joint problem, its coupling conflicts (then nothing is
    solved), and the certified solve from the rows' duals (its Newton systems factored by
    `factoring`, solve_joint)."""
    not_ok = [r["area"] for r in rows if r["status"] != "ok"]
    if not_ok:
        return JointOutcome(None, [], None, not_ok)
    problem = joint_problem(national, areas, settings, hashes, max_exhaustion=max_exhaustion)
    conflicts = coupling_conflicts(problem)
    if conflicts:
        return JointOutcome(problem, conflicts, None, [])
    y0 = row_duals(problem, rows)
    separate = sum_figures(national_multipliers(national, problem, uncoupled_x(problem.data, y0)),
                           problem.data.shares, national.weight)
    try:
        answer = solve_joint(national, problem, y0, time_limit=time_limit, progress=progress,
                             factoring=factoring)
    except CouplingConflict as found:
        return JointOutcome(problem, [found.line], None, [], separate, proven_after=found.seconds)
    return JointOutcome(problem, [], answer, [], separate)


def joint_after_batch(args: Any, national: NationalData, areas: list, settings: list, hashes: list[str],
                      rows: list[dict[str, Any]], area_set: str, tmd_years: Any = None, *,
                      out: Any = None, err: Any = None, written: Callable[[dict], None] | None = None) -> int:
    """`goldstar areas ... --additive | --max-exhaustion E` after its batch (joint_steps), said and
    written: conflicts named (exit 1), OUT/joint (with the TMD-layout files of `tmd_years`), and
    with --write-reference the joint reference (certified only). Said on `out` and `err` (text
    streams; stdout and stderr by default); `written` is handed joint.json's record once written."""
    err = err if err is not None else sys.stderr
    what = coupling_name(args.max_exhaustion)
    by_area = {r["area"]: r for r in rows}
    unwritten = (f"ERROR: --write-reference {args.write_reference}: not written, nothing joint was solved"
                 if args.write_reference is not None else None)
    print(f"joint        {what}: {len(areas)} areas, from the separate solves", file=err)
    outcome = joint_steps(national, areas, settings, hashes, [by_area[a.name] for a in areas], args.max_exhaustion,
                          time_limit=args.joint_time_limit, progress=None if args.quiet else _Progress(),
                          factoring=joint_kernels(args.joint_device, JOINT_DEVICE))
    if outcome.not_ok:
        say_not_ok([by_area[a] for a in outcome.not_ok], err)
        print(f"ERROR: the joint solve needs every area's separate solve: {len(outcome.not_ok)} area(s) are not ok; "
              "nothing joint was solved", file=err)
        if unwritten:
            print(unwritten, file=err)
        return EXIT_FAILED
    if outcome.conflicts:
        for line in outcome.conflicts[:SHOWN_CONFLICTS]:
            print(f"ERROR: {what}: bands the coupling makes unreachable together: {line}", file=err)
        more = len(outcome.conflicts) - SHOWN_CONFLICTS
        print(f"ERROR: {what}: {outcome.conflicts_said()}{f' ({more} more not shown)' if more > 0 else ''}", file=err)
        if args.write_reference is not None:
            why = "nothing joint was solved" if outcome.proven_after is None else "the joint solve stopped on a conflict"
            print(f"ERROR: --write-reference {args.write_reference}: not written, {why}", file=err)
        return EXIT_FAILED
    answer, separate = outcome.answer, outcome.separate
    record = joint_record(answer, args.max_exhaustion, separate, national)
    target = write_joint(args.out, answer, record, national, [spec.pop_share for spec in areas], tmd_years)
    if written is not None:
        written(record)
    cert, joint = answer.certificate, record["sums"]["joint"]
    data = answer.problem.data
    print(f"joint        {data.K} areas x {data.n:,} records, {data.N} kept targets: {answer.result.message}; "
          f"{answer.result.inner} Newton steps, {answer.seconds:.1f} s, peak memory "
          f"{record['solve']['peak_rss_mb']:.0f} MB"
          f"{'' if answer.factored_on == 'numpy' else f'; Newton systems factored by {answer.factored_on}'}", file=out)
    print(f"certificate  {'passed' if cert.passed else 'FAILED'}: fixed point {cert.fixed_point_error:.3g}, "
          f"gap {cert.gap:.3g} of Q {cert.loss:.6g}, coupling {cert.coupling_residual:.3g}, "
          f"hard bands {cert.max_band_violation:.3g} widths", file=out)
    whole = "state" if "within" in national.hashes else "national"  # goldstar.areas.within
    print(f"sums         a record's area weights over its {whole} weight: separate max {separate['max']:.4g}, "
          f"p99 {separate['p99']:.4g}, {separate['above']['2']} above 2; joint max {joint['max']:.4g}, "
          f"p99 {joint['p99']:.4g}, {joint['above']['2']} above 2", file=out)
    print(f"wrote        {target}", file=out)
    if not cert.passed:
        for failure in cert.failures():
            print(f"ERROR: joint certificate: {failure}", file=err)
    if args.write_reference is not None:
        if not cert.passed:
            print(f"ERROR: --write-reference {args.write_reference}: not written, the joint solve is not certified",
                  file=err)
        else:
            write_joint_reference(args.write_reference, answer, rows, national, area_set, args.max_exhaustion,
                                  force=args.force, settings=command_settings(args))
            print(f"reference    {args.write_reference} ({len(rows)} areas, {what})", file=out)
    return EXIT_OK if cert.passed else EXIT_FAILED


def write_joint_reference(directory: Path, answer: JointAnswer, rows: list[dict[str, Any]], national: NationalData,
                          area_set: str, max_exhaustion: float | None, *, force: bool,
                          settings: dict[str, Any] | None = None) -> None:
    """The compact reference of a certified joint solve: the areas reference's layout
    (goldstar.areas.reference) with the joint duals in place of the separate ones and
    `joint` in its metadata (the coupling, E, the certificate)."""
    problem = answer.problem
    full = problem.data.scatter(answer.y)
    position = {area: a for a, area in enumerate(problem.areas)}
    joint_rows, weights = [], {}
    for row in rows:
        a = position[row["area"]]
        y = {name: (float(full[a, j]) if problem.data.kept[a, j] else None) for j, name in enumerate(problem.cells)}
        joint_rows.append({**row, "y": y, "certified": True})
        weights[row["area"]] = row["pop_share"] * national.weight * answer.m[:, a]
    joint = {"coupling": coupling_name(max_exhaustion), "max_exhaustion": max_exhaustion,
             "certificate": plain_json(answer.certificate.as_dict())}
    write_reference(directory, joint_rows, national.cell_names, national.hashes, weights, area_set,
                    force=force, joint=joint, settings=settings)


def verify_joint_reference(reference: Path, info: dict[str, Any], national: NationalData, areas: list,
                           settings: list, hashes: list[str]) -> list[tuple[str, bool, str]]:
    """(name, passed, what) for a joint reference: the joint problem rebuilt from the inputs (each
    area's input hash checked), x from the stored duals with every record's coupling multiplier
    solved exactly, the joint certificate, each area's weight fingerprint at the reference's rtol,
    and MANIFEST.json against the duals."""
    spec = info["joint"]
    try:
        problem = joint_problem(national, areas, settings, hashes, max_exhaustion=spec.get("max_exhaustion"))
        y = joint_duals(problem, reference)
    except (InputError, ValueError) as exc:
        return [(JOINT_CHECK, False, str(exc))]
    keep_arrays_on_heap(JOINT_HEAP_BYTES)
    x = multipliers_of_dual(problem.data, y)
    cert = certify_joint(problem.data, problem.l, problem.u, problem.stages[-1], x, y, record_ids=problem.record_ids,
                         areas=problem.areas, names=problem.targets)
    out = [(JOINT_CHECK, cert.passed, f"{spec['coupling']}: certificate "
            + ("passed" if cert.passed else "FAILED: " + "; ".join(cert.failures()))
            + f" (fixed point {cert.fixed_point_error:.3g}, gap {cert.gap:.3g} of Q {cert.loss:.6g}, "
              f"coupling {cert.coupling_residual:.3g})")]
    m = national_multipliers(national, problem, x)
    for a, area in enumerate(areas):
        fp, rec = fingerprint(area.pop_share * national.weight * m[:, a]), info["by_area"][area.name]["fingerprint"]
        worst = max(relative_difference(fp[k], rec[k]) for k in FINGERPRINT_FIELDS)
        out.append((area.name, worst <= FINGERPRINT_RTOL,
                    f"fingerprint within {worst:.2g} (rtol {FINGERPRINT_RTOL:g}) of the joint weights"))
    out.append(manifest_check(reference, info))
    return out
