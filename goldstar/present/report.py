"""`goldstar report`: one self-contained HTML page about a set of weights and its problem.

The subject is a reference (`--reference DIR`) or any weights file with the problem it
was solved on (`--weights FILE --problem DIR`). The page opens with the verdict and a short
summary; then the certificate's checks, run here exactly as `goldstar verify` runs them (so
the two show the same figures); the weight fingerprint; the multipliers with their bounds;
the fit of the kept targets by variable, apart from the dropped ones; the solver stages; for a
reference on Tax-Calculator's records, what the weights mean in dollars; and last, collapsed,
the provenance (problem, source, hashes, the certificate as recorded when the reference was
written). Plots are PNGs embedded as data URIs, so the file can be mailed or attached to a
pull request as it is.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..certificate import certify
from ..checks import Check
from ..exceptions import InputError
from ..problem.model import Problem
from ..store.atomic import atomic_write_text
from ..store.layout import read_problem, read_settings
from ..store.reference import read_reference, weight_fingerprint
from ..verify import certificate_mode_checks, load_problem
from .impact import aligned, load_weights
from .impact import report_section as impact_section
from .markup import Html, esc, html_table, page_head, png_img
from .plots import convergence_plot, multiplier_histogram, target_fit_plot

WORST_SHOWN = 10  # worst-fitted kept targets listed


@dataclass
class Subject:
    """What a page is about: the weights as multipliers of a problem, their checks, and what
    is known of how they were made."""

    title: str
    problem: Problem
    m: np.ndarray
    checks: list[Check]
    reported: list[tuple[str, str]]
    stages: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    prepass: dict[str, Any] = field(default_factory=dict)  # the band pre-pass as recorded: its proofs
    dollars: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def reference_subject(reference_dir: str | os.PathLike[str]) -> Subject:
    """A reference, its problem rebuilt from its recorded source, its checks as `verify` runs them."""
    ref = read_reference(reference_dir)
    problem, m = load_problem(ref)
    reported: list[tuple[str, str, str]] = []
    checks = certificate_mode_checks(ref, problem, m, compare_hash=True, reported=reported)
    meta = ref.metadata
    provenance = {
        "made": f"{meta['created']} on {meta['platform']} (goldstar {meta['versions'].get('goldstar', '?')})",
        "objective": meta["problem"].get("objective", {"name": "penalized", "penalty": meta["problem"].get("penalty")}),
        "bounds": [meta["problem"]["lower"], meta["problem"]["upper"]],
        "source": meta["problem"].get("source", {}),
        "problem hash": meta["problem"]["problem_hash"],
        "weights hash": meta["weights_hash"],
        "inputs": meta.get("inputs", {}),
        "certificate as recorded when written": meta["certificate"],
    }
    return Subject(f"goldstar reference {ref.directory}", problem, m, checks,
                   [(name, figure) for _, name, figure in reported], meta["solver_chain"], provenance,
                   meta["problem"].get("prepass") or {}, impact_section(reference_dir))


def weights_subject(weights: str | os.PathLike[str], problem_dir: str | os.PathLike[str]) -> Subject:
    """A weights file (record_id, weight) on the problem it was solved on: m = weight / w0,
    matched by record_id, and the certificate of the problem's objective at that m."""
    if Path(weights).is_dir():
        raise InputError(f"--weights {weights}: a directory; give a reference with --reference, or a weights file")
    problem = read_problem(problem_dir)
    ws = load_weights(weights)
    m = aligned(problem.record_ids, ws) / problem.w0
    certificate = certify(problem, m)
    return Subject(
        f"goldstar weights {weights} on {problem_dir}", problem, m, list(certificate.checks()),
        list(certificate.reported().items()),
        [{"method": ws.solver or "(not recorded)", "status": "", "loss": problem.loss(m), "pg": problem.pg(m),
          "iterations": "", "seconds": None}],
        {"weights": str(weights), "problem": str(problem_dir), "objective": problem.objective.as_dict(),
         "bounds": [problem.lower, problem.upper], "problem hash": problem.content_hash()},
        read_settings(problem_dir).get("prepass") or {},
    )


def variable_of(target_name: str) -> str:
    """The variable part of a TMD-style label, e.g. 'employment income/total/...' -> 'employment income'."""
    return target_name.split("/")[0]


@dataclass
class Fit:
    """Each target's fit at m: relative error for all, the band status for band problems."""

    names: list[str]
    target: np.ndarray
    fitted: np.ndarray
    rel_error: np.ndarray
    kept: np.ndarray  # bool: fitted (penalized: every target; band: not dropped)
    band: dict[str, np.ndarray] = field(default_factory=dict)  # band_low, band_high, violation_widths (kept)

    @classmethod
    def of(cls, problem: Problem, m: np.ndarray) -> "Fit":
        fitted = problem.fitted(m)
        kept = np.ones(problem.J, dtype=bool)
        band = {}
        if problem.objective.name == "band":
            kept[:] = False
            kept[problem.form.kept] = True
            band = problem.form.band_status(m)
        return cls(list(problem.target_names), problem.t, fitted, (fitted + 1.0) / (problem.t + 1.0) - 1.0,
                   kept, band)

    def groups(self) -> dict[str, np.ndarray]:
        """The kept targets' relative errors by variable."""
        out: dict[str, list[float]] = {}
        for name, err, keep in zip(self.names, self.rel_error, self.kept):
            if keep:
                out.setdefault(variable_of(name), []).append(float(err))
        return {k: np.array(v) for k, v in out.items()}


def summary(subject: Subject, fit: Fit) -> str:
    problem = subject.problem
    dropped = int((~fit.kept).sum())
    failed = [c.name for c in subject.checks if not c.passed]
    verdict = (Html('<span class="ok">pass</span>') if subject.passed
               else Html(f'<span class="fail">FAIL</span> ({esc(", ".join(failed))})'))
    at_bounds = (int(np.sum(subject.m <= problem.lower)), int(np.sum(subject.m >= problem.upper)))
    return "\n".join([
        f"<h2>Certificate: {verdict}</h2>",
        f"<p>{problem.n:,} records, {problem.J} targets ({problem.J - dropped} fitted"
        + (f", {dropped} dropped as unreachable" if dropped else "") + f"), objective {esc(problem.objective.name)}, "
        f"multipliers in [{problem.lower:g}, {problem.upper:g}]: {at_bounds[0]:,} at the lower bound, "
        f"{at_bounds[1]:,} at the upper. The checks below are run here, as <code>goldstar verify</code> "
        "runs them; docs/glossary.md says what each figure means.</p>",
    ])


def checks_section(subject: Subject) -> str:
    rows = [[c.name, Html('<span class="ok">pass</span>' if c.passed else '<span class="fail">FAIL</span>'),
             c.figure, c.threshold] for c in subject.checks]
    rows += [[name, "(reported)", figure, ""] for name, figure in subject.reported]
    return html_table(["check", "result", "figure", "threshold"], rows)


def fit_section(fit: Fit, plot: str) -> list[str]:
    groups = fit.groups()
    rows = [[name, len(err), f"{np.abs(err).mean():.3g}", f"{np.abs(err).max():.3g}"]
            for name, err in sorted(groups.items())]
    kept = np.flatnonzero(fit.kept)
    if fit.band:
        miss = np.abs(fit.band["violation_widths"])
        order = np.argsort(miss)[::-1][:WORST_SHOWN]
        worst = html_table(["target", "band low", "band high", "fitted", "miss (band widths)"], [
            [fit.names[kept[i]], f"{fit.band['band_low'][i]:.6g}", f"{fit.band['band_high'][i]:.6g}",
             f"{fit.fitted[kept[i]]:.6g}", f"{fit.band['violation_widths'][i]:+.3g}"] for i in order])
    else:
        order = kept[np.argsort(np.abs(fit.rel_error[kept]))[::-1][:WORST_SHOWN]]
        worst = html_table(["target", "SOI value", "fitted", "rel error"], [
            [fit.names[j], f"{fit.target[j]:.6g}", f"{fit.fitted[j]:.6g}", f"{fit.rel_error[j]:+.3g}"] for j in order])
    worst_heading = ("<h3>Worst-fitted targets: Band status of the fitted targets, worst first</h3>" if fit.band
                     else "<h3>Worst-fitted targets</h3>")
    return ["<h2>Fit of the fitted targets, by variable</h2>",
            html_table(["variable", "targets", "mean |rel error|", "max |rel error|"], rows), plot,
            worst_heading, worst]


def dropped_section(fit: Fit, prepass: dict[str, Any]) -> list[str]:
    dropped = np.flatnonzero(~fit.kept)
    if not dropped.size:
        return []
    proofs = {d.get("name"): d for d in prepass.get("dropped", []) if isinstance(d, dict)}
    rows = []
    for j in dropped:
        d = proofs.get(fit.names[j], {})
        reach = (f"{d['low']:.6g} .. {d['high']:.6g}" if d.get("reason") == "range" and "low" in d
                 else "met alone, not with the others" if d.get("reason") == "joint" else "(not recorded)")
        away = d.get("distance_in_band_widths")
        rows.append([fit.names[j], f"{fit.target[j]:.6g}", d.get("reason", "(not recorded)"), reach,
                     f"{away:.3g}" if isinstance(away, (int, float)) else ""])
    return ["<h2>Dropped targets</h2>",
            f"<p>{dropped.size} targets that no multipliers in the box can meet (alone: <code>range</code>; "
            "together with the others: <code>joint</code>) were dropped before the solve. They are not fitted; "
            "<code>goldstar verify</code> checks the proof of each (checks above).</p>",
            html_table(["target", "SOI value", "reason", "reachable range", "band widths away"], rows)]


def stages_section(stages: list[dict[str, Any]], plot: str) -> list[str]:
    if not stages:
        return []
    rows = []
    for s in stages:
        dist = s.get("distance_from_optimum", {})
        rows.append([
            s.get("method"), s.get("status"), f"{s['loss']:.12g}" if isinstance(s.get("loss"), float) else s.get("loss"),
            s.get("pg"), s.get("iterations"),
            f"{s['seconds']:.2f}" if isinstance(s.get("seconds"), (int, float)) else "",
            (f"max rel weight diff {dist['max_relative_weight_difference']:.3g}, loss +{dist['loss_difference']:.3g}"
             if dist else "final"),
        ])
    return ["<h2>Solver stages</h2>",
            html_table(["method", "status", "loss", "pg", "iterations", "seconds", "distance from the optimum"], rows),
            plot]


def provenance_section(provenance: dict[str, Any]) -> str:
    rows = [[key, value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)]
            for key, value in provenance.items()]
    return ("<details><summary>Provenance: problem, source, hashes, recorded certificate</summary>"
            + html_table(["what", "value"], rows) + "</details>")


def render_subject(subject: Subject) -> str:
    fit = Fit.of(subject.problem, subject.m)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        histogram = png_img(multiplier_histogram(subject.m, subject.problem.lower, subject.problem.upper,
                                                 tmp_path / "multipliers.png"))
        fit_plot = png_img(target_fit_plot(fit.groups(), tmp_path / "target_fit.png"))
        with_history = [s for s in subject.stages if s.get("history")]
        convergence = (png_img(convergence_plot(subject.stages, tmp_path / "convergence.png")) if with_history
                       else "<p>No convergence history was recorded for these stages.</p>")
    weight = subject.problem.w0 * subject.m
    fp = weight_fingerprint(weight)
    return "\n".join([
        page_head(subject.title),
        f"<h1>{esc(subject.title)}</h1>",
        summary(subject, fit),
        checks_section(subject),
        "<h2>Weight fingerprint</h2>",
        html_table(list(fp), [list(fp.values())]),
        "<h2>Multipliers</h2>", histogram,
        *fit_section(fit, fit_plot),
        *dropped_section(fit, subject.prepass),
        *stages_section(subject.stages, convergence),
        subject.dollars,
        provenance_section(subject.provenance),
        "</body></html>",
    ])


def render(reference_dir: str | os.PathLike[str]) -> str:
    return render_subject(reference_subject(reference_dir))


def write_report(out: str | os.PathLike[str], *, reference: str | os.PathLike[str] | None = None,
                 weights: str | os.PathLike[str] | None = None,
                 problem: str | os.PathLike[str] | None = None) -> Path:
    """Write the page of a reference, or of a weights file on its problem."""
    subject = reference_subject(reference) if weights is None else weights_subject(weights, problem)
    return atomic_write_text(out, render_subject(subject))
