"""T8 — the risk of a critical point is at most the best-constant risk c* ([GM] Prop 2.10).

The output layer enters the realization linearly, so a zero gradient in the output weights and
bias makes the realization the L² projection of Y onto span{1, last hidden features}, which
contains the constants: L(θ) ≤ c* = Var(Y) (on data: the variance of the targets). Checked at
critical points of actual networks: (1) exact critical points of shallow ReLU networks (every
activation pattern's least-squares point that the pattern admits, gradient exactly 0 by an
independent exact gradient), (2) deep networks whose last hidden layer is inactive (exact), and
(3) deep networks trained by L-BFGS and verified critical to a stated tolerance.
"""
import math
from fractions import Fraction

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.experiments.critical_points import (default_realization, gradient_sup_norm,
                                                             output_layer_design, train_lbfgs)
from kinkcheck.harness.oracles import shallow_exact as ex

F = Fraction


@st.composite
def dyadic_data(draw, *, min_points=4, max_points=6):
    n = draw(st.integers(min_points, max_points), label="n")
    ks = draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n, unique=True), label="inputs")
    ys = draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n), label="targets")
    return [F(k, 4) for k in sorted(ks)], [F(k, 4) for k in ys]


def candidate_points(xs, ys, widths=(1, 2)):
    """Exact shallow networks: every pattern's admissible least-squares point (critical where the
    pattern is locally constant), a saddle at level c*, a dead network at the mean, and copies of
    each with the output bias moved by 1/4 (not critical: the bias gradient is 2 * 1/4)."""
    mean = sum(ys, F(0)) / len(ys)
    dead = ex.Neuron((F(0),), F(-1), F(0))
    nets = [net for h in widths for _p, _ls, net in ex.critical_points(xs, ys, h) if net is not None]
    nets += [ex.Shallow(mean, (ex.Neuron((F(0),), F(1), F(0)),)), ex.Shallow(mean, (dead,))]
    return nets + [ex.Shallow(n.c + F(1, 4), n.neurons) for n in nets]


def check_exact_critical_points(xs, ys, gradient=ex.exact_gradient):
    """Every candidate whose gradient is exactly 0 has risk <= c*; returns (critical, strict)."""
    c_star = ex.variance(ys)
    critical = strict = 0
    for net in candidate_points(xs, ys):
        if not gradient(net, xs, ys).is_zero():
            continue
        r = ex.risk(net, xs, ys)
        assert r <= c_star, f"T8: a critical point has risk {r} > c* = {c_star}: {net}"
        critical += 1
        strict += r < c_star
    return critical, strict


@pytest.mark.theorem("T8")
@settings(max_examples=scaled(6), deadline=None)
@given(case=dyadic_data(max_points=5))
def test_exact_critical_points_of_shallow_networks(case):
    """[GM] Prop 2.10, exactly: for ReLU networks of widths 1 and 2 with 1-d input on dyadic data,
    every exact point among the activation patterns' least-squares points, a saddle at level c*, a
    dead network and their output-bias shifts, whose exact gradient (PyTorch's a'(0) = 0) is 0, has
    risk <= c* = Var(Y) in rational arithmetic."""
    xs, ys = case
    critical, strict = check_exact_critical_points(xs, ys)
    assert_reached(critical > 0, "T8: exact critical points")
    event("some critical point strictly below c*" if strict else "all critical points at c*")
    figure("T8 exact critical points checked per example (max)", critical, keep="max")


def check_dead_deep_network(net: Network, x, y):
    """Make the last hidden layer strictly inactive on the data (exact), the output bias the mean:
    the exact gradient is 0 and the risk is c*."""
    deep = ex.Deep.from_torch(net)
    xs, ys = x.tolist(), [row[0] for row in y.tolist()]
    pts = [tuple(F(t) for t in p) for p in xs]
    last = len(deep.weights) - 2
    biases = list(deep.biases)
    pres = [deep.forward(p)[0][last] for p in pts]
    biases[last] = tuple(-(math.floor(max(pre[j] - b for pre in pres)) + 1) for j, b in enumerate(deep.biases[last]))
    biases[-1] = (sum((F(v) for v in ys), F(0)) / len(ys),)
    dead = ex.Deep(deep.weights, tuple(biases))
    assert all(all(t < 0 for t in dead.forward(p)[0][last]) for p in pts), "T8: construction: last layer not dead"
    risk, _out, grads = ex.deep_risk_and_gradient(dead, xs, ys)
    flat = [e for g in grads for row in g for e in (row if isinstance(row, tuple) else (row,))]
    assert all(e == 0 for e in flat), "T8: the dead-last-layer network is not an exact critical point"
    assert risk <= ex.variance(ys), f"T8: risk {risk} > c* at an exact critical point"
    return risk == ex.variance(ys)


@pytest.mark.theorem("T8")
@settings(max_examples=scaled(10), deadline=None)
@given(hidden=st.lists(st.integers(1, 4), min_size=1, max_size=3), d=st.integers(1, 2),
       n_points=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
def test_exact_critical_points_with_inactive_last_layer(hidden, d, n_points, seed):
    """[GM] Prop 2.10 (deep, exact): a network whose last hidden layer is strictly inactive on the
    data and whose output bias is the mean of Y is an exact critical point (every gradient entry
    is 0 in rational arithmetic) and its risk is <= c* (here = c*, the equality case)."""
    gen = torch.Generator().manual_seed(seed)
    net = Network.random([d] + hidden + [1], 1, generator=gen, init="normal")
    x = torch.rand(n_points, d, generator=gen, dtype=torch.float64) * 2 - 1
    y = torch.randn(n_points, 1, generator=gen, dtype=torch.float64)
    assert check_dead_deep_network(net, x, y), "T8: inactive last layer: risk differs from c*"


# Verified critical: sup-norm of the float64 gradient <= TAU. The claim is then checked exactly
# on the network with the computed last-layer features: L(theta) - (1/2) g^T H^+ g <= c*, where g is
# the exact output-layer gradient and H = (2/N) J^T J, J the output layer's design; the subtracted
# term is the exact excess of the output layer over its least-squares optimum (0 at a critical
# point), recorded as a figure.
TAU = 1e-7


def near_critical_slack(design: torch.Tensor, tau: float) -> float:
    """How far above its output layer's least-squares optimum a point whose output-layer gradient has
    sup-norm <= tau can be: the output layer's risk is the quadratic R(beta) = |D beta - y|^2 / N, so
    R(beta) - min R = (1/2) g^T H^+ g <= (1/2) m tau^2 / lambda_min^+(H), H = (2/N) D^T D (m columns of
    D, including the intercept). Prop 2.10 bounds min R by c* = Var(Y); so risk <= c* + this slack.
    lambda_min^+ is the smallest eigenvalue above 1e-12 of the largest (float64 eigvalsh)."""
    n, m = design.shape
    h = (2.0 / n) * design.T.double() @ design.double()
    eig = torch.linalg.eigvalsh(h)
    positive = eig[eig > 1e-12 * max(float(eig.max()), 0.0)]
    if positive.numel() == 0:  # R is constant in beta (D = 0): every beta is optimal
        return 0.0
    return 0.5 * m * tau ** 2 / float(positive.min())


def check_trained_critical_points(net: Network, x, y, realize=default_realization, rounds=3, max_iter=200):
    """L-BFGS on each network separately, restarted ``rounds`` times (fresh curvature memory)."""
    parts = []
    for b in range(net.batch):
        one = Network([w[b:b + 1] for w in net.weights], [c[b:b + 1] for c in net.biases])
        for _ in range(rounds):
            one = train_lbfgs(one, x, y, max_iter=max_iter, realize=realize)
        parts.append(one)
    trained = Network([torch.cat([p.weights[k] for p in parts]) for k in range(len(net.weights))],
                      [torch.cat([p.biases[k] for p in parts]) for k in range(len(net.biases))])
    gnorm = gradient_sup_norm(trained, x, y, realize=realize)
    design = output_layer_design(trained, x, realize)
    ys = [F(v) for v in y[:, 0].tolist()]
    c_star = ex.variance(ys)
    critical, strict, excess_max = 0, 0, 0.0
    for b in range(trained.batch):
        if float(gnorm[b]) > TAU:
            continue
        cols = [[F(v) for v in design[b, :, j].tolist()] for j in range(design.shape[-1])]
        beta = [F(v) for v in trained.weights[-1][b, 0].tolist()] + [F(float(trained.biases[-1][b, 0]))]
        fitted = [sum((bj * c[i] for bj, c in zip(beta, cols)), F(0)) for i in range(len(ys))]
        risk = sum(((f - t) ** 2 for f, t in zip(fitted, ys)), F(0)) / len(ys)
        excess = risk - ex.least_squares(cols, ys).risk  # = (1/2) g^T H^+ g exactly
        slack = near_critical_slack(design[b], TAU)
        assert risk <= c_star + F(slack), (
            f"T8 ([GM] Prop 2.10): at a verified critical point (|grad| <= {TAU}) the risk {float(risk):.9g} "
            f"exceeds c* = {float(c_star):.9g} by more than the near-criticality slack {slack:.3g}")
        critical += 1
        strict += risk < c_star
        excess_max = max(excess_max, float(excess / c_star))
    return critical, strict, excess_max


@pytest.mark.theorem("T8")
@settings(max_examples=scaled(3), deadline=None)
@given(hidden=st.lists(st.integers(2, 3), min_size=1, max_size=2), d=st.integers(1, 2),
       n_points=st.integers(6, 12), seed=st.integers(0, 2**32 - 1))
def test_trained_critical_points(hidden, d, n_points, seed):
    """[GM] Prop 2.10 at critical points found by optimisation: deep ReLU networks (4 per example;
    2 start with the last hidden layer inactive) trained by full-batch L-BFGS (3 restarts of 200
    iterations); at every end point verified critical (float64 gradient sup-norm <= 1e-7), exactly
    on the computed last-layer features: risk <= c* + (1/2) m tau^2 / lambda_min^+(H), the largest
    excess over the output layer's optimum that a gradient of sup-norm tau allows (H = (2/N) D^T D).
    A network class whose output layer cannot fit the mean (no intercept) breaks it."""
    gen = torch.Generator().manual_seed(seed)
    net = Network.random([d] + hidden + [1], 4, generator=gen, init="torch")
    net.biases[-2][2:] = -10.0  # inactive last hidden layer for half the networks (|W a| < 10 here)
    x = torch.rand(n_points, d, generator=gen, dtype=torch.float64) * 2 - 1
    y = torch.randn(n_points, 1, generator=gen, dtype=torch.float64)
    critical, strict, excess = check_trained_critical_points(net, x, y)
    assert_reached(critical > 0, "T8: trained end points verified critical")
    figure("T8 trained: verified critical / strictly below c*", f"{critical}/4, {strict}", keep="last")
    figure("T8 trained: max output-layer excess / c* at verified critical points", excess, keep="max")
