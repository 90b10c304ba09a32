"""The joint method with its Newton systems factored by torch (goldstar.solvers.additive_torch):
the same certified optimum as numpy's, on the CPU here and on CUDA where torch sees a GPU.

The tolerance: the joint optimum is unique (Q is 2-strongly convex in x) and both runs end at the
float64 floor, certified; the factors differ only in rounding (reduction order), which moves the
directions in their last bits and the answers by ~1e-12 (1.5e-12 on the 51 states), so they agree
as any two solves of the same problems must to pass `goldstar areas --verify --mode recompute`:
|x - x_ref| <= RECOMPUTE_RTOL max(|x_ref|, 1) (goldstar.verify.multiplier_difference)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from goldstar.exceptions import InputError  # noqa: E402
from goldstar.solvers import additive_torch  # noqa: E402
from goldstar.solvers.additive_core import ADDITIVE, EXHAUSTION, run_joint  # noqa: E402
from goldstar.verify import RECOMPUTE_RTOL, multiplier_difference  # noqa: E402
from tests.test_additive_core import OPTIONS, certify, reachable, small  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("problem", ["reachable", "capped"])
def test_the_newton_systems_factored_by_torch_give_numpys_certified_optimum(device, problem, monkeypatch):
    if problem == "reachable":  # 20 areas x 20 cells, hard bands every coupled x can meet
        data, l, u = reachable()
        rho = np.full(data.N, 1e8)
        assert data.mode == ADDITIVE
    else:
        data, l, u, rho = small(mode=EXHAUSTION, bound=1.05, n=300, J=8, K=6, spread=0.2)
    factored = []
    solve = additive_torch.TorchJointKernels.solve

    def counted(self, H, rhs):
        factored.append(H.shape[0])
        return solve(self, H, rhs)

    monkeypatch.setattr(additive_torch.TorchJointKernels, "solve", counted)
    kernels, where = additive_torch.device_kernels(device, "--device")
    assert where.startswith(f"torch, {device}")
    on_numpy = run_joint(data, l, u, [rho], OPTIONS)
    on_torch = run_joint(data, l, u, [rho], OPTIONS, kernels=kernels)
    assert on_numpy.status == 0 and on_torch.status == 0, (on_numpy.message, on_torch.message)
    assert len(factored) == on_torch.inner > 0  # every Newton step's system, and only those, on the device
    assert set(factored) == {data.N}
    for result in (on_numpy, on_torch):
        cert = certify(data, l, u, rho, result.x, result.y)
        assert cert.passed, cert.failures()
    assert multiplier_difference(on_torch.x, on_numpy.x) <= RECOMPUTE_RTOL


def test_a_device_torch_cannot_use_is_bad_input():
    with pytest.raises(InputError, match="is not a torch device"):
        additive_torch.device_kernels("tpu9", "--device")
    for other in ("meta", "mps", "xpu"):  # parsed by torch, not run on by goldstar
        with pytest.raises(InputError, match="goldstar runs on cpu or cuda"):
            additive_torch.device_kernels(other, "--device")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="torch sees no CUDA device"):
            additive_torch.device_kernels("cuda", "--device")


def test_auto_is_cuda_where_torch_sees_a_gpu_else_the_cpu():
    _, where = additive_torch.device_kernels("auto", "--device")
    assert where.startswith("torch, cuda" if torch.cuda.is_available() else "torch, cpu")


def test_a_missing_torch_is_said_for_the_joint_device(monkeypatch):
    from goldstar.areas.joint_run import JOINT_DEVICE, joint_kernels

    monkeypatch.setitem(sys.modules, "goldstar.solvers.additive_torch", None)  # import fails as without torch
    with pytest.raises(InputError, match="--joint-device 'cuda': .* torch, which is not installed"):
        joint_kernels("cuda", JOINT_DEVICE)
    kernels, where = joint_kernels(None, JOINT_DEVICE)
    assert where == "numpy" and kernels.__name__ == "JointKernels"



@pytest.mark.parametrize("device, says", [
    ("tpu9", "--device 'tpu9' is not a torch device"),
    ("meta", "goldstar runs on cpu or cuda"),
    ("cpu", "no finished separate solve of AL, AK, AZ, AR, CA ... with these inputs; run `goldstar areas"),
])
def test_the_device_check_names_what_it_lacks_and_exits_2(tmp_path, monkeypatch, capsys, device, says):
    from tests.areas_helpers import load_script

    script = load_script("device_check_joint")
    monkeypatch.setattr(sys, "argv", ["device_check_joint.py", str(tmp_path), "--device", device,
                                      "--out", str(tmp_path / "figures.json")])
    assert script.main() == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "figures.json").exists()


def test_the_device_check_refuses_a_batch_that_is_not_a_directory(tmp_path, monkeypatch, capsys):
    from tests.areas_helpers import load_script

    script = load_script("device_check_joint")
    batch = tmp_path / "batch.txt"
    batch.write_text("not a batch\n")
    monkeypatch.setattr(sys, "argv", ["device_check_joint.py", str(batch), "--device", "cpu",
                                      "--out", str(tmp_path / "figures.json")])
    assert script.main() == 2
    assert f"{batch}: not a directory; give the --out of a finished states batch" in capsys.readouterr().err
    assert batch.read_text() == "not a batch\n" and not (tmp_path / "figures.json").exists()


def test_the_device_check_refuses_a_compact_reference_for_a_batch(tmp_path, monkeypatch, capsys):
    from tests.areas_helpers import load_script

    script = load_script("device_check_joint")
    monkeypatch.setattr(sys, "argv", ["device_check_joint.py", "reference/areas-additive", "--device", "cpu",
                                      "--out", str(tmp_path / "figures.json")])
    assert script.main() == 2
    assert "reference/areas-additive: a compact areas reference, not a batch" in capsys.readouterr().err


def test_the_device_check_reads_the_national_reference_it_is_given(tmp_path, monkeypatch, capsys):
    from tests.areas_helpers import load_script

    script = load_script("device_check_joint")
    elsewhere = tmp_path / "no-reference"
    monkeypatch.setattr(sys, "argv", ["device_check_joint.py", str(tmp_path), "--device", "cpu", "--reference",
                                      str(elsewhere), "--out", str(tmp_path / "figures.json")])
    assert script.main() == 2
    assert f"--reference {elsewhere}" in capsys.readouterr().err
    assert not (tmp_path / "figures.json").exists()


def test_the_device_check_refuses_an_out_it_could_not_write_before_solving(tmp_path, monkeypatch, capsys):
    from tests.areas_helpers import load_script

    script = load_script("device_check_joint")
    for out in (tmp_path, tmp_path / "missing" / "figures.json"):
        monkeypatch.setattr(sys, "argv", ["device_check_joint.py", str(tmp_path), "--device", "cpu", "--out", str(out)])
        assert script.main() == 2
        assert "give a file in an existing directory" in capsys.readouterr().err
    # a directory that exists but takes no new file (as /proc): refused, not found out after the solves
    if Path("/proc").is_dir():
        monkeypatch.setattr(sys, "argv", ["device_check_joint.py", str(tmp_path), "--device", "cpu", "--out",
                                          "/proc/figures.json"])
        assert script.main() == 2
        assert "--out /proc/figures.json: cannot be written" in capsys.readouterr().err
    # an existing file is checked without being changed
    kept = tmp_path / "kept.json"
    kept.write_text("{}\n")
    monkeypatch.setattr(sys, "argv", ["device_check_joint.py", str(tmp_path / "no-batch"), "--device", "cpu",
                                      "--out", str(kept)])
    assert script.main() == 2
    assert kept.read_text() == "{}\n"


def test_the_device_check_outside_the_repository_asks_for_the_reference(tmp_path, monkeypatch, capsys):
    from tests.areas_helpers import load_script

    script = load_script("device_check_joint")
    batch = tmp_path / "batch"
    batch.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["device_check_joint.py", str(batch), "--device", "cpu",
                                      "--out", str(tmp_path / "figures.json")])
    assert script.main() == 2
    assert "run from the repository root, or give the batch's national reference with --reference DIR" in \
        capsys.readouterr().err
