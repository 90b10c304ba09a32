"""`torch-lbfgs`: TMD's original solver, kept with its flaw so that its behaviour can be shown.

torch.optim.LBFGS on the multipliers, the loss evaluated at
clamp(m, lower, upper) with autograd, float64, on CPU or GPU, stopped when
the gradient norm falls below `grad_norm_tol` or after `max_steps` outer
steps (TMD: 1e-5 and 800). The clamp makes the loss flat outside the bounds,
so records that wander past a bound get a zero gradient and stay where the
reduction order happened to leave them: the CPU/GPU disagreement of the
notes. Do not use it for weights; compare against it.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch

from ..problem.model import Problem
from .base import CONVERGED, LIMIT_REACHED, ProgressFn, Solution
from .newton_torch import describe_device, resolve_device

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled", category=UserWarning)


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    start = time.perf_counter()
    device = resolve_device(str(options["device"]))
    torch.manual_seed(int(options["seed"]))
    BT = problem.penalized.B.T.tocoo()
    BT_t = torch.sparse_coo_tensor(
        torch.as_tensor(np.vstack([BT.row, BT.col]), dtype=torch.int64),
        torch.as_tensor(BT.data, dtype=torch.float64), size=BT.shape, check_invariants=False,
    ).coalesce().to(device)
    c = torch.as_tensor(problem.penalized.c, dtype=torch.float64, device=device)
    lam = torch.as_tensor(problem.penalized.lam, dtype=torch.float64, device=device)
    m = torch.ones(problem.n, dtype=torch.float64, device=device, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [m], max_iter=int(options["max_iter"]), history_size=int(options["history_size"]),
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        mc = torch.clamp(m, problem.lower, problem.upper)
        r = torch.sparse.mm(BT_t, mc.unsqueeze(1)).squeeze(1) - c
        loss = (r * r).sum() + (lam * (mc - 1.0) ** 2).sum()
        loss.backward()
        return loss

    history: list[dict[str, float]] = []
    status, message = LIMIT_REACHED, f"stopped after max_steps={options['max_steps']} steps"
    steps = 0
    limit = options["time_limit"]
    for steps in range(1, int(options["max_steps"]) + 1):
        loss = optimizer.step(closure).detach()
        grad_norm = float(m.grad.norm()) if m.grad is not None else float("inf")
        entry = {"iteration": steps, "seconds": time.perf_counter() - start, "loss": float(loss),
                 "grad_norm": grad_norm}
        history.append(entry)
        if progress is not None:
            progress(entry)
        if grad_norm < float(options["grad_norm_tol"]):
            status, message = CONVERGED, f"gradient norm {grad_norm:.3g} < {options['grad_norm_tol']}"
            break
        if limit is not None and entry["seconds"] > limit:
            message = f"time limit {limit} s reached after {steps} steps"
            break
    m_final = torch.clamp(m.detach(), problem.lower, problem.upper).cpu().numpy()
    return Solution(
        method="torch-lbfgs", m=m_final, y=None, loss=float("nan"), pg=float("nan"),
        iterations=steps, seconds=time.perf_counter() - start, status=status, message=message,
        history=history, options=dict(options), device=describe_device(device),
    )
