"""T14 — non-smooth rates.

[CUT] §3, eqs. (5)-(6): with a constant step, NDGM on a G-Lipschitz non-smooth f cannot get
closer than its oscillation (T10: f-values on the cycle up to d G s, s = alpha G), so accuracy eps
needs alpha <= eps/(d G^2) and then ~ ||x_0||_1/(alpha G) steps: polynomial in 1/eps (at most
1/eps^2, the subgradient method's worst case) — against O(log 1/eps) for GD on a strongly convex
quadratic. The exponents are measured (log-log slope of steps vs 1/eps) and ordered.
T14(b), [CUT] Prop A.1 and §A.1.3: under the step rule "lr x 0.9 whenever the loss increased",
NDGM on eq. (3)'s dead region ends with a float64 loss that is monotone (constant) while
||b||_1 keeps alternating between two separated bands — no capture; GD on a smooth quadratic
under the same rule is captured. The suite also states why the loss looks monotone: in exact
arithmetic it alternates by lam * (band gap), which is below half an ulp of the constant data term.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.experiments.nonsmooth_runs import run_objective, steps_until_within
from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.records import figure
from kinkcheck.strategies.lasso import floats_beta0

EPSILONS = [2.0 ** -j for j in range(2, 7)]


def _slope(eps, steps):
    return float(np.polyfit(np.log(1 / np.asarray(eps)), np.log(np.asarray(steps, dtype=float)), 1)[0])


@pytest.mark.theorem("T14", families={"sgd"})
@settings(max_examples=scaled(3))
@given(x0=floats_beta0, G=st.sampled_from([0.5, 1.0]), curv=st.floats(0.2, 0.9))
def test_rate_exponents_are_ordered(optimizer_subject, placement, x0, G, curv):
    """[CUT] Sec 3, Eq. 5-6: steps to reach (and stay within) accuracy eps grow polynomially in
    1/eps for NDGM on G||x||_1 at the best constant step alpha = eps/(d G^2) (measured exponent in
    [0.8, 2.2]: Theta(1/eps) here, within the O(1/eps^2) worst case), but only logarithmically for
    GD on a quadratic (steps <= log(f_0/eps)/log(1/(1-mu/L)^2) + 1); the NDGM exponent is larger."""
    x0 = x0[:3]
    d = len(x0)
    start = placement.tensor(x0)
    start = start * (2 / start.abs().sum())  # ||x_0||_1 = 2 >> eps: the asymptotic regime
    nd, gd = [], []
    for eps in EPSILONS:
        alpha = eps / (d * G ** 2)
        horizon = int(float(start.abs().max()) / (alpha * G)) + 8
        run = run_objective(optimizer_subject, start, lambda p: G * p.abs().sum(), {"lr": alpha, "weight_decay": 0.0}, horizon)
        n = steps_until_within(run.losses, eps)
        assert n is not None, f"{optimizer_subject}: NDGM never stayed within eps={eps} at alpha=eps/(d G^2)"
        nd.append(max(n, 1))
        h = placement.tensor([curv] + [1.0] * (d - 1))  # mu = curv, L = 1, alpha = 1/L
        quad = lambda p: 0.5 * (h * p * p).sum()
        f0 = float(quad(start))
        bound = math.ceil(math.log(max(f0, eps) / eps) / (2 * -math.log(1 - curv))) + 1
        qrun = run_objective(optimizer_subject, start, quad, {"lr": 1.0, "weight_decay": 0.0}, bound + 2)
        m = steps_until_within(qrun.losses, eps)
        assert m is not None and m <= bound, f"{optimizer_subject}: GD on the quadratic needed {m} > {bound} steps"
        gd.append(max(m, 1))
    s_nd, s_gd = _slope(EPSILONS, nd), _slope(EPSILONS, gd)
    assert 0.8 <= s_nd <= 2.2, f"{optimizer_subject}: NDGM exponent {s_nd:.3g} (steps {nd})"
    assert s_gd < s_nd, f"{optimizer_subject}: GD exponent {s_gd:.3g} not below NDGM's {s_nd:.3g}"
    figure("NDGM steps-vs-1/eps exponent", s_nd, keep="min")
    figure("GD (quadratic) steps-vs-1/eps exponent", s_gd, keep="max")


CAPTURE_STEPS = 2000
TAIL = 400
LAM = 1e-3


def _decay_on_increase(_, losses):
    """[CUT] Appendix A.1 code: the learning rate is multiplied by 0.9 whenever the loss increased."""
    return 0.9 if len(losses) >= 2 and losses[-1] > losses[-2] else 1.0


@st.composite
def dead_region_problems(draw, placement):
    """eq. (3) with y in [-0.99, -0.9]^n (as in §A.1.3) on its dead region {X b < 0}: there the data
    term is the constant ||y||^2 (T10 checks that equivalence bit for bit), so the objective is
    ||y||^2 + lam ||b||_1 with lam = 1e-3, started from b_0 in [-0.1, 0.1]^d."""
    gen = placement.generator(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.sampled_from([1000, 5000]))
    y = -(0.9 + 0.09 * torch.rand(n, generator=gen, dtype=torch.float64, device=placement.device))
    d = draw(st.integers(1, 6))
    b0 = (torch.rand(d, generator=gen, dtype=torch.float64, device=placement.device) * 0.2 - 0.1)
    return float((y * y).sum()), b0, draw(st.sampled_from([0.25, 0.5]))


@pytest.mark.theorem("T14", families={"sgd"})
@settings(max_examples=scaled(2))
@given(data=st.data())
def test_monotone_loss_without_capture(optimizer_subject, placement, data):
    """[CUT] Sec 3, Prop A.1 (capture theorem) and §A.1.3: with the step shrunk x0.9 on every loss increase,
    NDGM on eq. (3)'s dead region reaches a tail where the float64 loss never increases, yet ||b||_1
    keeps alternating between two bands separated by a gap much larger than their width — the
    iterates are not captured. The same rule on C + 1/2 sum h_i b_i^2 (smooth) captures them:
    ||b||_1 decreases monotonically to 0. Exact arithmetic explains the monotone loss: it alternates
    by lam * gap < ulp(C) / 2, invisible next to the constant data term C."""
    C, b0, lr = data.draw(dead_region_problems(placement))
    nd = run_objective(optimizer_subject, b0, lambda p: C + LAM * p.abs().sum(),
                       {"lr": lr, "weight_decay": 0.0}, CAPTURE_STEPS, lr_rule=_decay_on_increase)
    tail_losses = nd.losses[-TAIL:]
    assert_reached(all(b <= a for a, b in zip(tail_losses, tail_losses[1:])), "the loss never became monotone")
    norms = nd.iterates[-TAIL:].abs().sum(dim=1)
    even, odd = norms[0::2], norms[1::2]
    width = max(float(even.max() - even.min()), float(odd.max() - odd.min()))
    gap = abs(float(even.mean() - odd.mean())) - width
    assert gap > 0 and gap > 100 * width, (f"{optimizer_subject}: ||b||_1 did not keep two separated bands "
                                           f"(gap {gap:.3g}, band width {width:.3g})")
    ulp_c = math.ulp(C)
    assert LAM * (gap + width) < ulp_c, (f"exact loss alternates by {LAM * gap:.3g} >= ulp(C) = {ulp_c:.3g}, "
                                         "yet the float loss was monotone")
    h = 0.5 + 0.5 * torch.arange(1, b0.numel() + 1, dtype=b0.dtype, device=b0.device) / b0.numel()
    smooth = run_objective(optimizer_subject, b0, lambda p: C + 0.5 * (h * p * p).sum(),
                           {"lr": lr, "weight_decay": 0.0}, CAPTURE_STEPS // 4, lr_rule=_decay_on_increase)
    s_norms = smooth.iterates.abs().sum(dim=1)
    assert bool((s_norms[1:] <= s_norms[:-1]).all()), f"{optimizer_subject}: GD on the quadratic is not captured"
    assert float(s_norms[-1]) <= 1e-12 * float(s_norms[0]), "GD on the quadratic did not converge"
    figure("NDGM tail: gap between the ||b||_1 bands", gap, keep="min")
    figure("NDGM tail: width of a ||b||_1 band", width, keep="max")
    figure("lam * band gap / ulp(C)", LAM * gap / ulp_c, keep="max")
