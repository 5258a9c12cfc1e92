"""T12 — RMSProp is blind to lambda; scale invariance of adaptive methods.

[CUT] Prop B.4, Prop B.5, Prop B.11, eqs. (22)-(27): with eps = 0, RMSProp's update
g / sqrt(v) is unchanged when the loss is multiplied by c > 0, so on lam*||b||_1 the trajectory
does not depend on lam; with v_0 = 0 it has the closed form
b_{k+1} = b_k - alpha sign(b_k) / sqrt(1 - rho^{k+1}). The same holds for Adam and Adagrad on any
loss; SGD is not scale invariant. With c a power of two the invariance is exact in float64.
"""
import math
from fractions import Fraction

import pytest
import torch
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.activations import smooth_relu
from kinkcheck.harness.core.assertions import assert_bitwise_equal
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.losses import mse
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.experiments.nonsmooth_runs import lasso, run_objective
from kinkcheck.harness.oracles.nonsmooth import ndgm_lasso, rmsprop_l1_closed_form
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.core.training import train
from kinkcheck.strategies.lasso import eps_free_hyperparameters, floats_beta0
from kinkcheck.strategies.networks import seeds

lams = st.floats(2.0 ** -10, 2.0 ** 10)


def _lasso_run(subject, placement, beta0, lam, hp, steps):
    return run_objective(subject, placement.tensor(beta0), lasso(lam), hp, steps)


@pytest.mark.theorem("T12", capability="eps_free")
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, lam=lams, j=st.integers(-12, 12).filter(bool),
       steps=st.integers(5, 50))
def test_lambda_invariance_bit_for_bit(optimizer_subject, placement, data, beta0, lam, j, steps):
    """[CUT] Prop B.5, Eq. 24-25 (and THEOREMS.md T12(a)): with eps = 0 the trajectory on
    lam*||b||_1 equals the one on 2^j lam*||b||_1 bit for bit (gradients scale by 2^j exactly,
    second moments by 4^j, square roots by 2^j: every rounding is the same)."""
    hp = data.draw(eps_free_hyperparameters(optimizer_subject.family))
    a = _lasso_run(optimizer_subject, placement, beta0, lam, hp, steps).iterates
    b = _lasso_run(optimizer_subject, placement, beta0, lam * 2.0 ** j, hp, steps).iterates
    assert_bitwise_equal(b, a, f"{optimizer_subject} trajectories for lam={lam} and lam*2^{j}")
    assert bool((a[-1] != a[0]).any())  # non-vacuity: it moved
    figure("steps checked bit for bit", steps, keep="max")


@pytest.mark.theorem("T12", capability="eps_free")
@settings(max_examples=scaled(8))
@given(data=st.data(), beta0=floats_beta0, lam=lams, ratio=st.floats(1.01, 100.0), steps=st.integers(5, 50))
def test_lambda_invariance_other_ratios(optimizer_subject, placement, data, beta0, lam, ratio, steps):
    """[CUT] Prop B.5, Eq. 22-27 (THEOREMS.md T12(a)): for a ratio that is not a power of two the trajectories
    agree to rounding: |difference| <= 16 (k+1) ulp(1) max(|b|, step) at step k (each step adds a
    few roundings of the update, whose size is <= lr/sqrt(1-beta2)), until a near-tie, where the
    reference is within that tolerance of 0 and a sign may flip — the comparison stops there."""
    hp = data.draw(eps_free_hyperparameters(optimizer_subject.family))
    a = _lasso_run(optimizer_subject, placement, beta0, lam, hp, steps).iterates
    b = _lasso_run(optimizer_subject, placement, beta0, lam * ratio, hp, steps).iterates
    scale = max(1.0, float(a.abs().max())) + hp["lr"] * 10.0 * math.sqrt(steps + 1)
    worst = 0.0
    for k in range(steps + 1):
        tol = 16 * (k + 1) * 2.0 ** -52 * scale
        diff = float((a[k] - b[k]).abs().max())
        worst = max(worst, diff)
        assert diff <= tol, (f"{optimizer_subject}: lam and {ratio:.4g} lam differ by {diff:.3g} > {tol:.3g} at "
                             f"step {k} (no near-tie before)")
        if bool((a[k].abs() <= tol).any()):
            event("near-tie: comparison stopped")
            break
    figure("max |difference| / ulp(1) before a near-tie (non-dyadic ratio)", worst / 2.0 ** -52, keep="max")


@pytest.mark.theorem("T12", families={"rmsprop"})
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, lam=lams, steps=st.integers(5, 120))
def test_rmsprop_closed_form(optimizer_subject, placement, data, beta0, lam, steps):
    """[CUT] Eq. 25 (from (22)-(24), eps = 0, v_0 = 0): b_{k+1} = b_k - alpha sign(b_k) /
    sqrt(1 - rho^{k+1}) whatever lam, against an mpmath oracle (50 digits) to 16 (k+1) ulps of the
    scale, up to the first near-tie; Prop B.4/B.5: never 0, and late iterates lie in the band
    |b_k| < alpha / sqrt(1 - rho^{k-1}) = alpha (1 + delta_k), delta_k -> 0."""
    hp = data.draw(eps_free_hyperparameters("rmsprop"))
    hp["momentum"] = 0.0  # eq. (23): no momentum buffer
    run = _lasso_run(optimizer_subject, placement, beta0, lam, hp, steps).iterates
    alpha, rho = hp["lr"], hp["alpha"]
    oracle = rmsprop_l1_closed_form(beta0, alpha, rho, steps)
    scale = max(1.0, max(abs(b) for b in beta0)) + alpha / math.sqrt(1 - rho)
    entered = None
    for k, row in enumerate(oracle):
        tol = 16 * (k + 1) * 2.0 ** -52 * scale
        got = run[k].tolist()
        for i, want in enumerate(row):
            assert abs(got[i] - float(want)) <= tol, (
                f"{optimizer_subject}: step {k} coordinate {i}: {got[i]!r} vs closed form {float(want)!r} "
                f"(alpha={alpha}, rho={rho}, tol {tol:.3g})")
        if any(abs(float(v)) <= tol for v in row):
            event("near-tie: comparison stopped")
            break
        if k >= 2 and entered is None and all(abs(float(v)) < alpha / math.sqrt(1 - rho ** (k - 1)) for v in row):
            entered = k
    assert bool((run != 0).all()), "Prop B.4: an RMSProp coordinate became exactly 0"
    if entered is not None:
        k = steps
        band = alpha / math.sqrt(1 - rho ** (k - 1))
        assert float(run[k].abs().max()) < band * (1 + 1e-12)
        figure("late band alpha(1+delta_k)/alpha", band / alpha, keep="max")
        event("band phase reached")


@pytest.mark.theorem("T12", families={"rmsprop"})
@settings(max_examples=scaled(6))
@given(data=st.data(), beta0=floats_beta0, log2_lam=st.sampled_from([-3, -2, -1, 1, 2, 3]))
def test_phase_transition_ndgm_vs_rmsprop(optimizer_subject, placement, data, beta0, log2_lam):
    """[CUT] Prop B.11 and Fig. 6 (B.4): late in training NDGM's l1 norm averages exactly d alpha
    lam / 2 (Fraction oracle of Eq. 15), RMSProp's about d alpha / 2 (it acts as NDGM with lam = 1,
    Prop B.5): NDGM's is the smaller when lam < 1 and the larger when lam > 1."""
    lam = Fraction(2) ** log2_lam
    alpha = Fraction(1, 2 ** data.draw(st.integers(4, 6), label="-log2 alpha"))
    hp = dict(lr=float(alpha), alpha=data.draw(st.sampled_from([0.5, 0.9, 0.99]), label="rho"), eps=0.0,
              momentum=0.0, centered=False, weight_decay=0.0)
    window = 40
    d = len(beta0)
    s = alpha * lam  # a multiple of s is absorbed at 0 by NDGM (T10), a multiple of alpha by the
    # late RMSProp (step -> alpha exactly once 1 - rho^k rounds to 1): move b_0 off both lattices
    beta0 = [b * (1 - 2.0 ** -30) if (Fraction(b) / s).denominator == 1 or (Fraction(b) / alpha).denominator == 1
             else b for b in beta0]
    # late = after NDGM's entry into its cycle, K = floor(|b_0| / s) steps (Prop B.2; up to 512 here)
    steps = max(400, max(int(abs(Fraction(b)) / s) for b in beta0) + window + 2)
    rms = _lasso_run(optimizer_subject, placement, beta0, float(lam), hp, steps).iterates
    # Prop B.4's "non-sparse with probability 1" is about exact arithmetic: in float64 the slowly
    # drifting RMSProp cycle can land exactly on 0 (seen: b_0 = 1, alpha = 1/16, rho = 0.9, step 302)
    # and then stays there (T11(c)). Such rounding absorptions are counted, not compared.
    absorbed = bool((rms[-1] == 0).any())
    event(f"RMSProp absorbed at 0 by rounding: {absorbed}")
    assume(not absorbed)
    rms_late = float(rms[-window:].abs().sum(dim=1).mean())
    exact = ndgm_lasso([Fraction(b) for b in beta0], alpha, lam, steps)
    ndgm_late = float(sum(sum(abs(b) for b in row) for row in exact[-window:]) / window)
    assert ndgm_late == float(d * alpha * lam / 2)  # the NDGM cycle, exactly (T10)
    delta = 1 / math.sqrt(1 - hp["alpha"] ** (steps - window)) - 1
    assert 0.25 * d * float(alpha) < rms_late <= d * float(alpha) / 2 * (1 + delta) * 1.25, (
        f"{optimizer_subject}: late RMSProp l1 {rms_late:.4g} far from d alpha / 2 = {d * float(alpha) / 2:.4g}")
    if lam < 1:
        assert ndgm_late < rms_late
    else:
        assert ndgm_late > rms_late
    figure("late l1 / (d alpha/2), RMSProp", rms_late / (d * float(alpha) / 2), keep="max")
    event(f"lam = 2^{log2_lam}")


def _network_case(placement, seed, batch=3):
    gen = placement.generator(seed)
    net = Network.random([2, 5, 1], batch, generator=gen, dtype=placement.dtype, device=placement.device)
    x = torch.rand((8, 2), generator=gen, dtype=placement.dtype, device=placement.device) * 2 - 1
    y = torch.rand((8, 1), generator=gen, dtype=placement.dtype, device=placement.device)
    return net, x, y


SMOOTH = smooth_relu(4.0)  # no exactly-zero gradients: eps = 0 never sees 0/0


@pytest.mark.theorem("T12", capability="eps_free")
@settings(max_examples=scaled(5))
@given(data=st.data(), seed=seeds, j=st.integers(-10, 10).filter(bool), steps=st.integers(1, 25))
def test_scale_invariance_on_networks(optimizer_subject, placement, data, seed, j, steps):
    """THEOREMS.md T12(d), generalising [CUT] Prop B.5 and Eq. 22-27: Adam, Adagrad, RMSprop with eps = 0 give
    identical trajectories on f and 2^j f for any loss f — here random networks' MSE — bit for bit."""
    hp = data.draw(eps_free_hyperparameters(optimizer_subject.family))
    net, x, y = _network_case(placement, seed)
    finals = []
    for c in (1.0, 2.0 ** j):
        trained = net.trainable()
        train(trained, x, y, optimizer_subject, hp, steps, activation=SMOOTH,
              loss=lambda pred, yy, c=c: c * mse(pred, yy))
        finals.append(torch.cat([p.detach().flatten() for p in trained.parameters()]))
    assert_bitwise_equal(finals[1], finals[0], f"{optimizer_subject} on f and 2^{j} f")
    assert bool((finals[0] != torch.cat([p.flatten() for p in net.parameters()])).any())


@pytest.mark.theorem("T12", families={"sgd"})
@settings(max_examples=scaled(5))
@given(seed=seeds, j=st.integers(1, 4), steps=st.integers(1, 10))
def test_sgd_is_not_scale_invariant(optimizer_subject, placement, seed, j, steps):
    """THEOREMS.md T12(d) ([CUT] Eq. 15), the contrast: SGD on 2^j f takes 2^j times larger steps, so its
    trajectory differs from the one on f (exhibited on random networks)."""
    net, x, y = _network_case(placement, seed)
    finals = []
    for c in (1.0, 2.0 ** j):
        trained = net.trainable()
        train(trained, x, y, optimizer_subject, {"lr": 0.01, "weight_decay": 0.0}, steps, activation=SMOOTH,
              loss=lambda pred, yy, c=c: c * mse(pred, yy))
        finals.append(torch.cat([p.detach().flatten() for p in trained.parameters()]))
    assert bool((finals[0] != finals[1]).any()), f"{optimizer_subject}: SGD trajectory unchanged by scaling"
    figure("SGD |difference| f vs 2^j f", float((finals[0] - finals[1]).abs().max()), keep="min")
