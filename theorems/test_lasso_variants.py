"""T11 — the NDGM variants behave differently on the LASSO.

[CUT] Prop B.3, B.6-B.10, Table 1: on lam*||b||_1, momentum jumps off 0, Adam's first moment obeys
|m_k| <= lam (1 - beta1^k) and bounces off 0, with m following the run formula (34); RMSProp
(no momentum) keeps a coordinate at 0 once it is there. A state "b_k = 0 with history" is made by
setting the parameter to exactly 0 after step r (the optimizer keeps its buffers); the buffers the
theorems talk about are recomputed exactly (Fraction) from the observed subgradient signs, never
read from the subject — except ``exp_avg``, compared when a subject exposes it.
"""
from fractions import Fraction

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.experiments.nonsmooth_runs import lasso, run_objective
from kinkcheck.harness.oracles.nonsmooth import (adam_first_moments, adam_run_formula, momentum_buffers,
                                       representable, sign)
from kinkcheck.harness.core.outcomes import require
from kinkcheck.harness.core.records import figure
from kinkcheck.strategies.lasso import floats_beta0
from kinkcheck.strategies.optimizers import hyperparameters

lams = st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0])


def _signs(iterates, i, upto):
    return [sign(v) for v in iterates[:upto, i].tolist()]


def _zeroed_run(subject, placement, beta0, lam, hp, r, extra, record_state=()):
    everything = torch.ones(len(beta0), dtype=torch.bool, device=placement.device)
    return run_objective(subject, placement.tensor(beta0), lasso(lam), hp, r + extra,
                         zero_at={r: everything}, record_state=record_state)


@pytest.mark.theorem("T11", families={"momentum", "nesterov"})
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, lam=lams, r=st.integers(1, 15))
def test_momentum_jumps_off_zero(optimizer_subject, placement, data, beta0, lam, r):
    """[CUT] Prop B.3 (Eq. 20-21), Table 1: if b_k = 0 and the momentum buffer is non-zero,
    b_{k+1} = -alpha (mu buf_k) != 0 — the heavy-ball sequence jumps away from 0 (sign opposite
    to the buffer)."""
    hp = data.draw(hyperparameters(optimizer_subject.family))
    run = _zeroed_run(optimizer_subject, placement, beta0, lam, hp, r, 1)
    mu, damp = Fraction(hp["momentum"]), Fraction(hp["dampening"])
    checked = 0
    for i in range(len(beta0)):
        bufs = momentum_buffers(_signs(run.iterates, i, r), Fraction(lam), mu, damp)
        nxt = mu * bufs[-1]  # the gradient at 0 is 0
        if abs(nxt) <= Fraction(lam) * Fraction(1, 10 ** 9):  # buffer at rounding level: no claim
            continue
        got = run.iterates[r + 1, i].item()
        require(run.iterates[r, i].item() == 0.0, "T11: the harness did not set the coordinate to 0")
        assert got != 0.0 and sign(got) == -sign(nxt), (
            f"{optimizer_subject}: coordinate {i} at 0 with buffer {float(nxt):.3g} moved to {got!r} "
            f"(Prop B.3: jumps off 0 against the buffer)")
        checked += 1
    # non-vacuity: some coordinate sat at 0 with a buffer above rounding level (B.3's hypothesis), unless
    # every exact buffer is exactly 0 (mu = 1 - dampening and a sign flip cancel it: B.3 does not apply)
    exact_zero = all(momentum_buffers(_signs(run.iterates, i, r), Fraction(lam), mu, damp)[-1] == 0
                     for i in range(len(beta0)))
    if exact_zero:
        event("every exact momentum buffer is 0: Prop B.3's hypothesis fails")
    assert_reached(checked > 0 or exact_zero, "a coordinate at 0 with a non-zero momentum buffer (T11(a), Prop B.3)")
    figure("jump |b_{k+1}| / (alpha lam)", float(run.iterates[r + 1].abs().max()) / (hp["lr"] * lam), keep="max")


def _adam_hp(data, dyadic=False):
    beta1 = data.draw(st.sampled_from([0.5, 0.75, 0.875] if dyadic else [0.5, 0.75, 0.9, 0.99]), label="beta1")
    beta2 = data.draw(st.sampled_from([0.9, 0.99, 0.999]), label="beta2")
    lr = data.draw(st.sampled_from([2.0 ** -3, 2.0 ** -4, 0.05]), label="lr")
    eps = data.draw(st.sampled_from([0.0, 1e-8, 1e-3]), label="eps")
    return dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=0.0)


@pytest.mark.theorem("T11", families={"adam"})
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, lam=lams, steps=st.integers(2, 60))
def test_adam_first_moment_bound(optimizer_subject, placement, data, beta0, lam, steps):
    """[CUT] Prop B.6 (Sec 4, the LASSO): |m_k| <= lam (1 - beta1^k) <= lam. Consequence checked on every subject:
    with v_k = lam^2 (1 - beta2^k) (no zero subgradient), the step |b_{k+1} - b_k| = alpha |m_k|/(1 -
    beta1^k) / (sqrt(v_k/(1-beta2^k)) + eps) <= alpha (relative slack 1e-12 for rounding); and on
    ``exp_avg`` when the subject exposes it (slack: 4k eps lam, eps = torch.finfo(dtype).eps = 2u: each
    step's m = beta1 m + (1 - beta1) g (or torch's lerp) rounds at most 3 times by u |m| <= u lam, and
    beta1 < 1 does not amplify the earlier errors: 3 k u lam <= 4 k eps lam).
    Step slack: the computed |b_{k+1} - b_k| is the exact step (<= alpha) perturbed by at most
    8 u alpha (the bias corrections, sqrt, the division and the product: relative u each) plus
    u (|b_k| + |b_{k+1}|) (the rounding of the update's sum and of the difference itself):
    relative slack 1e-12 in float64 (the figure the suite always used, above that bound) and
    8u + u (|b_k| + |b_{k+1}|)/alpha in other dtypes. The v_k formula needs no zero subgradient: an
    iterate can be absorbed at 0 by rounding (b == step; seen in float64 too, e.g. beta = (0.5, 0.9),
    lr 2^-4), and the check stops at the first such step (counted as an event)."""
    hp = _adam_hp(data)
    run = run_objective(optimizer_subject, placement.tensor(beta0), lasso(lam), hp, steps, record_state=("exp_avg",))
    alpha, beta1 = hp["lr"], hp["betas"][0]
    it = run.iterates
    eps = torch.finfo(it.dtype).eps
    zero = (it[:-1] == 0).any(dim=1)
    n = int(zero.nonzero()[0, 0]) if bool(zero.any()) else steps  # steps before the first zero subgradient
    if n < steps:
        event("an iterate was absorbed at 0 by rounding: checked up to that step")
    steps_taken = (it[1:n + 1] - it[:n]).abs().double()
    if it.dtype == torch.float64:
        allowed = torch.full_like(steps_taken, 1 + 1e-12)
    else:
        u = eps / 2
        allowed = 1 + 8 * u + u * (it[1:n + 1].abs() + it[:n].abs()).double() / alpha
    worst = float((steps_taken / alpha).max()) if n else 0.0
    assert bool((steps_taken / alpha <= allowed).all()), (
        f"{optimizer_subject}: a step of {worst:.6g} alpha (Prop B.6 bounds it by alpha; rounding slack derived)")
    figure("max |step| / alpha", worst, keep="max")
    for k, st_k in enumerate(run.states[:n], start=1):
        if "exp_avg" in st_k:
            bound = lam * (1 - beta1 ** k)
            m = float(st_k["exp_avg"].abs().max())
            assert m <= bound + 4 * k * eps * lam, (
                f"{optimizer_subject}: |m_{k}| = {m!r} > lam(1-beta1^k) = {bound!r}")
            event("exp_avg checked")


@pytest.mark.theorem("T11", families={"adam"})
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, lam=lams, r=st.integers(1, 15))
def test_adam_bounces_off_zero(optimizer_subject, placement, data, beta0, lam, r):
    """[CUT] Prop B.9, Table 1 (Sec 4, the LASSO): if b_k = 0 while m_k != 0, b_{k+1} != 0 (against the sign of
    m_{k+1} = beta1 m_k): Adam bounces off 0."""
    hp = _adam_hp(data)
    run = _zeroed_run(optimizer_subject, placement, beta0, lam, hp, r, 1)
    beta1 = Fraction(hp["betas"][0])
    for i in range(len(beta0)):
        m = adam_first_moments(_signs(run.iterates, i, r), Fraction(lam), beta1)
        nxt = beta1 * m[-1]
        if abs(nxt) <= Fraction(lam) * Fraction(1, 10 ** 9):
            continue
        got = run.iterates[r + 1, i].item()
        assert got != 0.0 and sign(got) == -sign(nxt), (
            f"{optimizer_subject}: coordinate {i} at 0 with m = {float(nxt):.3g} moved to {got!r} (Prop B.9)")
    figure("bounce |b_{k+1}| / alpha", float(run.iterates[r + 1].abs().max()) / hp["lr"], keep="max")


@pytest.mark.theorem("T11", families={"adam"})
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, lam=st.sampled_from([0.5, 1.0, 2.0]), steps=st.integers(5, 30))
def test_adam_run_formula(optimizer_subject, placement, data, beta0, lam, steps):
    """[CUT] Prop B.10, Eq. 34: during a run of constant sign s of length r from k0,
    m_{k0+r} = beta1^r m_{k0} + (1 - beta1^r) lam s — exact in Fraction with dyadic beta1, and
    bit for bit against the subject's ``exp_avg`` where every intermediate of the update is a normal
    float of the dtype (else within 4k eps lam, eps = torch.finfo(dtype).eps = 2u: at most 3
    roundings of u lam per step, not amplified by beta1 < 1)."""
    hp = _adam_hp(data, dyadic=True)
    run = run_objective(optimizer_subject, placement.tensor(beta0), lasso(lam), hp, steps, record_state=("exp_avg",))
    beta1, L = Fraction(hp["betas"][0]), Fraction(lam)
    runs_checked = 0
    for i in range(len(beta0)):
        sg = _signs(run.iterates, i, steps)
        m = [Fraction(0)] + adam_first_moments(sg, L, beta1)  # m_0 .. m_steps
        k0 = 0
        while k0 < steps:
            r = 1
            while k0 + r < steps and sg[k0 + r] == sg[k0]:
                r += 1
            assert m[k0 + r] == adam_run_formula(m[k0], r, L, beta1, sg[k0]), (
                "T11(b) ([CUT] Prop B.9): the run formula differs from the exact recursion")
            runs_checked += 1
            k0 += r
        for k in range(1, steps + 1):
            st_k = run.states[k - 1]
            if "exp_avg" not in st_k:
                continue
            got = st_k["exp_avg"].flatten()[i].item()
            g = L * sg[k - 1]
            # bit for bit only when every intermediate of both spellings of the update is a float64:
            # beta1 m + (1 - beta1) g, and torch's lerp m + (1 - beta1)(g - m)
            intermediates = (m[k - 1], beta1 * m[k - 1], (1 - beta1) * g, g - m[k - 1],
                             (1 - beta1) * (g - m[k - 1]), m[k])
            if all(representable(v, run.iterates.dtype) for v in intermediates):
                assert got == float(m[k]), (
                    f"{optimizer_subject}: exp_avg[{i}] at step {k} is {got!r}, eq. (34) gives {m[k]}")
            else:
                assert abs(got - float(m[k])) <= 4 * k * torch.finfo(run.iterates.dtype).eps * lam, (
                    f"{optimizer_subject}: exp_avg[{i}] at step {k} is {got!r}, eq. (34) gives {float(m[k])!r} "
                    f"(T11(b): beyond the rounding bound 4k eps lam)")
    assert_reached(runs_checked > 0, "T11(b): no run of constant sign to check")
    figure("sign runs checked", runs_checked, keep="max")


@pytest.mark.theorem("T11", families={"rmsprop"})
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, lam=lams, r=st.integers(1, 15), extra=st.integers(1, 20))
def test_rmsprop_stays_at_zero(optimizer_subject, placement, data, beta0, lam, r, extra):
    """[CUT] Table 1 (RMSProp, Eq. 22-23, no momentum): a coordinate that is 0 gets a zero
    subgradient, hence a zero update g/(sqrt(v)+eps): it stays exactly 0 forever."""
    hp = data.draw(hyperparameters("rmsprop"))
    hp["momentum"] = 0.0
    run = _zeroed_run(optimizer_subject, placement, beta0, lam, hp, r, extra)
    assert_reached(bool((run.iterates[:r] != 0).any()), "T11(c): the coordinate was never away from 0")
    tail = run.iterates[r:]
    assert bool((tail == 0).all()), (f"{optimizer_subject}: a coordinate set to 0 after step {r} moved to "
                                     f"{tail[tail != 0][0].item()!r} (Table 1: RMSProp stays at 0)")
    figure("steps held at 0", extra, keep="max")
