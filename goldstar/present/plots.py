"""PNG plots for BENCHMARKS.md and the reference report (matplotlib, imported only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loss_gap_plot(runs: Sequence[Any], path: Path) -> Path:
    """loss - loss* against seconds for every solver on one problem (log scale)."""
    plt = _pyplot()
    optimum = min(r.loss for r in runs if r.solver == "newton")
    floor = 1e-16 * optimum
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in runs:
        if r.history:
            t = np.array([e["seconds"] for e in r.history])
            gap = np.maximum(np.array([e["loss"] for e in r.history]) - optimum, floor)
            ax.plot(t, gap, marker="." if len(t) < 60 else None, label=f"{r.solver} ({r.status})")
        else:
            ax.plot([r.seconds], [max(r.loss - optimum, floor)], marker="o", linestyle="none",
                    label=f"{r.solver} (final, {r.status})")
    ax.axhline(1e-6 * optimum, color="grey", linewidth=0.8, linestyle=":", label="1e-6 x optimal loss")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlim(left=0)
    ax.set_yscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("loss - optimal loss")
    ax.set_title(f"{runs[0].problem}: distance to the optimum over time")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def newton_scaling_plot(runs: Sequence[Any], path: Path) -> Path:
    """Newton seconds against the number of records."""
    plt = _pyplot()
    runs = sorted(runs, key=lambda r: r.n)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r.n for r in runs], [r.seconds for r in runs], marker="o")
    for r in runs:
        ax.annotate(f"{r.seconds:.2f} s", (r.n, r.seconds), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("records n")
    ax.set_ylabel("seconds")
    ax.set_title(f"newton on synthetic problems, J = {runs[0].J}")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _log_histogram(values: np.ndarray, bins: np.ndarray, marks: Sequence[float], xlabel: str, title: str,
                   path: Path) -> Path:
    """A histogram on log-log axes with dashed vertical marks."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(values, bins=bins, color="#4878a8")
    for mark in marks:
        ax.axvline(mark, color="crimson", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("records")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def multiplier_histogram(m: np.ndarray, lower: float, upper: float, path: Path) -> Path:
    bins = np.logspace(np.log10(lower) - 0.05, np.log10(upper) + 0.05, 80)
    return _log_histogram(m, bins, (lower, upper), "multiplier m (log scale; dashed: bounds)",
                          f"{np.sum(m <= lower):,} at the lower bound, {np.sum(m >= upper):,} at the upper", path)


def target_fit_plot(groups: dict[str, np.ndarray], path: Path) -> Path:
    """|relative error| of every target, one strip per variable."""
    plt = _pyplot()
    names = sorted(groups)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    for k, name in enumerate(names):
        err = np.maximum(np.abs(groups[name]), 1e-12)
        ax.scatter(err, np.full(err.size, k), s=10, alpha=0.7)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("|relative error| of the fitted total")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def convergence_plot(stages: Sequence[dict[str, Any]], path: Path) -> Path:
    """Loss against iteration for each stage of the solver chain."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    final = min(min(e["loss"] for e in s["history"]) for s in stages if s.get("history"))
    for s in stages:
        if not s.get("history"):
            continue
        it = [e["iteration"] for e in s["history"]]
        gap = np.maximum(np.array([e["loss"] for e in s["history"]]) - final, 1e-16 * final)
        ax.plot(it, gap, label=s["method"])
    ax.set_yscale("log")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(left=0)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss - final loss")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ratio_histogram(ratio: np.ndarray, path: Path) -> Path:
    """Records by the sum over areas of their area weight / national weight (log scales)."""
    low, high = max(float(ratio.min()), 1e-3), max(float(ratio.max()), 1.01)
    return _log_histogram(np.clip(ratio, low, None), np.logspace(np.log10(low), np.log10(high), 80), (1.0,),
                          "sum over areas of area weight / national weight (log; dashed: 1)",
                          f"median {np.median(ratio):.3g}, max {ratio.max():.3g}", path)
