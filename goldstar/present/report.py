"""`goldstar report`: one self-contained HTML page about a reference.

It shows what the reference records (no solve): the certificate with its
thresholds, the weight fingerprint, a histogram of multipliers with the bounds
marked, the fit of every target grouped by variable, and the solver stages
with their convergence curves. Plots are PNGs embedded as data URIs, so the
file can be mailed or attached to a pull request as it is.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..problem.prepass import BAND_TOL
from ..store.atomic import atomic_write_text
from ..store.reference import read_reference, weight_fingerprint
from .impact import report_section as impact_section
from .markup import Html, esc, fmt, html_table, page_head, png_img
from .plots import convergence_plot, multiplier_histogram, target_fit_plot

def variable_of(target_name: str) -> str:
    """The variable part of a TMD-style label, e.g. 'employment income/total/...' -> 'employment income'."""
    return target_name.split("/")[0]


def render(reference_dir: str | os.PathLike[str]) -> str:

    ref = read_reference(reference_dir)
    meta = ref.metadata
    problem = meta["problem"]
    cert = meta["certificate"]
    thresholds = cert.get("thresholds", {})
    lower, upper = float(problem["lower"]), float(problem["upper"])
    names = ref.targets.column("name").to_pylist()
    rel = ref.targets.column("rel_error").to_numpy()
    groups: dict[str, list[float]] = {}
    for name, err in zip(names, rel):
        groups.setdefault(variable_of(name), []).append(float(err))
    group_arrays = {k: np.array(v) for k, v in groups.items()}

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        histogram = png_img(multiplier_histogram(ref.m, lower, upper, tmp_path / "multipliers.png"))
        fit = png_img(target_fit_plot(group_arrays, tmp_path / "target_fit.png"))
        stages_with_history = [s for s in meta["solver_chain"] if s.get("history")]
        convergence = (png_img(convergence_plot(meta["solver_chain"], tmp_path / "convergence.png"))
                       if stages_with_history else "<p>No convergence history was recorded for these stages.</p>")

    def verdict(ok: bool) -> Html:
        return Html('<span class="ok">pass</span>' if ok else '<span class="fail">FAIL</span>')

    def at_most(value: Any, suffix: str = "") -> Html:
        return Html(f"&le; {esc(value)}{suffix}")

    cert_rows = [
        ["fixed-point error", cert["fixed_point_error"], at_most(thresholds.get("fixed_point_error")),
         f"record_id {cert['worst_record_id']}"],
        ["duality gap", cert["gap"], at_most(thresholds.get("gap_relative_to_loss"), " &times; loss"),
         f"loss {cert['loss']:.12g}"],
        ["bound violation", cert["bound_violation"], at_most(thresholds.get("bound_violation")), ""],
    ]
    if "bound_max_relative" in cert:  # the penalized certificate
        cert_rows.append(["proven bound on |m - m*| / m", f"max {fmt(cert['bound_max_relative'])}, median "
                          f"{fmt(cert['bound_median_relative'])}", "(reported)",
                          f"record_id {cert['bound_worst_record_id']}"])
    else:  # the band certificate
        if cert.get("hard_bands"):
            cert_rows.append(["hard bands met (band widths)", cert["max_band_violation"],
                              at_most(thresholds.get("band_violation_widths")), cert["worst_target"]])
        cert_rows.append(["proven ||x - x*||_2", cert["bound_l2"], "(reported)", ""])
        cert_rows.append(["sum (x - 1)^2; TMD's Q", f"{cert['deviation']:.12g}; {cert['tmd_loss']:.12g}",
                          "(reported)", ""])
    cert_rows.append(["projected gradient", cert["pg"], "(reported)", ""])
    fp = weight_fingerprint(ref.weight)
    fit_rows = []
    for name in sorted(group_arrays):
        err = np.abs(group_arrays[name])
        fit_rows.append([name, len(err), f"{err.mean():.3g}", f"{err.max():.3g}"])
    worst = np.argsort(np.abs(rel))[::-1][:10]
    worst_rows = [[names[i], f"{ref.targets.column('target')[i].as_py():.6g}",
                   f"{ref.targets.column('fitted')[i].as_py():.6g}", f"{rel[i]:+.3g}"] for i in worst]
    stage_rows = []
    for s in meta["solver_chain"]:
        dist = s.get("distance_from_optimum", {})
        stage_rows.append([
            s["method"], s["status"], f"{s['loss']:.12g}", s["pg"], s["iterations"], f"{s['seconds']:.2f}",
            (f"max rel weight diff {dist['max_relative_weight_difference']:.3g}, loss +{dist['loss_difference']:.3g}"
             if dist else "final"),
        ])
    source = problem.get("source", {})
    directory = esc(str(ref.directory))
    parts = [
        page_head(f"goldstar reference: {ref.directory}"),
        f"<h1>goldstar reference <code>{directory}</code></h1>",
        f"<p>Made {esc(meta['created'])} on {esc(meta['platform'])} "
        f"(goldstar {esc(meta['versions'].get('goldstar', '?'))}). Problem: n = {problem['n']:,}, "
        f"J = {problem['J']}, nonzeros {problem['nnz']:,}, objective "
        f"{esc(problem.get('objective', {'name': 'penalized', 'penalty': problem.get('penalty')}))}, bounds "
        f"[{lower}, {upper}]; source {esc(source)}.</p>",
        f"<p>Problem hash <code>{esc(problem['problem_hash'])}</code>, weights hash "
        f"<code>{esc(meta['weights_hash'])}</code>.</p>",
        f"<h2>Certificate: {verdict(bool(cert.get('passed')))}</h2>",
        html_table(["check", "figure", "threshold", "where"], cert_rows),
        "<h2>Weight fingerprint</h2>",
        html_table(list(fp), [list(fp.values())]),
        "<h2>Multipliers</h2>", histogram,
        "<h2>Target fit, by variable</h2>",
        html_table(["variable", "targets", "mean |rel error|", "max |rel error|"], fit_rows), fit,
        "<h3>Worst-fitted targets</h3>",
        html_table(["target", "SOI value", "fitted", "rel error"], worst_rows),
        *band_section(ref),
        "<h2>Solver stages</h2>",
        html_table(["method", "status", "loss", "pg", "iterations", "seconds", "distance from the optimum"], stage_rows),
        convergence,
        impact_section(reference_dir),
        "</body></html>",
    ]
    return "\n".join(parts)


def band_section(ref: Any) -> list[str]:
    """Each target's band status (band objective only): the dropped ones, then the kept ones worst first."""
    if "status" not in ref.targets.column_names:
        return []
    t = ref.targets.to_pandas()
    dropped = t[t["status"] == "dropped"]
    kept = t[t["status"] == "kept"].assign(miss=lambda d: d["violation_widths"].abs())
    kept = kept.sort_values("miss", ascending=False, kind="stable")
    prepass = {d.get("name"): d for d in ref.metadata["problem"].get("prepass", {}).get("dropped", [])
               if isinstance(d, dict)}
    drop_rows = [[r.name, f"{r.target:.6g}", prepass.get(r.name, {}).get("reason", "?"),
                  f"{prepass.get(r.name, {}).get('low', float('nan')):.6g} .. "
                  f"{prepass.get(r.name, {}).get('high', float('nan')):.6g}",
                  f"{prepass.get(r.name, {}).get('distance_in_band_widths', float('nan')):.3g}"]
                 for r in dropped.itertuples()]
    kept_rows = [[r.name, f"{r.band_low:.6g}", f"{r.band_high:.6g}", f"{r.fitted:.6g}", f"{r.violation_widths:+.3g}",
                  "inside" if r.miss <= BAND_TOL else "outside"] for r in kept.itertuples()]
    outside = int((kept["miss"] > BAND_TOL).sum())
    return [
        "<h2>Band status</h2>",
        f"<p>{len(kept)} targets kept ({outside} outside their band by more than {BAND_TOL:g} band widths), "
        f"{len(dropped)} dropped by the pre-pass.</p>",
        "<h3>Dropped targets</h3>",
        html_table(["target", "SOI value", "reason", "reachable range", "band widths away"], drop_rows),
        "<h3>Kept targets, worst first</h3>",
        html_table(["target", "band low", "band high", "fitted", "miss (band widths)", "status"], kept_rows),
    ]


def write_report(reference_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    return atomic_write_text(out, render(reference_dir))
