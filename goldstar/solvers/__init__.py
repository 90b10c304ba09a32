"""The solver registry: every method `goldstar.solve` knows, by name.

Each entry names its module (imported only when used), its option defaults,
and the optional packages it needs with the pip extra that installs them.
"""

from __future__ import annotations

from .base import (
    CONVERGED, FAILED, LIMIT_REACHED, SOLVERS, Solution, SolverSpec,
    available_solvers, get_solver, register,
)

NEWTON_DEFAULTS = {
    "tol": 1e-10,  # ||F||_inf threshold relative to max(1, ||c||_inf): method.md's rule
    "max_iter": 200,
    "rebuild_fraction": 0.5,  # rebuild H when more than this share of free records changed
    "y0": None,  # starting dual point (J values); None starts at y = 0, i.e. m = 1
    "time_limit": None,  # seconds; None for no cap
}

register(SolverSpec(
    name="newton",
    module="goldstar.solvers.newton",
    description="exact semismooth Newton on the dual (numpy/scipy, float64)",
    defaults=NEWTON_DEFAULTS,
))
register(SolverSpec(
    name="newton-torch",
    module="goldstar.solvers.newton_torch",
    description="the same dual Newton method on torch float64 tensors, CUDA or CPU",
    defaults={**NEWTON_DEFAULTS, "device": "auto"},  # device: 'auto' (CUDA when present), 'cpu', 'cuda:1'...
    requires=("torch",),
    extra="torch",
))
BAND_NEWTON_DEFAULTS = {
    "tol": 1e-10,  # inner ||G||_inf threshold (G is in target-relative units, O(1)); then the halving rule
    "outer_tol": 1e-10,  # prox loop: once ||w_{k+1} - w_k||_inf (G's units) is below this, stop when it fails to halve
    "mu": 1.0,  # prox weight on (w - w_k)^2 (band.md: mu = 1)
    "max_inner": 100,
    "max_outer": 100,
    "rebuild_fraction": 0.5,
    "x0": None,  # starting multipliers (n values); None starts at x = 1, y = 0
    "time_limit": None,
}
register(SolverSpec(
    name="band-newton",
    module="goldstar.solvers.band_newton",
    description="exact prox-point + dual semismooth Newton for the band objective (numpy/scipy)",
    defaults=BAND_NEWTON_DEFAULTS,
    objectives=("band",),
))
register(SolverSpec(
    name="band-newton-torch",
    module="goldstar.solvers.band_newton_torch",
    description="band-newton on torch float64 tensors, CUDA or CPU",
    defaults={**BAND_NEWTON_DEFAULTS, "device": "auto"},
    requires=("torch",),
    extra="torch",
    objectives=("band",),
))
register(SolverSpec(
    name="lbfgsb",
    module="goldstar.solvers.lbfgsb",
    description="scipy L-BFGS-B on the primal with the analytic gradient (TMD's notes)",
    defaults={
        "gtol": 1e-5,  # the notes' grad-norm tolerance
        "ftol": 0.0,  # no relative-reduction stop: only gtol or a cap ends the run
        "maxiter": 20000,
        "maxcor": 10,
        "time_limit": None,  # seconds; None for no cap
        "m0": None,  # starting multipliers (n values); None starts at m = 1
    },
    objectives=("penalized", "band"),
))
register(SolverSpec(
    name="torch-lbfgs",
    module="goldstar.solvers.torch_lbfgs",
    description="TMD's original torch L-BFGS with clamped multipliers (kept to show its flaw)",
    defaults={
        "grad_norm_tol": 1e-5,  # TMD's stopping rule
        "max_steps": 800,  # TMD's outer-step cap
        "max_iter": 20,  # L-BFGS iterations (line searches) per step
        "history_size": 10,
        "seed": 65748392,  # TMD's seed (the method is deterministic; kept for parity)
        "device": "auto",
        "time_limit": None,
    },
    requires=("torch",),
    extra="torch",
))
register(SolverSpec(
    name="osqp",
    module="goldstar.solvers.osqp_",
    description="OSQP (ADMM) on the augmented QP of the notes",
    defaults={"eps_abs": 1e-5, "eps_rel": 1e-5, "max_iter": 50000, "polish": True, "time_limit": None},
    requires=("osqp",),
    extra="qp",
))
register(SolverSpec(
    name="clarabel",
    module="goldstar.solvers.clarabel_",
    description="Clarabel (interior point) on the augmented QP",
    defaults={"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8, "max_iter": 200, "time_limit": None},
    requires=("clarabel",),
    extra="qp",
))

__all__ = [
    "CONVERGED", "FAILED", "LIMIT_REACHED", "SOLVERS", "Solution", "SolverSpec",
    "available_solvers", "get_solver", "register",
]
