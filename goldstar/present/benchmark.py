"""The benchmark behind `make bench`: every solver on the default problem and a synthetic
series, in one process, each judged against the certified Newton optimum of its problem.

Nothing here is timed by the test suite: the script prints figures and writes
BENCHMARKS.md, its PNG plots and the raw JSON from the run it made.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from ..store.atomic import atomic_write_text
from ..certificate import certify
from ..problem.model import Problem
from ..store.reference import package_versions
from ..solvers.solve import solve
from ..solvers import available_solvers
from ..progress import Progress
from ..defaults import NOISE_FLOOR
from .impact import AMOUNTS, QUANTITIES
from .plots import loss_gap_plot, newton_scaling_plot

# Each solver's settings in the bench: the notes' settings where they have them.
BENCH_SOLVERS: dict[str, dict[str, Any]] = {
    "newton": {},
    "newton-torch": {"device": "cpu"},
    "lbfgsb": {"gtol": 1e-5, "maxiter": 20000},  # the notes' rule
    "torch-lbfgs": {},  # TMD's original settings
    "osqp": {"eps_abs": 1e-5, "eps_rel": 1e-5, "max_iter": 50000},  # the notes' run
    "clarabel": {},
}
CAPPED = {"lbfgsb", "torch-lbfgs", "osqp", "clarabel"}
# "within 1e-6 of the optimal loss" is relative: (loss - loss*) / loss* <= 1e-6
LOSS_CLOSE = 1e-6


@dataclass
class Run:
    problem: str
    n: int
    J: int
    solver: str
    seconds: float
    iterations: int
    loss: float
    pg: float
    gap: float
    max_rel_diff: float
    allclose: bool
    status: str
    message: str
    history: list[dict[str, float]] = field(default_factory=list)
    seconds_to_close: float | None = None

    def row(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.pop("history")
        return out


BENCH_START, BENCH_END = "<!-- bench:start -->", "<!-- bench:end -->"


def replace_section(path: Path, start: str, end: str, section: str) -> None:
    """Put `section` (which begins with `start` and ends with `end`) in place of the text between
    those markers in the file at `path`, or at its end when they are not there yet."""
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + section + "\n"
    atomic_write_text(path, text)


def machine() -> dict[str, str]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": str(os.cpu_count()),
        **package_versions(("numpy", "scipy", "torch", "osqp", "clarabel", "pyarrow")),
    }


def seconds_to_close(history: list[dict[str, float]], optimum: float) -> float | None:
    """First time in a solver's history its loss came within LOSS_CLOSE of the optimum."""
    for entry in history:
        if (entry["loss"] - optimum) <= LOSS_CLOSE * optimum:
            return float(entry["seconds"])
    return None


def run_solver(name: str, problem: Problem, label: str, optimum, cap: float,
               progress: Callable[[dict], None] | None = None) -> Run:
    options = dict(BENCH_SOLVERS[name])
    if name in CAPPED:
        options["time_limit"] = cap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = optimum if (name == "newton" and optimum is not None) else solve(
            problem, name, progress=progress, **options)
    reference = optimum if optimum is not None else solution
    cert = certify(problem, solution.m)
    rel = np.abs(solution.m - reference.m) / reference.m
    history = [{k: float(v) for k, v in e.items() if k in ("iteration", "seconds", "loss")}
               for e in solution.history]
    return Run(
        problem=label, n=problem.n, J=problem.J, solver=name, seconds=solution.seconds,
        iterations=solution.iterations, loss=solution.loss, pg=solution.pg, gap=cert.gap,
        max_rel_diff=float(rel.max()),
        allclose=bool(np.allclose(problem.w0 * solution.m, problem.w0 * reference.m)),
        status="converged" if solution.success else "limit", message=solution.message,
        history=history, seconds_to_close=seconds_to_close(history, reference.loss),
    )


def bench_problem(problem: Problem, label: str, solvers: list[str], cap: float,
                  log: Callable[[str], None], quiet: bool = False) -> list[Run]:
    """Newton first (its certified answer is the optimum), then every other solver.

    On a terminal each run shows a progress bar (iteration, loss, elapsed);
    `quiet` or a non-terminal stderr keeps it silent.
    """

    with warnings.catch_warnings(), Progress(f"{label}: newton", quiet=quiet) as progress:
        warnings.simplefilter("ignore")
        optimum = solve(problem, "newton", progress=progress)
    if not (optimum.success and certify(problem, optimum.m).passed):
        raise RuntimeError(f"{label}: the Newton optimum failed its certificate: {optimum.message}")
    runs = []
    for name in solvers:
        with Progress(f"{label}: {name}", quiet=quiet) as progress:
            run = run_solver(name, problem, label, optimum, cap, progress)
        log(f"{label:32s} {name:13s} {run.seconds:9.2f} s  it={run.iterations:6d}  "
            f"loss={run.loss:.12g}  max rel diff={run.max_rel_diff:.3g}  {run.status}")
        runs.append(run)
    return runs


def stop_reason(run: Run) -> str:
    """Why the solver stopped, in a few words for the tables."""
    text = run.message.replace("|", "/")
    if run.solver in ("newton", "newton-torch") and run.status == "converged":
        return "its own rule: float64 floor of F(y)"
    return text if len(text) <= 50 else text[:47] + "..."


def markdown(default_runs: list[Run], series: list[Run], focus: dict[str, Any], info: dict[str, str],
             command: str, plots: dict[str, str], extra: list[str] | None = None) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` (scripts/bench.py) on {time.strftime('%Y-%m-%d')}; every figure below "
        "comes from that one run. Each solver is compared with the certified Newton optimum of the "
        "same problem: *gap* is the certificate's duality gap of the solver's answer (an upper bound on "
        "its loss excess), *max rel diff* the largest relative weight difference from the optimum, "
        "*allclose* whether `np.allclose(weights, optimal weights)` holds. *newton x* is the solver's "
        "seconds over Newton's; *stopped by* says whether a solver met its own rule or a cap.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
    ]
    if focus:
        lines += [
            f"## Newton vs L-BFGS-B, synthetic n = {focus['n']:,}, J = {focus['J']}",
            "",
            f"- newton: {focus['newton_seconds']:.2f} s, {focus['newton_iterations']} iterations, "
            f"pg {focus['newton_pg']:.3g}, loss {focus['newton_loss']:.12f}",
            f"- lbfgsb (the notes' rule, gtol 1e-5): {focus['lbfgsb_seconds']:.2f} s, "
            f"{focus['lbfgsb_iterations']} iterations, pg {focus['lbfgsb_pg']:.3g}, "
            f"loss {focus['lbfgsb_loss']:.12f} ({focus['lbfgsb_status']})",
            f"- largest relative difference of m between them: {focus['max_rel_diff']:.3g}",
            "- L-BFGS-B's time to come within 1e-6 (relative) of the optimal loss: "
            + (f"{focus['lbfgsb_close']:.2f} s, {focus['close_ratio']:.0f}x Newton's time"
               if focus["lbfgsb_close"] is not None else
               f"not reached in {focus['lbfgsb_seconds']:.0f} s (more than "
               f"{focus['lbfgsb_seconds'] / focus['newton_seconds']:.0f}x Newton's time)"),
            "",
        ]
    if default_runs:
        lines += ["## Every solver on the default problem", "", f"{default_runs[0].problem}: n = "
                  f"{default_runs[0].n:,}, J = {default_runs[0].J}.", ""]
        lines += _table(default_runs)
        if "loss_gap" in plots:
            lines += ["", f"![loss gap against seconds]({plots['loss_gap']})", ""]
    if series:
        lines += ["## Synthetic series (J = 550)", ""]
        lines += _table(series)
        if "newton_scaling" in plots:
            lines += ["", f"![Newton seconds against n]({plots['newton_scaling']})", ""]
    lines += extra or []
    return "\n".join(lines) + "\n"


def _penalized_gpu_row(r: dict[str, Any]) -> str:
    return (f"| {r['problem']} | {r['backend']} | {r['seconds']:.3f} | {r['iterations']} | {r['loss']:.12f} | "
            f"{r['max_rel_diff_vs_reference']:.3g} | {'pass' if r['certificate_passed'] else 'fail'} |")


def _band_gpu_row(r: dict[str, Any]) -> str:
    return (f"| {r['problem']} | {r['backend']} | {r['seconds']:.3f} | {r['inner_iterations']} | "
            f"{r['objective']:.12g} | {r['max_rel_diff']:.3g} | {'pass' if r['certificate_passed'] else 'fail'} |")


class GpuCheck(NamedTuple):
    """How one device-check script's JSON is rendered."""

    script: str
    iterations_column: str
    value_column: str
    row: Callable[[dict[str, Any]], str]


# The device checks' JSON files by name: gpu-<device>.json (penalized) and gpu-<device>-band.json.
GPU_CHECKS = {
    "penalized": GpuCheck("scripts/device_check.py", "iterations", "loss", _penalized_gpu_row),
    "band": GpuCheck("scripts/device_check_band.py", "inner iterations", "objective Q", _band_gpu_row),
}


def gpu_section(plots_dir: Path) -> list[str]:
    """Figures of GPU checks run elsewhere (scripts/device_check*.py), from their saved JSON."""
    lines: list[str] = []
    for path in sorted(plots_dir.glob("gpu-*.json")):
        raw = json.loads(path.read_text())
        check = GPU_CHECKS["band" if path.stem.endswith("-band") else "penalized"]
        lines += [
            f"## GPU check: {raw['device']} ({path.name})", "",
            f"Not part of `make bench`: `{check.script}` run on a machine with that GPU "
            f"(torch {raw['torch']}, Python {raw['python']}, numpy {raw['numpy']}); figures copied "
            f"from its output file `{path.name}`. *max rel diff* is measured against the committed "
            "reference for the default problem and against numpy's answer for the synthetic one.", "",
            f"| problem | backend | seconds | {check.iterations_column} | {check.value_column} | max rel diff | "
            "certificate |",
            "|---|---|---:|---:|---:|---:|:-:|",
        ]
        lines += [check.row(r) for r in raw["runs"]]
        legacy = raw.get("torch_lbfgs_device_vs_cpu")
        if legacy:
            lines += ["", f"TMD's torch L-BFGS after {legacy['steps']} steps on the GPU and on the CPU: largest "
                      f"relative weight difference between the two {legacy['max_rel_diff']:.3g}, np.allclose "
                      f"{'holds' if legacy['allclose_weights'] else 'fails'}."]
        lines.append("")
    return lines


def _table(runs: list[Run]) -> list[str]:
    newton = {r.problem: r.seconds for r in runs if r.solver == "newton"}
    out = ["| problem | solver | seconds | iterations | loss | pg | gap | max rel diff | allclose | newton x "
           "| stopped by |",
           "|---|---|---:|---:|---:|---:|---:|---:|:-:|---:|---|"]
    for r in runs:
        ratio = r.seconds / newton[r.problem] if newton.get(r.problem) else float("nan")
        out.append(
            f"| {r.problem} | {r.solver} | {r.seconds:.2f} | {r.iterations} | "
            f"{r.loss:.12f} | {r.pg:.2g} | {r.gap:.2g} | {r.max_rel_diff:.2g} | "
            f"{'yes' if r.allclose else 'no'} | {ratio:.1f} | {stop_reason(r)} |"
        )
    return out


def write_outputs(out: Path, plots_dir: Path, default_runs: list[Run], series: list[Run],
                  focus: dict[str, Any], command: str, machine_info: dict[str, str] | None = None) -> None:

    plots_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}
    if default_runs:
        path = plots_dir / "loss_gap_default.png"
        loss_gap_plot(default_runs, path)
        plots["loss_gap"] = os.path.relpath(path, out.parent)
    newton_runs = [r for r in series if r.solver == "newton"]
    if len(newton_runs) >= 2:
        path = plots_dir / "newton_seconds_vs_n.png"
        newton_scaling_plot(newton_runs, path)
        plots["newton_scaling"] = os.path.relpath(path, out.parent)
    info = machine() if machine_info is None else machine_info

    extra = gpu_section(plots_dir) + noise_floor_section(plots_dir)
    # its own section of the file: the band and areas benchmarks write theirs beside it
    replace_section(out, BENCH_START, BENCH_END,
                    f"{BENCH_START}\n{markdown(default_runs, series, focus, info, command, plots, extra)}{BENCH_END}")
    raw = {"machine": info, "command": command, "focus": focus,
           "runs": [r.row() | {"history": r.history} for r in default_runs + series]}
    atomic_write_text(plots_dir / "bench.json", json.dumps(raw, indent=1) + "\n")


def load_runs(path: Path) -> tuple[list[Run], list[Run], str]:
    """The runs of a previous bench from its bench.json: (default runs, series runs, command)."""
    raw = json.loads(path.read_text())
    runs = [Run(**{k: v for k, v in r.items()}) for r in raw["runs"]]
    default = [r for r in runs if not r.problem.startswith("synthetic")]
    series = [r for r in runs if r.problem.startswith("synthetic")]
    return default, series, raw["command"]


def focus_figures(series: list[Run]) -> dict[str, Any]:
    """Newton vs L-BFGS-B on the 280K problem (the core issue's figures)."""
    by = {(r.n, r.solver): r for r in series}
    sizes = sorted({r.n for r in series if (r.n, "newton") in by and (r.n, "lbfgsb") in by})
    if not sizes:
        return {}
    n = 280_000 if 280_000 in sizes else sizes[-1]
    nt, lb = by[(n, "newton")], by[(n, "lbfgsb")]
    return {
        "n": n,
        "J": nt.J,
        "newton_seconds": nt.seconds, "newton_iterations": nt.iterations, "newton_pg": nt.pg,
        "newton_loss": nt.loss,
        "lbfgsb_seconds": lb.seconds, "lbfgsb_iterations": lb.iterations, "lbfgsb_pg": lb.pg,
        "lbfgsb_loss": lb.loss, "lbfgsb_status": lb.message,
        "max_rel_diff": lb.max_rel_diff,
        "lbfgsb_close": lb.seconds_to_close,
        "close_ratio": (lb.seconds_to_close / nt.seconds) if lb.seconds_to_close else None,
    }


def available(names: list[str]) -> list[str]:
    have = set(available_solvers())
    missing = [n for n in names if n not in have]
    if missing:
        print(f"skipping solvers whose packages are missing: {', '.join(missing)}", file=sys.stderr)
    return [n for n in names if n in have]


def noise_floor_section(directory: Path = NOISE_FLOOR.parent) -> list[str]:
    """BENCHMARKS.md's noise-floor section, from directory/noise_floor.json (none: no lines)."""
    path = Path(directory) / NOISE_FLOOR.name
    if not path.is_file():
        return []
    result = json.loads(path.read_text())
    solvers = list(result["runs"])
    lines = [
        "## Noise floor in dollars (noise_floor.json)", "",
        "How far Tax-Calculator's totals (goldstar impact: income tax, payroll tax, AGI; national, by AGI "
        "group, by filing status) move when the same problem is solved with its records and targets in "
        "another order, per solver. `goldstar impact` marks a difference between two sets of weights as "
        "above the floor when it exceeds the larger floor of their two solvers, in the amounts it compares "
        "them in: unaged (the records' data-year amounts, which the problem is fitted to) or aged to the tax "
        f"year {result['year']} (`--tc-aged`).", "",
        f"Command: `{result['command']}` (Tax-Calculator {result['taxcalc']}, tax year {result['year']}, "
        f"permutation seed {result['seed']}; {result['platform']})."
        + (" The two orders of each solver ran at once, in two processes, so each run's seconds are those of "
           "a machine shared with the other." if result.get("jobs") == 2 else "")
        + (f" Note: {result['note']}." if result.get("note") else ""), "",
        "| solver | options | seconds (file order, permuted) | iterations | loss (file order) | stopped by | "
        "weights differ up to | records differing > 1% |",
        "|---|---|---|---|---:|---|---:|---:|",
    ]
    for s in solvers:
        r = result["runs"][s]
        options = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "defaults"
        lines.append(
            f"| {s} | {options} | {r['order 1']['seconds']}, {r['order 2']['seconds']} | "
            f"{r['order 1']['iterations']:,}, {r['order 2']['iterations']:,} | "
            f"{r['order 1']['loss']:.10g} | {r['order 1']['message'][:60].replace('|', '&#124;')} | "
            f"{r['max_relative_weight_difference']:.3g} | {r['records_differing_1pct']:,} |"
        )
    for amounts in AMOUNTS:
        floors = result["floors"].get(amounts, {})
        if not floors:
            continue
        lines += ["", f"Spread of each national total between the two orders, $bn, {amounts} amounts:", "",
                  "| total | " + " | ".join(solvers) + " |", "|---|" + "---:|" * len(solvers)]
        for q in QUANTITIES:
            key = f"{q}/national"
            lines.append(f"| {key} | " + " | ".join(f"{floors[s][key]:.3g}" for s in solvers) + " |")
        lines += ["", f"Largest spread over every total (national, AGI groups, filing statuses), $bn, {amounts}: "
                  + ", ".join(f"{s} {max(floors[s].values()):.3g}" for s in solvers) + "."]
    return lines + [""]
