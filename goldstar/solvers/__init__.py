"""The solver registry: every method `goldstar.solvers.solve` knows, by name.

Each entry names its module (imported only when used), its options, and the
optional packages it needs with the pip extra that installs them. An option
is an `Option(default, kind, low, high, allow_none=...)` (goldstar.solvers.base):
goldstar.solvers.solve checks every value against it before the solver runs. A bare
default is allowed too and is checked by its type only, so give new options
an Option with their range.
"""

from __future__ import annotations

from .base import (
    CONVERGED, FAILED, LIMIT_REACHED, SOLVERS, Option, Solution, SolverSpec,
    available_solvers, defaults_of, get_solver, register,
)

# The exact solver of each objective, by backend: what `goldstar.solvers.solve` and `goldstar solve` use
# when no method is named, what `goldstar verify` recomputes with, what `make goldstar` polishes with.
EXACT_SOLVERS = {
    "numpy": {"penalized": "newton", "band": "band-newton"},
    "torch": {"penalized": "newton-torch", "band": "band-newton-torch"},
}

POSITIVE = {"low": 0.0, "low_open": True}  # a number > 0
TIME_LIMIT = Option(None, "float", allow_none=True, **POSITIVE)  # seconds; None for no cap
DEVICE = Option("auto", "str")  # 'auto' (CUDA when present), 'cpu', 'cuda:1'...; the solver resolves it

NEWTON_OPTIONS = {
    # threshold on ||F|| relative to the size of its terms (newton_core), then docs/penalized.md's halving rule
    "tol": Option(1e-10, "float", **POSITIVE),
    "max_iter": Option(200, "int", low=1),
    # rebuild H when more than this share of free records changed
    "rebuild_fraction": Option(0.5, "float", low=0.0, high=1.0),
    # starting dual point (J values); None starts at y = 0, i.e. m = 1
    "y0": Option(None, "vector", allow_none=True),
    "time_limit": TIME_LIMIT,
}
NEWTON_DEFAULTS = defaults_of(NEWTON_OPTIONS)

register(SolverSpec(
    name="newton",
    module="goldstar.solvers.newton",
    description="exact semismooth Newton on the dual (numpy/scipy, float64)",
    defaults=NEWTON_OPTIONS,
))
register(SolverSpec(
    name="newton-torch",
    module="goldstar.solvers.newton_torch",
    description="the same dual Newton method on torch float64 tensors, CUDA or CPU",
    defaults={**NEWTON_OPTIONS, "device": DEVICE},
    requires=("torch",),
    extra="torch",
))
BAND_NEWTON_OPTIONS = {
    # inner threshold on max_j |G_j| relative to the size of its terms (band_core); then the halving rule
    "tol": Option(1e-10, "float", **POSITIVE),
    # prox loop: once ||w_{k+1} - w_k||_inf (G's units) is below this, stop when it fails to halve
    "outer_tol": Option(1e-10, "float", **POSITIVE),
    "mu": Option(1.0, "float", **POSITIVE),  # prox weight on (w - w_k)^2 (docs/band.md: mu = 1)
    "max_inner": Option(1000, "int", low=1),  # a guard: ill-conditioned subproblems took 207 (a 3,000-record slice)
    "max_outer": Option(300, "int", low=1),
    "rebuild_fraction": Option(0.5, "float", low=0.0, high=1.0),
    # starting multipliers (n values); None starts at x = 1, y = 0
    "x0": Option(None, "vector", allow_none=True),
    "time_limit": TIME_LIMIT,
}
register(SolverSpec(
    name="band-newton",
    module="goldstar.solvers.band_newton",
    description="exact prox-point + dual semismooth Newton for the band objective (numpy/scipy)",
    defaults=BAND_NEWTON_OPTIONS,
    objectives=("band",),
))
register(SolverSpec(
    name="band-newton-torch",
    module="goldstar.solvers.band_newton_torch",
    description="band-newton on torch float64 tensors, CUDA or CPU",
    defaults={**BAND_NEWTON_OPTIONS, "device": DEVICE},
    requires=("torch",),
    extra="torch",
    objectives=("band",),
))
register(SolverSpec(
    name="lbfgsb",
    module="goldstar.solvers.lbfgsb",
    description="scipy L-BFGS-B on the primal with the analytic gradient (TMD's notes)",
    defaults={
        "gtol": Option(1e-5, "float", low=0.0),  # the notes' grad-norm tolerance
        # no relative-reduction stop: only gtol or a cap ends the run
        "ftol": Option(0.0, "float", low=0.0),
        "maxiter": Option(20000, "int", low=1),
        "maxcor": Option(10, "int", low=1),
        "time_limit": TIME_LIMIT,
        # starting multipliers (n values); None starts at m = 1
        "m0": Option(None, "vector", allow_none=True),
    },
    objectives=("penalized", "band"),
))
register(SolverSpec(
    name="torch-lbfgs",
    module="goldstar.solvers.torch_lbfgs",
    description="TMD's original torch L-BFGS with clamped multipliers (kept to show its flaw)",
    defaults={
        "grad_norm_tol": Option(1e-5, "float", low=0.0),  # TMD's stopping rule
        "max_steps": Option(800, "int", low=1),  # TMD's outer-step cap
        "max_iter": Option(20, "int", low=1),  # L-BFGS iterations (line searches) per step
        "history_size": Option(10, "int", low=1),
        # TMD's seed (the method is deterministic; kept for parity); torch takes 0 .. 2**64 - 1
        "seed": Option(65748392, "int", low=0, high=2.0**64 - 1),
        "device": DEVICE,
        "time_limit": TIME_LIMIT,
    },
    requires=("torch",),
    extra="torch",
))
register(SolverSpec(
    name="osqp",
    module="goldstar.solvers.osqp_",
    description="OSQP (ADMM) on the augmented QP of the notes",
    defaults={
        "eps_abs": Option(1e-5, "float", low=0.0),
        "eps_rel": Option(1e-5, "float", low=0.0),
        "max_iter": Option(50000, "int", low=1),
        "polish": Option(True, "bool"),
        "time_limit": TIME_LIMIT,
    },
    requires=("osqp",),
    extra="qp",
))
# Clarabel's options, the same on both objectives' QPs (clarabel-tmd changes four below)
CLARABEL_OPTIONS = {
    "tol_gap_abs": Option(1e-8, "float", **POSITIVE),
    "tol_gap_rel": Option(1e-8, "float", **POSITIVE),
    "tol_feas": Option(1e-8, "float", **POSITIVE),
    "max_iter": Option(200, "int", low=1),
    "time_limit": TIME_LIMIT,
}
register(SolverSpec(
    name="clarabel",
    module="goldstar.solvers.clarabel_",
    description="Clarabel (interior point) on the augmented QP",
    defaults=dict(CLARABEL_OPTIONS),
    requires=("clarabel",),
    extra="qp",
))
register(SolverSpec(
    name="clarabel-band",
    module="goldstar.solvers.clarabel_band",
    description="Clarabel on the band objective, slack explicit (D = I relative, diag(1/ts) target units)",
    defaults=dict(CLARABEL_OPTIONS),
    requires=("clarabel",),
    extra="qp",
    objectives=("band",),
))
register(SolverSpec(
    name="clarabel-tmd",
    module="goldstar.solvers.clarabel_band",
    description="Clarabel with TMD's settings (1e-7 tolerances, 1000 iterations) on TMD's construction",
    defaults={**CLARABEL_OPTIONS, "tol_gap_abs": Option(1e-7, "float", **POSITIVE),
              "tol_gap_rel": Option(1e-7, "float", **POSITIVE), "tol_feas": Option(1e-7, "float", **POSITIVE),
              "max_iter": Option(1000, "int", low=1)},
    requires=("clarabel",),
    extra="qp",
    objectives=("band",),
))

__all__ = [
    "CONVERGED", "FAILED", "LIMIT_REACHED", "SOLVERS", "Option", "Solution", "SolverSpec",
    "available_solvers", "defaults_of", "get_solver", "register",
]
