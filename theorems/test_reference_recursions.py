"""T4 — reference recursions, over the whole contract of a torch.optim-style optimizer.

[GM] Lemmas 4.8, 4.9; [CUT] eqs. (22)-(23) (RMSProp), (28)-(30) (Adam); Kingma & Ba; Chen et al.
2023 (Lion); and torch.optim's documented algorithms for the other families: fed the same gradients,
the implementation under test produces, at every step, the iterates of an independent float64
implementation of its family's recursion (``kinkcheck.harness.oracles.recursions``, never
torch.optim) -- for every hyperparameter its family exposes, several parameter groups, parameters
of any shape and memory layout, gradients absent at some steps, hyperparameters changed between
steps, and across a state_dict round trip; in float64 up to float64 rounding, and in float32,
bfloat16 and float16 up to a bound derived from the dtype's unit roundoff and the number of steps.
"""
import pytest
import torch
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.oracles.contract_runs import informative_steps, run_contract
from kinkcheck.strategies.gradients import contract_cases

MAX_STEPS = 20
LOW_PRECISION = (torch.float32, torch.bfloat16, torch.float16)


def _check(subject, case, result, dtype_name):
    figure(f"max deviation / bound ({dtype_name})", result.max_deviation / result.bound, keep="max")
    assert result.twin_mismatch is None, (
        f"T4: {subject.label} does not resume from its state_dict(): saved after step {case.save_at} and "
        f"loaded into a freshly built optimizer, the continued trajectory differs from the uninterrupted "
        f"one {result.twin_mismatch}")
    assert result.max_deviation <= result.bound, (
        f"T4: {subject.label} leaves the {subject.family} recursion ({dtype_name}): {result.worst} "
        f"(relative deviation {result.max_deviation:.3g} > {result.bound:.3g}, the rounding bound for "
        f"{result.steps} steps)")
    # Non-vacuity over the test, not per example: the comparison above has been made either way; a
    # generated case whose reference never moves (every gradient None or 0 at the steps drawn) is
    # discarded, and a test none of whose cases moves ends as Unsatisfiable -- an ERROR of the suite.
    event(f"reference moved: {result.moved}")
    assume(result.moved)
    for regime, hit in result.reached.items():
        event(f"{regime}: {hit}")
    for name in result.not_taken:
        event(f"constructor does not take {name}")
    layouts = {p.layout for p in case.parameters} | {f"grad {p.grad_layout}" for p in case.parameters}
    for layout in sorted(layouts):
        event(f"layout {layout}")
    for g in case.groups:
        for name, value in g.hyperparameters.items():
            if isinstance(value, bool):
                event(f"{name}={value}")


@pytest.mark.theorem("T4", capability="has_reference")
@settings(max_examples=scaled(8))
@given(data=st.data())
def test_iterates_follow_the_family_recursion(optimizer_subject, placement, data):
    """[GM] Lemma 4.8, Lemma 4.9; [CUT] eqs. (22)-(23), (28)-(30): over a generated contract case
    (1-3 parameter groups with their own hyperparameters from the family's whole torch.optim
    contract; 0-d, empty, SIMD-straddling vectors, matrices, non-contiguous and channels_last
    parameters; gradients in another memory layout; gradients absent at some steps under both
    zero_grad modes; lr/betas/momentum written into param_groups between steps), the subject's
    float64 iterates equal the family's reference recursion after every step, within the float64
    rounding bound gamma_{16 K} (``rounding_bound``), and a state_dict() saved mid-run and loaded
    into a fresh optimizer continues the run bit for bit."""
    case = data.draw(contract_cases(optimizer_subject.family, placement.device, max_steps=MAX_STEPS))
    result = run_contract(optimizer_subject, case)
    _check(optimizer_subject, case, result, "float64")
    for regime in ("absent gradient after a step", "hyperparameters changed between steps", "state_dict round trip"):
        assert_reached(result.reached[regime], f"{regime} ({optimizer_subject.label})")
    figure("max steps compared", result.steps, keep="max")


@pytest.mark.theorem("T4", capability="rounding_bounded")
@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=lambda d: str(d).removeprefix("torch."))
@settings(max_examples=scaled(3))
@given(data=st.data())
def test_low_precision_iterates_stay_within_the_rounding_bound(optimizer_subject, placement, dtype, data):
    """[GM] Lemma 4.8, Lemma 4.9, [CUT] eqs. (22)-(30), measured in the precisions people train in: with
    float32, bfloat16 or float16 parameters (gradients and state in that dtype, float32 default
    dtype), the subject's iterates stay within gamma_{16 K}(u_dtype) (|theta_0| + sum |increments|)
    of the float64 reference started from the same rounded values -- the bound derived in
    ``rounding_bound`` from the unit roundoff and the K steps, for the gradient magnitudes and
    hyperparameters that keep every quantity in the dtype's normal range -- and a state_dict round
    trip continues the run bit for bit in that dtype too."""
    known = dict(optimizer_subject.record.limits).get(f"T4 {str(dtype).removeprefix('torch.')}")
    if known:  # a known limit, recorded with its reason in the family record: shown as xfail
        pytest.xfail(f"T4 {dtype}: {known}")
    steps = max(3, min(MAX_STEPS, informative_steps(dtype)))
    case = data.draw(contract_cases(optimizer_subject.family, placement.device, dtype=dtype, max_steps=steps,
                                    max_groups=2))
    result = run_contract(optimizer_subject, case)
    _check(optimizer_subject, case, result, str(dtype).removeprefix("torch."))
