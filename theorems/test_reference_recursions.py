"""T4 — reference recursions, over the whole contract of a torch.optim-style optimizer.

[GM] Lemmas 4.8, 4.9; [CUT] eqs. (22)-(23) (RMSProp), (28)-(30) (Adam); Kingma & Ba; Chen et al.
2023 (Lion); and torch.optim's documented algorithms for the other families: fed the same gradients,
the implementation under test produces, at every step, the iterates of an independent float64
implementation of its family's recursion (``kinkcheck.harness.oracles.recursions``, never
torch.optim) -- for every hyperparameter its family exposes, several parameter groups, parameters
of any shape and memory layout, gradients absent at some steps, hyperparameters changed between
steps, and across a state_dict round trip; in float64 up to float64 rounding, and in float32,
bfloat16 and float16 step by step: each step from the subject's own iterate and state, up to a bound
derived from the dtype's unit roundoff and that step's formula.
"""
import pytest
import torch
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.oracles.contract_runs import error_contract, informative_steps, run_contract
from kinkcheck.strategies.gradients import contract_cases

MAX_STEPS = 20
LOW_PRECISION = (torch.float32, torch.bfloat16, torch.float16)


def _check(subject, case, result, dtype_name):
    figure(f"max deviation / bound ({dtype_name})", result.max_deviation / result.bound, keep="max")
    assert result.twin_mismatch is None, (
        f"T4: {subject.label} does not resume from its state_dict(): saved after step {case.save_at} and "
        f"loaded into a freshly built optimizer, the continued trajectory differs from the uninterrupted "
        f"one {result.twin_mismatch}")
    assert result.state_mismatch is None, (
        f"T4: {subject.label}'s public state leaves the {subject.family} recursion ({dtype_name}): "
        f"{result.state_mismatch} (step counts exactly; ASGD's averaged iterate ax within the float64 bound of its "
        f"iterates, eta and mu within their own rounding)")
    if result.per_step:
        assert result.max_deviation <= result.bound, (
            f"T4: {subject.label} leaves the {subject.family} recursion ({dtype_name}): {result.worst} "
            f"(deviation {result.max_deviation:.3g} times the rounding bound of that one step)")
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


def _skipped_axes(subject) -> frozenset:
    """The contract axes the subject is declared not to support (torch's fused kernels: layouts), each
    recorded so that the table and the report say which part of the contract did not run."""
    for axis, reason in subject.skip_axes:
        figure(f"contract axis not run: {axis}", reason)
    return frozenset(axis for axis, _ in subject.skip_axes)


@pytest.mark.theorem("T4", capability="has_reference")
@settings(max_examples=scaled(8))
@given(data=st.data())
def test_iterates_follow_the_family_recursion(optimizer_subject, placement, data):
    """[GM] Lemma 4.8, Lemma 4.9; [CUT] eqs. (22)-(23), (28)-(30): over a generated contract case
    (1-3 parameter groups with their own hyperparameters from the family's whole torch.optim
    contract; 0-d, empty, SIMD-straddling vectors, matrices, non-contiguous and channels_last
    parameters; gradients in another memory layout; gradients absent at some steps under both
    zero_grad modes; a whole group without gradients at a step; every value the family's torch.optim class
    re-reads -- lr, betas, momentum, weight_decay, eps, alpha, rho, lambd, t0, etas, ... -- written into
    param_groups between steps), the subject's
    float64 iterates equal the family's reference recursion after every step, within the float64
    rounding bound gamma_{16 K} (``rounding_bound``), its public state (step counts, ASGD's averaged
    iterate ax, eta, mu) equals the reference's, and a state_dict() saved mid-run and loaded into a fresh
    optimizer continues the run bit for bit."""
    case = data.draw(contract_cases(optimizer_subject.family, placement.device, max_steps=MAX_STEPS,
                                    skip_axes=_skipped_axes(optimizer_subject)))
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
    dtype), every step of the subject is one step of the family's recursion up to that step's own
    rounding: run in float64 from the subject's own previous iterate and state (as it holds them in
    ``optimizer.state``), the reference's step and the subject's differ, per coordinate, by at most the
    running error bound of the step's formula in the dtype's unit roundoff (``contract_runs.PerStep``:
    u |theta'| for the final add plus each term of the step weighted by its count of roundings), and
    so does each piece of state the subject exposes; for the gradient magnitudes and hyperparameters
    that keep every quantity in the dtype's range (their squares and reciprocals too) -- and a
    state_dict round trip continues the run bit for bit in that dtype too."""
    _low_precision(optimizer_subject, placement, dtype, data)


@pytest.mark.theorem("T4", families=("lion",), capability="has_reference")
@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=lambda d: str(d).removeprefix("torch."))
@settings(max_examples=scaled(3))
@given(data=st.data())
def test_lion_low_precision_steps_follow_the_recursion(optimizer_subject, placement, dtype, data):
    """[LION] Algorithm 2 (Chen et al. 2023, the Lion update) in float32, bfloat16 and float16, with [GM]
    Lemma 4.9's zero-state start: as the check above, per step from the subject's
    own iterate and momentum (``exp_avg``). Lion's step lr sign(b1 m + (1 - b1) g) is exact wherever the
    interpolation is farther from 0 than its rounding bound; where it is within rounding of 0 the
    subject may round it to either sign or 0, and that coordinate's step is bounded by 2 lr plus
    rounding (its sign is not judged there; see ``recursions.Bounded``, sign). An aggregate bound over
    several steps does not exist for Lion (one flipped sign moves a coordinate by 2 lr for good), which
    is why the family record marks it ``amplifies_rounding``; the per-step bound does not compound."""
    _low_precision(optimizer_subject, placement, dtype, data)


def _low_precision(optimizer_subject, placement, dtype, data):
    steps = max(3, min(MAX_STEPS, informative_steps(dtype, per_step=True)))
    case = data.draw(contract_cases(optimizer_subject.family, placement.device, dtype=dtype, max_steps=steps,
                                    skip_axes=_skipped_axes(optimizer_subject),
                                    max_groups=2))
    result = run_contract(optimizer_subject, case)
    _check(optimizer_subject, case, result, str(dtype).removeprefix("torch."))


@pytest.mark.theorem("T4", capability="has_reference")
def test_the_subject_refuses_what_torch_optim_refuses(optimizer_subject, placement):
    """T4's usage contract, from the torch.optim documentation (a source of T4 in the catalogue; no paper
    numbers it: [GM] Lemma 4.8, Lemma 4.9 presuppose an optimizer that refuses these usages):
    ``Optimizer.add_param_group`` raises for a parameter already in another group,
    ``Optimizer.load_state_dict`` raises when the saved groups do not match this optimizer's, and every
    torch.optim class raises "Invalid learning rate" for lr < 0 (issue #20 item 1). The subject must raise
    too (any exception); accepting one silently is a FAIL naming what it accepted
    (``contract_runs.error_contract``, at the family's published defaults)."""
    from kinkcheck.strategies.optimizers import published_hyperparameters

    hp = published_hyperparameters(optimizer_subject.family)
    accepted = error_contract(optimizer_subject, hp, placement.device)
    assert not accepted, (f"T4: {optimizer_subject.label} accepts silently what torch.optim refuses: "
                          + "; ".join(accepted))
