"""T3 — frozen coordinates for every optimizer.

[GM] Setting 4.1 eq. (58), Lemma 4.8, Lemma 4.9 and the remark after it; [OR]'s optimizer list:
started from zero state, a coordinate that receives an exactly-zero gradient at every step keeps
its initial value bit for bit, whatever the other coordinates receive.
"""
from dataclasses import replace

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st

from kinkcheck.harness.core.outcomes import OutOfScope
from kinkcheck.harness.oracles import decay_law
from kinkcheck.harness.core.assertions import assert_bitwise_equal_where, assert_reached, case_moved
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.subjects.specs import out_of_scope_reason
from kinkcheck.harness.core.driving import optimizer_state
from kinkcheck.harness.core.training import inject_gradients
from kinkcheck.strategies.gradients import InjectionCase, injection_cases
from kinkcheck.strategies.optimizers import decaying_hyperparameters, hyperparameters, published_hyperparameters

def injection_dtypes(placement):
    """The dtypes the injected tensors take: the requested dtype under --dtype float32, bfloat16 or
    float16 (T3 is exact in any dtype: a zero gradient must leave a coordinate bit-identical in the
    dtype the subject runs in); in a float64 run, as before, float64 and float32 alike."""
    if placement.dtype == torch.float64:
        return st.sampled_from([torch.float64, torch.float32])
    return st.just(placement.dtype)


def _run_injection(subject, case, hp):
    """Inject the case's stream; also note whether a live coordinate ever moved (at any step: a
    later step may bring it back, e.g. Muon's magnitude-free steps of opposite sign)."""
    params = case.leaves()
    live_moved = []

    def watch(_):
        if not live_moved and any(bool(((p.detach() != p0) & ~m).any())
                                  for p, p0, m in zip(params, case.params, case.masks)):
            live_moved.append(True)

    optimizer = inject_gradients(params, case.stream(), subject, hp, case.steps, on_step=watch)
    return params, optimizer, bool(live_moved)


def _skip_if_out_of_scope(optimizer):
    reason = out_of_scope_reason(optimizer)
    if reason:
        pytest.skip(f"out of scope for T3: {reason}")


def _moved_in_float64(subject, case, hp) -> bool:
    """Outside float64, when no live coordinate moved: an update below half an ulp of a coordinate rounds
    away -- in bfloat16 and float16 (8 / 11 significant bits) as in float32 (24 bits: D-adaptation's
    first steps lr * d0 ~ 1e-10 with d0 = 1e-6; AvaGrad's lr * gamma ~ 5e-10, its gamma a harmonic mean
    that an exactly-zero-gradient coordinate pins at ~eps). The same stream, upcast exactly, is injected
    into the same subject in float64 and the claim is checked there too (zero-gradient coordinates
    bit-identical: the case is then a real check, not a vacuous one); True when a live coordinate moves
    there (the regime was reached and the dtype's rounding absorbed the updates -- recorded as a figure)."""
    case64 = replace(case, params=[p.double() for p in case.params], dtype=torch.float64)
    params, _, moved = _run_injection(subject, case64, hp)
    for p, p0, m in zip(params, case64.params, case64.masks):
        assert_bitwise_equal_where(p.detach(), p0, m, what=f"frozen coordinates of {subject.label} (the case replayed "
                                                          f"in float64: nothing moved in {str(case.dtype)[6:]})")
    return moved


def _horizon_note(optimizer) -> str:
    return (getattr(optimizer, "kinkcheck_horizon", None) or (0, False, ""))[2]


def _check_frozen(subject, case, params, optimizer, live_moved, hp=None):
    """The claim on this case (bit-identical zero-gradient coordinates), then its non-vacuity: a case in
    which no live coordinate moved (in the case's dtype, nor replayed in float64) is counted, not judged
    (``assertions.case_moved``: the test is vacuous only when no case moved); a stateful subject that
    moved must have built state."""
    for p, p0, m in zip(params, case.params, case.masks):
        assert_bitwise_equal_where(p.detach(), p0, m, what=f"frozen coordinates of {subject.label}")
    if not live_moved and case.dtype != torch.float64 and hp is not None:
        live_moved = _moved_in_float64(subject, case, hp)
        figure(f"cases whose every live update rounded away in {str(case.dtype)[6:]} (moved in float64)",
               int(live_moved), keep="sum")
    detail = f"first such case: {hp}, {str(case.dtype)[6:]}, {case.steps} steps; {_horizon_note(optimizer)}"
    if case_moved(live_moved, f"no live coordinate moved under {subject.label}", detail.rstrip("; ")):
        if subject.record.stateful:
            assert_reached(len(optimizer_state(optimizer)) > 0, f"{subject.label} built no optimizer state")
    event(f"frozen coordinates: {min(int(sum(m.sum() for m in case.masks)), 10)}+")


@pytest.mark.theorem("T3", capability="takes_any_shape")
@given(data=st.data())
def test_zero_gradient_coordinates_never_move(optimizer_subject, placement, data):
    """[GM] Lemma 4.8, Lemma 4.9 (and the remark after it), Setting 4.1 eq. (58): from zero state,
    a coordinate whose every gradient is exactly 0 equals its initial value bit for bit after n
    steps, while state builds up on the other coordinates. Exact in any dtype: the tensors take the
    requested dtype (bfloat16, float16, float32; float64 and float32 in a float64 run)."""
    case = data.draw(injection_cases(placement.device, dtypes=injection_dtypes(placement)))
    hp = data.draw(hyperparameters(optimizer_subject.family, dtype=placement.dtype))
    params, optimizer, live_moved = _run_injection(optimizer_subject, case, hp)
    _skip_if_out_of_scope(optimizer)
    _check_frozen(optimizer_subject, case, params, optimizer, live_moved, hp)
    figure("max steps checked", case.steps, keep="max")


@pytest.mark.theorem("T3", capability="matrices_only")
@given(data=st.data())
def test_muon_zero_rows_and_columns_never_move(optimizer_subject, placement, data):
    """[GM] Lemma 4.9 remark, extended to Muon (THEOREMS.md T3): Newton–Schulz maps a gradient with
    zero rows/columns to one with the same zero rows/columns, so those entries of a 2-D
    parameter (an inactive neuron's row) are frozen bit for bit."""
    case = data.draw(injection_cases(placement.device, dtypes=injection_dtypes(placement), matrices_only=True))
    hp = data.draw(hyperparameters(optimizer_subject.family, dtype=placement.dtype))
    params, optimizer, live_moved = _run_injection(optimizer_subject, case, hp)
    _skip_if_out_of_scope(optimizer)
    _check_frozen(optimizer_subject, case, params, optimizer, live_moved, hp)


def _published_case(record, dtype: torch.dtype) -> InjectionCase:
    """A fixed case (no draw: the same every run): a 17-element vector (a SIMD width and one) with
    exactly-zero gradients at coordinates 0, 5 and 16, and a 3 x 5 matrix whose row 1 and column 3 get
    exactly-zero gradients (an inactive neuron's row and column: the factored second moment of
    Adafactor and Muon's Newton-Schulz see whole zero rows and columns); matrix-only families get the
    matrix alone."""
    gen = torch.Generator().manual_seed(20)
    vector = torch.randn(17, generator=gen, dtype=torch.float64) * 2
    vector_mask = torch.zeros(17, dtype=torch.bool)
    vector_mask[[0, 5, 16]] = True
    matrix = torch.randn(3, 5, generator=gen, dtype=torch.float64) * 2
    matrix_mask = torch.zeros(3, 5, dtype=torch.bool)
    matrix_mask[1, :] = True
    matrix_mask[:, 3] = True
    if record.matrices_only:
        params, masks = [matrix], [matrix_mask]
    else:
        params, masks = [vector, matrix], [vector_mask, matrix_mask]
    return InjectionCase([p.to(dtype) for p in params], masks, seed=20, steps=5, dtype=dtype)


@pytest.mark.theorem("T3")
def test_published_defaults_keep_zero_gradient_coordinates_bit_identical(optimizer_subject, placement):
    """[GM] Lemma 4.8, Lemma 4.9, Setting 4.1 eq. (58), at the one configuration everyone runs: the
    family's published defaults (``strategies.optimizers.PUBLISHED``: the paper's values, e.g.
    Adafactor's eps1 = 1e-30, decay at 0), in the requested dtype (float64 in a float64 run), on a
    fixed case -- zero-gradient coordinates stay bit-identical. No draw: a deviation at the published
    defaults is found every run (torch 2.13's Adafactor clamps its variance at eps1 * eps1, which is 0
    in float32 and bfloat16, and makes those coordinates NaN: docs/torch-deviations/
    adafactor_eps1_squared_underflow.py). A published value the dtype does not represent as a normal
    number (float16 and eps = 1e-8) is not a configuration in that dtype: skipped, with the reason."""
    dtype = placement.dtype
    hp = published_hyperparameters(optimizer_subject.family)
    tiny = torch.finfo(dtype).tiny
    unrepresentable = {name: v for name, value in hp.items()
                       for v in (value if isinstance(value, tuple) else (value,))
                       if isinstance(v, float) and 0 < abs(v) < tiny}
    if unrepresentable:
        pytest.skip(f"published defaults {unrepresentable} are below {dtype}'s smallest normal number {tiny:.3g}")
    case = _published_case(optimizer_subject.record, dtype)
    params, optimizer, live_moved = _run_injection(optimizer_subject, case, hp)
    _skip_if_out_of_scope(optimizer)
    for p, p0, m in zip(params, case.params, case.masks):
        assert_bitwise_equal_where(p.detach(), p0, m, what=f"frozen coordinates of {optimizer_subject.label} at "
                                                          f"its published defaults {hp} in {dtype}")
    if not live_moved and dtype != torch.float64:  # updates below half an ulp round away
        live_moved = _moved_in_float64(optimizer_subject, case, hp)
    case_moved(live_moved, f"no live coordinate moved under {optimizer_subject.label} at {hp}",
               _horizon_note(optimizer))


@pytest.mark.theorem("T3", capability=("takes_weight_decay", "takes_any_shape"))
@given(data=st.data())
def test_weight_decay_is_outside_the_hypothesis(optimizer_subject, placement, data):
    """[GM] Setting 4.1 eq. (58) assumes no decay: with weight_decay > 0 (or AdamW's default
    0.01, ASGD's default lambd 1e-4) a zero-gradient coordinate moves. The suite says so: the
    test reports "out of scope" with the measured displacement rather than failing — and fails when
    that displacement is 0 in float64 although some frozen coordinate is nonzero and the subject moved
    its live coordinates (the subject ignored its decay). A case in which it moved no coordinate at all
    (rectified Adam skips its whole step, decay included, while rho_t <= 4) is counted, not judged
    (``assertions.case_moved``): the test is vacuous only when no case moved."""
    case = data.draw(injection_cases(placement.device, dtypes=st.just(torch.float64)))
    use_defaults = optimizer_subject.record.decays_by_default and data.draw(st.booleans())
    if use_defaults:  # the library's own default decay, as a user would construct it
        hp = {"lr": 1e-2}
    else:
        hp = data.draw(decaying_hyperparameters(optimizer_subject.family))
    params, optimizer, live_moved = _run_injection(optimizer_subject, case, hp)
    reason = out_of_scope_reason(optimizer)
    assert reason, f"T3: {optimizer_subject.label} was configured with {hp} but reports no decay"
    moved = max(float((p.detach() - p0)[m].abs().max()) if m.any() else 0.0
                for p, p0, m in zip(params, case.params, case.masks))
    if not case_moved(live_moved or moved > 0, f"{optimizer_subject.label} moved no coordinate under {hp}",
                      _horizon_note(optimizer)):
        return  # nothing moved at all: no verdict either way on this case
    figure("zero-gradient displacement under decay", moved, keep="max")
    # float64: every configured decay changes a nonzero coordinate by a relative amount far above the
    # unit roundoff 2^-53 at every step, so a decay that moves nothing is a decay the subject ignored.
    decayable = any(bool((p0[m] != 0).any()) for p0, m in zip(case.params, case.masks))
    if decayable:
        assert moved > 0, (f"T3: {optimizer_subject.label} configured with {reason.split(' ')[0]} moved no "
                           f"zero-gradient coordinate: the subject ignores its decay hyperparameter")
    # The out-of-scope outcome must not hide a bug: the displacement follows the declared decay law
    # (decoupled: theta_0 prod (1 - lr lambda); coupled: the family's reference fed 0), up to rounding.
    steps = getattr(optimizer, "kinkcheck_horizon", (case.steps,))[0]
    law = decay_law.compare(optimizer_subject, optimizer, case.params, params, case.masks, steps)
    if law is not None:
        figure(f"decay-law deviation / bound ({law.law})", law.max_deviation / law.bound if law.bound else 0.0,
               keep="max")
        assert law.holds, (
            f"T3 ([GM] Setting 4.1 eq. (58), out of scope): {optimizer_subject.label} declares {law.law} weight "
            f"decay, but its zero-gradient coordinates do not follow it: {law.worst} (deviation "
            f"{law.max_deviation:.3g} > rounding bound {law.bound:.3g}). If the optimizer decays the other way, "
            f"declare it: ?decay_law='decoupled' (or 'coupled')")
    raise OutOfScope("T3", reason, moved)
