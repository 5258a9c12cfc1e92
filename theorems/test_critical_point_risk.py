"""T8 — the risk of a critical point is at most the best-constant risk.

[GM] Prop 2.10: the output layer enters the realization linearly, so zero gradient in the output
weights and bias makes the realization the L² projection of Y onto span{1, hidden features} — a
space that contains the constants. Hence L(θ) ≤ c* = Var(Y) (on data: the sample variance).
"""
from fractions import Fraction

import pytest
import sympy as sp
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.records import figure


def with_intercept(features: torch.Tensor) -> torch.Tensor:
    """(B, N, l) -> (B, N, l + 1): the output layer's design matrix [features, 1]."""
    return torch.cat([features, torch.ones_like(features[..., :1])], dim=-1)


def least_squares_risk(features: torch.Tensor, y: torch.Tensor, design=with_intercept) -> torch.Tensor:
    """Empirical risk (B,) after solving the output layer by least squares (pseudo-inverse: rank-
    deficient designs, from dead neurons, included; works on every device)."""
    a = design(features)
    beta = torch.linalg.pinv(a) @ y
    return ((a @ beta - y) ** 2).mean(dim=(-2, -1))


def check_float_risk(features, y, design=with_intercept):
    """Risk after the least-squares output layer ≤ sample variance, up to rounding: relative 1e-9
    (pinv in float64 is backward stable; its rank cut-off may drop a direction of size ~1e-15·‖A‖,
    which changes the risk far less than 1e-9 of Var Y for the O(1) data generated here)."""
    risk = least_squares_risk(features, y, design)
    variance = ((y - y.mean()) ** 2).mean()
    excess = risk - variance
    assert bool((excess <= 1e-9 * variance).all()), \
        f"risk at the output-layer critical point exceeds c*: {risk.max().item()} > {variance.item()}"
    return risk, variance


def exact_critical_output_layer(features: list[list[Fraction]], y: list[Fraction], intercept=True):
    """Exact (sympy rationals) least-squares output layer: returns (risk, variance, gradient)."""
    rows = [[sp.Rational(v.numerator, v.denominator) for v in row] + ([sp.Integer(1)] if intercept else [])
            for row in features]
    a = sp.Matrix(rows)
    yv = sp.Matrix([sp.Rational(v.numerator, v.denominator) for v in y])
    beta = a.pinv() * yv
    residual = a * beta - yv
    n = len(y)
    gradient = (2 * a.T * residual) / n  # ∂L/∂(output weights, bias)
    risk = sum(r ** 2 for r in residual) / n
    mean = sum(yv) / n
    variance = sum((v - mean) ** 2 for v in yv) / n
    return risk, variance, gradient


@pytest.mark.theorem("T8")
@settings(max_examples=scaled(20))
@given(hidden=st.lists(st.integers(1, 8), min_size=1, max_size=3), d=st.integers(1, 3),
       n_points=st.integers(2, 40), seed=st.integers(0, 2**32 - 1), init=st.sampled_from(["torch", "normal"]))
def test_least_squares_output_layer_risk_at_most_variance(placement, hidden, d, n_points, seed, init):
    """[GM] Prop 2.10: for generated hidden layers (64 networks at once), the output layer that zeroes
    the output-layer gradient (least squares on [features, 1]) has empirical risk ≤ the sample
    variance of Y, up to rounding (relative 1e-9)."""
    gen = placement.generator(seed)
    net = Network.random([d] + hidden + [1], 64, generator=gen, dtype=placement.dtype,
                         device=placement.device, init=init)
    x = torch.rand(n_points, d, generator=gen, dtype=placement.dtype, device=placement.device) * 2 - 1
    y = torch.randn(n_points, 1, generator=gen, dtype=placement.dtype, device=placement.device) + 3.0
    features = torch.relu(net.preactivations(x)[-1])
    risk, variance = check_float_risk(features, y)
    dead = int((features == 0).all(dim=1).all(dim=-1).sum())
    event("some network entirely dead on the data" if dead else "all networks alive")
    figure("max risk / c* at least-squares output layers", float((risk / variance).max()), keep="max")


@st.composite
def dyadic_cases(draw):
    """(features (n x l, entries >= 0 on the grid 1/4), targets (n, non-constant, grid 1/4))."""
    n, width = draw(st.integers(2, 8)), draw(st.integers(1, 3))
    quarter = st.integers(-8, 8).map(lambda k: Fraction(k, 4))
    features = [tuple(max(draw(quarter), Fraction(0)) for _ in range(width)) for _ in range(n)]
    y = [draw(quarter) for _ in range(n)]
    if len(set(y)) == 1:
        y[0] += 1  # never constant
    return features, y


@pytest.mark.theorem("T8")
@settings(max_examples=scaled(15))
@given(case=dyadic_cases())
def test_exact_critical_point_risk(case):
    """[GM] Prop 2.10, exactly: for dyadic ReLU features (≥ 0) and targets, in rational arithmetic the
    least-squares output layer has gradient exactly 0 and risk ≤ the sample variance."""
    features, y = case
    risk, variance, gradient = exact_critical_output_layer([list(r) for r in features], list(y))
    assert all(g == 0 for g in gradient), f"output-layer gradient not zero: {list(gradient)}"
    assert risk <= variance, f"exact risk {risk} > c* {variance}"
    event("risk < c*" if risk < variance else "risk = c* (features add nothing)")
