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
import os
from pathlib import Path

import numpy as np
import pytest

from goldstar.areas import command
from goldstar.areas.joint import JointProblem, aggregate_conflicts, joint_problem, joint_shares, separate_duals
from goldstar.areas.problem import kept_area_problem
from goldstar.certificate.additive import certify_joint
from goldstar.cli import build_parser
from goldstar.exceptions import InputError
from goldstar.solvers.additive_core import ADDITIVE, EXHAUSTION, uncoupled_x

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference" / "areas"


@pytest.fixture(scope="module", autouse=True)
def arrays_on_heap():
    """As the joint command does (goldstar.areas.joint_run.JOINT_HEAP_BYTES): the certificate's
    n x K and N x N arrays reuse heap memory instead of fresh pages."""
    from goldstar.areas.joint_run import JOINT_HEAP_BYTES
    from goldstar.areas.memory import keep_arrays_on_heap

    keep_arrays_on_heap(JOINT_HEAP_BYTES)


@pytest.fixture(scope="module")
def batch():
    """The states batch's inputs as `goldstar areas --areas states` reads them (its default
    national reference is a path in the repository)."""
    here = os.getcwd()
    os.chdir(REPO)
    try:
        args = build_parser().parse_args(["areas", "--areas", "states", "--out", "unused"])
        return command.batch_inputs(args, "states")[:4]
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def states(batch) -> JointProblem:
    return joint_problem(*batch)


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


@pytest.mark.parametrize("area", ["CA", "WY"])
def test_the_joint_problem_holds_each_states_own_band_problem(batch, states: JointProblem, area: str):
    national, areas, settings, _ = batch
    a = states.areas.index(area)
    spec, s = areas[a], settings[a]
    form = kept_area_problem(national, spec, s).form
    rows = slice(int(states.data.kept[:a].sum()), int(states.data.kept[: a + 1].sum()))
    assert np.array_equal(np.flatnonzero(states.data.kept[a]), np.asarray(form.kept))
    assert np.array_equal(states.l[rows], form.l) and np.array_equal(states.u[rows], form.u)
    own = form.rho_stages()
    assert len(states.stages) == len(own)
    assert all(np.array_equal(joint[rows], stage) for joint, stage in zip(states.stages, own))
    assert states.data.shares[a] == spec.pop_share / np.array([other.pop_share for other in areas]).sum()


def test_a_cap_below_one_or_a_box_off_zero_is_refused(batch):
    national, areas, settings, hashes = batch
    with pytest.raises(ValueError, match="the 50 areas' population shares sum to 0.99.*not 1"):
        joint_problem(national, areas[:-1], settings[:-1], hashes[:-1])  # additive over a subset
    assert np.array_equal(joint_shares(areas[:-1], additive=False), [spec.pop_share for spec in areas[:-1]])
    for cap in (0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="max_exhaustion"):
            joint_problem(national, areas, settings, hashes, max_exhaustion=cap)
    raised = [dataclasses.replace(settings[0], lower=0.1)] + list(settings[1:])
    with pytest.raises(ValueError, match=f"area {areas[0].name}: lower 0.1"):
        joint_problem(national, areas, raised, hashes)


def test_a_cap_above_every_separate_sum_certifies_the_separate_optimum(states, separate):
    X, y = separate
    sums = (X * states.data.shares).sum(axis=1)
    top = float(sums.max())
    assert top > 2.0  # the states overlap: some record is used more than twice over
    # just above the largest sum: the coupling check allows 1e-12 of a record's weight, and the
    # sum of 51 rounded products is within ~1e-14 of the exact one
    cert = certify(states, X, y, mode=EXHAUSTION, bound=top * (1 + 1e-12))
    assert cert.passed, cert.failures()
    below = certify(states, X, y, mode=EXHAUSTION, bound=2.0)
    assert failed(below) >= {"coupling"}
    worst = states.record_ids[int(np.argmax(sums))]
    assert below.coupling_record_id == worst


def test_weights_rescaled_to_add_up_are_not_the_joint_optimum(states, separate):
    X, y = separate
    data = states.data
    assert np.abs((X * data.shares).sum(axis=1) - 1.0).max() > 1e-12  # the separate optimum breaks it
    rescaled = X / (X * data.shares).sum(axis=1, keepdims=True)
    cert = certify(states, rescaled, y, mode=ADDITIVE, bound=1.0)
    assert cert.coupling_residual <= 1e-12
    assert failed(cert) >= {"fixed-point error", "duality gap"} and "coupling" not in failed(cert)


def test_separate_duals_from_other_inputs_or_targets_are_refused(states):
    with pytest.raises(InputError, match="area ZZ: not in the reference"):
        separate_duals(dataclasses.replace(states, areas=states.areas[:-1] + ["ZZ"]), REFERENCE)
    other = dataclasses.replace(states, input_hashes=["0" * 16] + states.input_hashes[1:])
    with pytest.raises(InputError, match=f"area {states.areas[0]}: input hash 0+ differs from the recorded"):
        separate_duals(other, REFERENCE)
    renamed = dataclasses.replace(states, cells=states.cells[:-1] + ["renamed"])
    with pytest.raises(InputError, match="rows in duals.parquet are not the .* targets in the national order"):
        separate_duals(renamed, REFERENCE)
    kept = states.data.kept.copy()
    assert not kept[0].all()  # the first state drops a target in its pre-pass
    kept[0] = True
    wider = dataclasses.replace(states, data=dataclasses.replace(states.data, kept=kept))
    with pytest.raises(InputError, match=f"area {states.areas[0]}'s pre-pass here keeps target .* has no dual"):
        separate_duals(wider, REFERENCE)
    kept[0, np.flatnonzero(states.data.kept[0])[0]] = False
    kept[0, ~states.data.kept[0]] = False
    narrower = dataclasses.replace(states, data=dataclasses.replace(states.data, kept=kept))
    with pytest.raises(InputError, match="drops target .* has a dual for it"):
        separate_duals(narrower, REFERENCE)


def test_the_states_bands_add_up_to_totals_the_coupled_records_reach(states: JointProblem):
    """Each state's target of a cell is its share of the national weighted total, so every cell's
    bands add up around that total: no aggregate conflict under the coupling or a cap of 1; with
    every state's bands of a cell moved up by 1% together, that cell is named."""
    assert aggregate_conflicts(states) == []
    assert aggregate_conflicts(dataclasses.replace(states, data=dataclasses.replace(
        states.data, mode=EXHAUSTION, bound=1.0))) == []
    cell = int(np.flatnonzero(states.data.kept.all(axis=0))[0])  # a cell every state keeps
    first = np.zeros(states.data.kept.shape)
    first[:, cell] = 1.0
    moved = 1.0 + 0.01 * first[states.data.kept]
    out = aggregate_conflicts(dataclasses.replace(states, l=states.l * moved, u=states.u * moved))
    assert len(out) == 1 and out[0].startswith(f"{states.cells[cell]}: the bands of its 51 areas")


def test_the_states_bands_need_more_of_some_filing_statuses_than_the_records_hold(states: JointProblem):
    """Through nested cells the totals do show conflicts: the states that keep an AGI range's
    returns of every status and of single, joint and head-of-household filers need, in sum, more
    returns of the other statuses than the whole national file holds. So under the additive
    coupling (and a cap of 1) no weights meet every band and nothing is solved; under a cap of 2
    the records may count twice, and the same bands fit."""
    from goldstar.areas.joint import coupling_conflicts, nested_conflicts

    out = nested_conflicts(states)
    stubs = [line.split(" less ")[0] for line in out]
    assert "c00100/cnt=1/scope=1/agi=[75000.0,100000.0)/fs=0" in stubs
    assert "c00100/cnt=1/scope=1/agi=[100000.0,200000.0)/fs=0" in stubs
    for line in out:  # each: the areas' lower band ends add up above the most the records reach
        need_lo = float(line.split("add up to [")[1].split(",")[0])
        reach_hi = float(line.split("reach [")[1].rstrip("]").split(", ")[1])
        assert need_lo > reach_hi
    everything = coupling_conflicts(states)
    assert everything[:len(out)] == out
    # and one the nested test does not see: the returns of AGI $50K to $75K, counted by their own
    # bands in the states that keep them and by their single, joint and head-of-household
    # returns' bands where those bound them more, need more than the records hold
    cell = "c00100/cnt=1/scope=1/agi=[50000.0,75000.0)/fs=0"
    family = [line for line in everything[len(out):] if line.startswith(f"{cell} by its own bands in ")]
    assert cell not in stubs
    assert len(family) == 1
    need = float(family[0].split("need at least ")[1].split(",")[0])
    reach = float(family[0].split("reach at most ")[1].split(" (rounding margin ")[0])
    assert need > reach
    capped = dataclasses.replace(states, data=dataclasses.replace(states.data, mode=EXHAUSTION, bound=1.0))
    assert nested_conflicts(capped) == out
    twice = dataclasses.replace(states, data=dataclasses.replace(states.data, mode=EXHAUSTION, bound=2.0))
    assert nested_conflicts(twice) == []
