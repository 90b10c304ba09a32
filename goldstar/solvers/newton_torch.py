"""`newton-torch`: the same dual Newton method on torch float64 tensors, on CUDA or CPU.

newton_core runs the identical steps; only the kernels differ. B and B^T are
torch sparse CSR tensors. H is built from the free records' rows of
G = diag(1/sqrt(lam)) B: on CUDA as dense blocks of rows multiplied with one
GEMM each (fast there), on CPU as a sparse product (a dense copy of 280K rows
would take seconds). Like the numpy kernels, H is updated by the records whose
status changed and rebuilt when many did.

Rounding differs from numpy's (other reduction orders, atomics on the GPU),
which at the exact optimum moves m by ~1e-11 relative: the verifier's rtol
of 1e-9 is met on every backend (docs/tolerances.md).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ..exceptions import InputError
from ..problem.model import Problem
from .base import ProgressFn, Solution
from .newton import dual_start, sign_split
from .newton_core import RIDGES, KernelBase, run_newton

# torch announces on first use that sparse CSR is in beta; goldstar's own tests
# check every result this backend gives, so the notice is noise to users.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled", category=UserWarning)

# Rows per dense block when H is built on CUDA: 65,536 rows x 550 targets in
# float64 is 290 MB, small next to any GPU and large enough to keep it busy.
_CUDA_BLOCK_ROWS = 65536


def resolve_device(name: str, option: str = "`device`") -> torch.device:
    """'auto' is CUDA when torch sees a GPU, else the CPU; otherwise `cpu` or `cuda[:N]` with N
    among the GPUs torch sees (the devices goldstar's torch kernels are tested on). InputError
    otherwise, naming the device as `option` (the option that gave it: `--device`, ...)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"{option} {name!r} is not a torch device ({exc}); give cpu, cuda, cuda:N or auto") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"{option} {name!r}: goldstar runs on cpu or cuda (cuda:N, or auto), not {device.type}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{option} {name!r} was asked for, but torch sees no CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"{option} {name!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return device


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"


def _csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: tuple[int, int],
         device: torch.device) -> torch.Tensor:
    return torch.sparse_csr_tensor(
        torch.as_tensor(indptr, dtype=torch.int64, device=device),
        torch.as_tensor(indices, dtype=torch.int64, device=device),
        torch.as_tensor(data, dtype=torch.float64, device=device),
        size=shape,
        check_invariants=False,
    )


class TorchKernels(KernelBase):
    """Sparse products and the generalized Jacobian H on torch tensors."""

    def __init__(self, B: Any, lam: np.ndarray, lower: float, upper: float, device: torch.device,
                 c: np.ndarray | None = None, rebuild_fraction: float = 0.5) -> None:
        """B: n x J scipy CSR, a record's row; lam: n positive record scales; c: J (penalized only)."""
        self.device = device
        BT = B.T.tocsr()
        self.B = _csr(B.indptr, B.indices, B.data, B.shape, device)
        self.BT = _csr(BT.indptr, BT.indices, BT.data, BT.shape, device)
        sign, mixed, absBT_mixed = sign_split(BT, lower)
        self.sign = torch.as_tensor(sign, dtype=torch.float64, device=device)
        self.mixed = torch.as_tensor(mixed, dtype=torch.int64, device=device)
        self.absBT_mixed = _csr(absBT_mixed.indptr, absBT_mixed.indices, absBT_mixed.data,
                                absBT_mixed.shape, device)
        self.lam = torch.as_tensor(lam, dtype=torch.float64, device=device)
        self.c = None if c is None else torch.as_tensor(c, dtype=torch.float64, device=device)
        self.lower = lower
        self.upper = upper
        self.J = B.shape[1]
        row_of_entry = np.repeat(np.arange(B.shape[0]), np.diff(B.indptr))
        self._indptr = torch.as_tensor(B.indptr, dtype=torch.int64, device=device)
        self._indices = torch.as_tensor(B.indices, dtype=torch.int64, device=device)
        self._bdata = torch.as_tensor(B.data, dtype=torch.float64, device=device)
        self._gdata = torch.as_tensor(
            B.data / np.sqrt(lam[row_of_entry]), dtype=torch.float64, device=device
        )
        self.rebuild_fraction = rebuild_fraction
        self.rebuilds = 0
        self.updates = 0

    @classmethod
    def penalized(cls, problem: Problem, device: torch.device, rebuild_fraction: float = 0.5) -> "TorchKernels":
        form = problem.penalized
        return cls(form.B, form.lam, problem.lower, problem.upper, device, c=form.c,
                   rebuild_fraction=rebuild_fraction)

    def _entries(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The positions in B's CSR arrays of the given rows' entries, and the rows' indptr."""
        starts = self._indptr[rows]
        counts = self._indptr[rows + 1] - starts
        indptr = torch.zeros(rows.numel() + 1, dtype=torch.int64, device=self.device)
        torch.cumsum(counts, 0, out=indptr[1:])
        total = int(indptr[-1])
        offsets = torch.arange(total, device=self.device) - torch.repeat_interleave(indptr[:-1], counts)
        return torch.repeat_interleave(starts, counts) + offsets, indptr

    def _rowsum(self, rows: torch.Tensor) -> torch.Tensor:
        entries, _ = self._entries(rows)
        out = torch.zeros(self.J, dtype=torch.float64, device=self.device)
        return out.index_add_(0, self._indices[entries], self._bdata[entries])

    def _rows(self, rows: torch.Tensor) -> torch.Tensor:
        """G restricted to the given rows, as a sparse CSR tensor."""
        entries, indptr = self._entries(rows)
        return torch.sparse_csr_tensor(
            indptr, self._indices[entries], self._gdata[entries], size=(rows.numel(), self.J),
            check_invariants=False,
        )

    def _gram(self, rows: torch.Tensor) -> torch.Tensor:
        if rows.numel() == 0:
            return torch.zeros((self.J, self.J), dtype=torch.float64, device=self.device)
        if self.device.type == "cuda":
            H = torch.zeros((self.J, self.J), dtype=torch.float64, device=self.device)
            for start in range(0, rows.numel(), _CUDA_BLOCK_ROWS):
                block = self._rows(rows[start:start + _CUDA_BLOCK_ROWS]).to_dense()
                H.addmm_(block.T, block)
            return H
        G = self._rows(rows)
        return (G.t().to_sparse_csr() @ G).to_dense()

    def _where(self, mask: torch.Tensor) -> torch.Tensor:
        return torch.nonzero(mask).flatten()

    def _identity(self) -> torch.Tensor:
        return torch.eye(self.J, dtype=torch.float64, device=self.device)

    def diag_matrix(self, v: torch.Tensor) -> torch.Tensor:
        return torch.diag(v)

    def vector(self, v: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(v, dtype=torch.float64, device=self.device)

    # array operations numpy and torch spell differently (band_core's line search)
    cat = staticmethod(torch.cat)
    minimum = staticmethod(torch.minimum)
    maximum = staticmethod(torch.maximum)

    @staticmethod
    def full(like: torch.Tensor, value: float) -> torch.Tensor:
        return torch.full_like(like, value)

    @staticmethod
    def solve(H: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        return cholesky_solve(H, rhs)


def cholesky_solve(H: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """H^-1 rhs for a symmetric positive semidefinite H on its device, by Cholesky, with the
    ridges of the numpy backends' cholesky_solve (goldstar.solvers.newton) when it fails."""
    L, info = torch.linalg.cholesky_ex(H)
    if int(info) == 0:
        return torch.cholesky_solve(rhs.unsqueeze(1), L).squeeze(1)
    scale = float(H.diagonal().abs().max()) or 1.0
    eye = torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    for ridge in RIDGES:
        L, info = torch.linalg.cholesky_ex(H + (ridge * scale) * eye)
        if int(info) == 0:
            return torch.cholesky_solve(rhs.unsqueeze(1), L).squeeze(1)
    return torch.linalg.solve(H, rhs)


def run(problem: Problem, options: dict[str, Any], progress: ProgressFn | None) -> Solution:
    device = resolve_device(str(options["device"]))
    k = TorchKernels.penalized(problem, device, rebuild_fraction=float(options["rebuild_fraction"]))
    y0 = np.zeros(problem.J) if options["y0"] is None else dual_start(options["y0"], problem.J)
    return run_newton(
        k, torch.as_tensor(y0, dtype=torch.float64, device=device), options, progress, "newton-torch",
        to_numpy=lambda x: x.cpu().numpy(), device=describe_device(device),
    )
