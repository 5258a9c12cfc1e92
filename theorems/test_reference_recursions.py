"""T4 — reference recursions.

[GM] Lemmas 4.8, 4.9; [CUT] eqs. (22)-(23) (RMSProp), (28)-(30) (Adam); Kingma & Ba; and
torch.optim's documented algorithms for the other families: fed the same gradient stream, the
implementation under test produces, at every step, the iterates of an independent float64
implementation of its family's recursion (``kinkcheck.harness.oracles.recursions``, never torch.optim).
"""
import pytest
import torch
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.oracles.recursions import follow_reference
from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.records import figure
from kinkcheck.strategies.gradients import injection_cases
from kinkcheck.harness.subjects.families import FAMILIES
from kinkcheck.strategies.optimizers import hyperparameters

# Tolerance, relative to |theta_0| + sum of |reference increments| of the coordinate: both sides
# run in float64, and torch's for-loop/foreach/fused kernels (lerp, addcdiv, fused multiply-adds,
# sqrt(v)/sqrt(1-b2^t) for sqrt(v/(1-b2^t))) reorder the operations of each step. The injected
# gradients do not depend on the iterate, so rounding does not compound: each step contributes a
# few ulps (2^-52 ~ 2.2e-16) of its own size. 50 steps x ~8 ulps ~ 1e-13; 1e-12 leaves a tenfold
# margin (measured on torch 2.13 CPU: <= 6e-15), while every wrong recursion the mutation tests
# try (bias exponent off by one, beta <-> 1-beta, eps under the root, ignored nesterov, doubled
# step) deviates by more than 1e-6.
RTOL = 1e-12

MAX_STEPS = 50


@st.composite
def reference_hyperparameters(draw, family: str):
    """The family's valid configurations, plus the decay T4 may exercise (T2/T3 may not): AdamW's
    decoupled weight decay, ASGD's lambd, coupled L2 decay for the other families."""
    hp = draw(hyperparameters(family))
    record = FAMILIES[family]
    if "weight_decay" in record.decay:
        hp["weight_decay"] = draw(st.sampled_from([0.0, 0.0, 1e-2, 0.1] if record.decays_by_default
                                                  else [0.0, 0.0, 1e-2]), label="weight_decay")
    if "lambd" in record.decay:
        hp["lambd"] = draw(st.sampled_from([0.0, 1e-4, 1e-2]), label="lambd")
    note(f"T4 hyperparameters ({family}): {hp}")
    return hp


@pytest.mark.theorem("T4", capability="has_reference")
@settings(max_examples=scaled(25))
@given(data=st.data())
def test_iterates_follow_the_family_recursion(optimizer_subject, placement, data):
    """[GM] Lemma 4.8, Lemma 4.9; [CUT] eqs. (22)-(23), (28)-(30): from zero state, fed a generated
    gradient stream (float64, up to 50 steps, magnitudes over six decades, exact zeros, eps up to
    0.1 so that its placement matters), the subject's iterate after every step k equals the
    family's reference recursion's within a relative tolerance of 1e-12."""
    case = data.draw(injection_cases(placement.device, dtypes=st.just(torch.float64), max_steps=MAX_STEPS))
    hp = data.draw(reference_hyperparameters(optimizer_subject.family))
    result = follow_reference(optimizer_subject, case.leaves(), case.stream(), hp, case.steps)
    figure("max relative deviation", result.max_deviation, keep="max")
    figure("max steps compared", result.steps, keep="max")
    assert result.max_deviation <= RTOL, (
        f"T4: {optimizer_subject.label} leaves the {optimizer_subject.family} recursion: after step "
        f"{result.worst_step} of {result.steps}, coordinate {result.worst_coordinate} is "
        f"{result.subject_value!r}, the reference gives {result.reference_value!r} (relative deviation "
        f"{result.max_deviation:.3g} > {RTOL:g}); hyperparameters {hp}")
    assert_reached(result.moved, f"the reference for {optimizer_subject.label} never moved")
    event(f"steps {'>= 10' if case.steps >= 10 else '< 10'}")
    if "eps" in hp:
        event(f"eps = {hp['eps']:g}")
