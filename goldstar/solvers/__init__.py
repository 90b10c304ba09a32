"""The solver registry: every method `goldstar.solve` knows, by name.

Each entry names its module (imported only when used), its option defaults,
and the optional packages it needs with the pip extra that installs them.
"""

from __future__ import annotations

from .base import (
    CONVERGED, FAILED, LIMIT_REACHED, SOLVERS, Solution, SolverSpec,
    available_solvers, get_solver, register,
)

register(SolverSpec(
    name="newton",
    module="goldstar.solvers.newton",
    description="exact semismooth Newton on the dual (numpy/scipy, float64)",
    defaults={
        "tol": 1e-10,  # ||F||_inf threshold relative to max(1, ||c||_inf): method.md's rule
        "max_iter": 200,
        "rebuild_fraction": 0.5,  # rebuild H when more than this share of free records changed
        "y0": None,  # starting dual point (J values); None starts at y = 0, i.e. m = 1
        "time_limit": None,  # seconds; None for no cap
    },
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
))

__all__ = [
    "CONVERGED", "FAILED", "LIMIT_REACHED", "SOLVERS", "Solution", "SolverSpec",
    "available_solvers", "get_solver", "register",
]
