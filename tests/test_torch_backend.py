"""newton-torch: the same algorithm on torch tensors; CPU here, CUDA when a GPU is present."""

from __future__ import annotations

import numpy as np
import pytest

from goldstar import InputError, solve
from goldstar.solvers import CONVERGED

torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'goldstar[torch]'")

# numpy and torch sum in different orders; at the optimum that moves m by
# ~1e-11 relative (docs/tolerances.md; 4e-11 measured), under the project's 1e-9 bar.
BACKEND_RTOL = 1e-9

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_torch_matches_numpy(medium, medium_solution, device):
    solution = solve(medium, "newton-torch", device=device)
    assert solution.status == CONVERGED, solution.message
    assert solution.device.startswith(device)
    np.testing.assert_allclose(solution.m, medium_solution.m, rtol=BACKEND_RTOL, atol=0)
    assert solution.loss == pytest.approx(medium_solution.loss, rel=1e-13)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_on_the_tiny_problem(tiny, device):
    a = solve(tiny, "newton")
    b = solve(tiny, "newton-torch", device=device)
    np.testing.assert_allclose(b.m, a.m, rtol=BACKEND_RTOL, atol=0)


def test_rebuild_every_iteration_gives_the_same_answer(medium, medium_solution):
    # rebuild_fraction 0 rebuilds H whenever any record changed status: the rank updates must not matter
    solution = solve(medium, "newton-torch", device="cpu", rebuild_fraction=0.0)
    np.testing.assert_allclose(solution.m, medium_solution.m, rtol=BACKEND_RTOL, atol=0)
    assert solution.options["hessian_rebuilds"] > 1


def test_bad_device_is_an_input_error(tiny):
    with pytest.raises(InputError, match="`device`"):
        solve(tiny, "newton-torch", device="tpu:7")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            solve(tiny, "newton-torch", device="cuda")
