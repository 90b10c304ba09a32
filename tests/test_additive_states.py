"""The joint certificate on the 51 states (goldstar.areas.joint, goldstar.certificate.additive),
from the separate solves' optimum committed in reference/areas.

The separate optimum is the joint optimum under a cap above every record's separate sum (the cap
binds nowhere, so the joint problem is the separate problems side by side): the certificate must
pass it at its own thresholds (1e-9 fixed point, 1e-12 x Q gap, 1e-12 coupling). Under a cap
below some record's sum, or under the additive coupling, the same weights break the coupling;
and rescaling each record's weights to sum to its national weight meets the coupling but is not
the joint optimum, so the fixed point and the gap must fail it (the rescaled fit also leaves some
hard bands, which the certificate says too).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from goldstar.areas import command
from goldstar.areas.joint import JointProblem, joint_problem, separate_duals
from goldstar.certificate.additive import certify_joint
from goldstar.cli import build_parser
from goldstar.exceptions import InputError
from goldstar.solvers.additive_core import ADDITIVE, EXHAUSTION, uncoupled_x

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "areas"


@pytest.fixture(scope="module")
def states() -> JointProblem:
    args = build_parser().parse_args(["areas", "--areas", "states", "--out", "unused"])
    national, areas, settings, _, _ = command.batch_inputs(args, "states")
    return joint_problem(national, areas, settings)


@pytest.fixture(scope="module")
def separate(states: JointProblem) -> tuple[np.ndarray, np.ndarray]:
    y = separate_duals(states, REFERENCE)
    return uncoupled_x(states.data, y), y


def certify(problem: JointProblem, X: np.ndarray, y: np.ndarray, **coupling):
    data = dataclasses.replace(problem.data, **coupling)
    return certify_joint(data, problem.l, problem.u, problem.stages[-1], X, y, record_ids=problem.record_ids,
                         areas=problem.areas, names=problem.targets)


def failed(cert) -> set[str]:
    return {check.name for check in cert.checks() if not check.passed}


def test_the_joint_problem_is_every_states_own(states: JointProblem):
    data = states.data
    assert (data.K, data.N) == (51, int(data.kept.sum())) and len(states.targets) == data.N
    assert abs(data.shares.sum() - 1.0) < 1e-15
    assert all(stage.shape == (data.N,) for stage in states.stages)


def test_a_cap_above_every_separate_sum_certifies_the_separate_optimum(states, separate):
    X, y = separate
    sums = (X * states.data.shares).sum(axis=1)
    top = float(sums.max())
    assert top > 2.0  # the states overlap: some record is used more than twice over
    cert = certify(states, X, y, mode=EXHAUSTION, bound=np.nextafter(top, np.inf) * (1 + 1e-12))
    assert cert.passed, cert.failures()
    below = certify(states, X, y, mode=EXHAUSTION, bound=2.0)
    assert failed(below) >= {"coupling"}
    worst = states.record_ids[int(np.argmax(sums))]
    assert below.coupling_record_id == worst


def test_weights_rescaled_to_add_up_are_not_the_joint_optimum(states, separate):
    X, y = separate
    data = states.data
    assert "coupling" in failed(certify(states, X, y, mode=ADDITIVE, bound=1.0))
    rescaled = X / (X * data.shares).sum(axis=1, keepdims=True)
    cert = certify(states, rescaled, y, mode=ADDITIVE, bound=1.0)
    assert cert.coupling_residual <= 1e-12
    assert failed(cert) >= {"fixed-point error", "duality gap"} and "coupling" not in failed(cert)


def test_the_separate_duals_must_cover_every_kept_target(states):
    with pytest.raises(InputError, match="no duals for area ZZ"):
        separate_duals(dataclasses.replace(states, areas=states.areas[:-1] + ["ZZ"]), REFERENCE)
    kept = states.data.kept.copy()
    assert not kept[0].all()  # the first state drops a target in its pre-pass
    kept[0] = True
    wider = dataclasses.replace(states, data=dataclasses.replace(states.data, kept=kept))
    with pytest.raises(InputError, match=f"area {states.areas[0]} has no dual for target"):
        separate_duals(wider, REFERENCE)
