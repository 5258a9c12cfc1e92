"""T14 — non-smooth rates.

[CUT] §3, eqs. (5)-(6): with a constant step, NDGM on a G-Lipschitz non-smooth f cannot get
closer than its oscillation (T10: f-values on the cycle up to d G s, s = alpha G), so accuracy eps
needs alpha <= eps/(d G^2) and then ~ ||x_0||_1/(alpha G) steps: polynomial in 1/eps (at most
1/eps^2, the subgradient method's worst case) — against O(log 1/eps) for GD on a strongly convex
quadratic. The exponents are measured (log-log slope of steps vs 1/eps) and ordered.
(T14(b), the capture-failure experiment of §A.1.3, is not encoded yet.)
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.examples import scaled
from harness.nonsmooth_runs import run_objective, steps_until_within
from harness.report import figure
from strategies.lasso import floats_beta0

EPSILONS = [2.0 ** -j for j in range(2, 7)]


def _slope(eps, steps):
    return float(np.polyfit(np.log(1 / np.asarray(eps)), np.log(np.asarray(steps, dtype=float)), 1)[0])


@pytest.mark.theorem("T14", families={"sgd"})
@settings(max_examples=scaled(3))
@given(x0=floats_beta0, G=st.sampled_from([0.5, 1.0]), curv=st.floats(0.2, 0.9))
def test_rate_exponents_are_ordered(optimizer_subject, placement, x0, G, curv):
    """[CUT] §3, eqs. (5)-(6): steps to reach (and stay within) accuracy eps grow polynomially in
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
