"""The joint method's Newton systems factored by torch, on CUDA or the CPU.

additive_core's loop spends about a quarter of its time on the 51 states (goldstar-69, 3,493 kept
targets, 2 cores) in one kernel: the Cholesky factor of the N x N Newton matrix, once a Newton
step; at N = 8,925 (TMD's 175-target state spec) the factor costs about 17x the flops and the share
grows. That kernel moves to a torch device here; the state, the line search and the matrix's
assembly stay numpy's (they are sparse and per-record work). The matrix goes to the device and
the direction comes back once a step: N^2 float64 out, N back.

Rounding differs from scipy's factor by reduction order: the direction moves in its last bits,
the exact line search and the loop's own convergence test absorb it, and the certificate judges
the answer as it does numpy's (docs/additive.md, "Devices").
"""

from __future__ import annotations

from functools import partial
import numpy as np
import torch

from .additive_core import Factoring, JointData, JointKernels
from .newton_torch import cholesky_solve, describe_device, resolve_device


class TorchJointKernels(JointKernels):
    """JointKernels whose `solve` factors on a torch device."""

    def __init__(self, data: JointData, device: torch.device):
        super().__init__(data)
        self.device = device

    def solve(self, H: np.ndarray, rhs: np.ndarray) -> np.ndarray:  # type: ignore[override]
        on = torch.as_tensor(H, dtype=torch.float64, device=self.device)
        return cholesky_solve(on, torch.as_tensor(rhs, dtype=torch.float64, device=self.device)).cpu().numpy()


def device_kernels(name: str, option: str) -> Factoring:
    """The factoring on the torch device `name` ('cuda', 'cpu', 'auto', 'cuda:1', ...);
    InputError for a device torch cannot use, naming it as `option` (the option that gave it;
    newton_torch.resolve_device)."""
    device = resolve_device(name, option)
    return Factoring(partial(TorchJointKernels, device=device), f"torch, {describe_device(device)}")
