"""T4 over long horizons — the usage contract kept for as long as people train (issue #20 item 2).

Contract (torch.optim's documented algorithms, T4's usage contract) with the references of [GM] Lemmas
4.8-4.9, [CUT] eqs. (22)-(30), [LION] Alg. 2: an optimizer keeps following its family's recursion however many
steps it has taken. A step counter or a state kept in a narrow dtype is right for the first 2^p steps and
wrong after (uint8 wraps at 256, bfloat16 stops at 256, float16 at 2048), so the short cases of
``test_reference_recursions`` (at most 20 steps) cannot see it. Here every family runs one long trajectory on
a tiny parameter -- past 256 steps in bfloat16, past 2048 in float16 and float32 -- with gradients from
a fixed deterministic table, across a state_dict round trip after 90% of the steps (the reloaded optimizer
continues the run, the uninterrupted one runs beside it and must agree bit for bit), and each checked step is
one step of the family's float64 recursion from the subject's own iterate and state within that step's
rounding bound (``contract_runs.PerStep``), with the subject's ``state["step"]`` equal to the number of steps
taken (``kinkcheck.harness.oracles.long_horizons``).

Cost: bfloat16 (288 steps, about 3-6 s for the 36 built-in subjects) runs by default; Muon's float64 run (288
steps, 2-4 s: Newton-Schulz twice a step), float16 and float32 (2304 steps, about 13 s per dtype) are marked slow
(CI's second command runs them with --kinkcheck-slow). A float64 run past 2048 (another 13 s) is not made: a
counter narrower than float32 shows in the float32 run, and the float64 claim is checked by
test_reference_recursions.
"""
import pytest
import torch

from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.oracles.long_horizons import AGGREGATE_ONLY, horizon, run_long
from kinkcheck.harness.subjects.families import select

PER_STEP_FAMILIES = tuple(sorted(select(capability="has_reference") - set(AGGREGATE_ONLY)))
DTYPES = [pytest.param(torch.bfloat16, id="bfloat16"),
          pytest.param(torch.float16, id="float16", marks=pytest.mark.slow),
          pytest.param(torch.float32, id="float32", marks=pytest.mark.slow)]
CITE = "T4 (contract: torch.optim's documented recursion at every step; [GM] Lemmas 4.8-4.9, [CUT] eqs. (22)-(30))"


def _judge(subject, run, dtype):
    name = str(dtype).removeprefix("torch.")
    figure(f"long horizon: max deviation / bound ({name})", run.worst, keep="max")
    figure(f"long horizon: steps ({name})", run.steps, keep="max")
    figure(f"long horizon: steps checked in full ({name})", run.checked, keep="max")
    assert run.twin_mismatch is None, (
        f"{CITE}: {subject.label} does not resume from its state_dict() late in a long run ({name}, "
        f"{run.steps} steps): saved after step {run.save_at} and loaded into a freshly built optimizer, the "
        f"continued trajectory differs from the uninterrupted one {run.twin_mismatch}")
    assert run.worst <= 1.0, (
        f"{CITE}: {subject.label} leaves the {subject.family} recursion over a long horizon ({name}, "
        f"{run.steps} steps past the {horizon(dtype)} a narrow counter or state survives, state_dict round trip "
        f"after step {run.save_at}, hyperparameters {run.hyperparameters}): {run.where} (deviation "
        f"{run.worst:.3g} times the bound, {run.mode})")
    assert_reached(run.moved, f"a long trajectory that moves ({subject.label}, {name})")


@pytest.mark.theorem("T4", families=PER_STEP_FAMILIES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_long_trajectories_follow_the_family_recursion(optimizer_subject, dtype):
    """[GM] Lemma 4.8, Lemma 4.9; [CUT] eqs. (22)-(30); [LION] Alg. 2 (usage contract): past 2^p steps for every p of a
    dtype a counter or state could be kept in (256 in bfloat16, 2048 in float16/float32), across a
    state_dict round trip after 90% of the steps, every checked step of the subject is one step of its
    family's float64 recursion from its own iterate and state, within that step's rounding bound, its
    ``state["step"]`` is the number of steps taken, and the resumed run equals the uninterrupted one bit for
    bit."""
    _judge(optimizer_subject, run_long(optimizer_subject, dtype), dtype)


@pytest.mark.slow
@pytest.mark.theorem("T4", families=tuple(sorted(AGGREGATE_ONLY)))
def test_muon_long_trajectory_follows_the_recursion_in_float64(optimizer_subject):
    """[GM] Lemma 4.8, Lemma 4.9 (their recursion claim for torch.optim.Muon's documented update, Keller
    Jordan's muon.py; usage contract): 288 float64 steps (past the
    256 of a uint8 or bfloat16 counter; Muon's state is a momentum buffer) across a state_dict round trip after
    90% of them, the subject's iterate within the
    float64 bound gamma_{16k}(u) (|theta_0| + path) of the reference run beside it after every step (Muon's
    Newton-Schulz runs in bfloat16 in the published algorithm, which the per-step bound does not model)."""
    _judge(optimizer_subject, run_long(optimizer_subject, torch.float64), torch.float64)
