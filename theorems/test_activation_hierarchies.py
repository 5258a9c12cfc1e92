"""T7(f) — the hierarchy of risk levels for clipped ReLU, RePU and multi-dimensional ReLU.

[GM] Cor 3.15 (a(t) = min(max(t, 0), c)^p: clipped ReLU for p = 1, c < ∞; RePU for c = ∞),
Cor 3.16 (ReLU, d = 1), Cor 3.17 (ReLU, d > 1) specialise Cor 3.14 through three ingredients,
each asserted here exactly (rational arithmetic, ``harness.oracles.shallow_exact``) for each
activation: (i) embedding a neuron with incoming 0, bias < 0, outgoing 0 preserves realization,
risk and old-coordinate gradient (the activations are constant on (-∞, 0]); (ii) the level m_0
(best constant) embedded into any width is a local minimum; (iii) Prop 3.11's step: from any
network with nonzero residual, one added neuron strictly lowers the risk (the activations are
discriminatory), so the construction from the constant gives width-H points at H + 1 strictly
decreasing risks. The exact best risks m_h themselves are computed only for ReLU with d = 1 (T7(c),
T7(d)); for these activations the suite does not certify the levels m_1, ... as minima.
"""
from fractions import Fraction

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.oracles import shallow_exact as ex

F = Fraction
quarter = st.integers(-8, 8).map(lambda k: F(k, 4))
ACTIVATIONS = {  # name -> (activation, input dimension); Cor 3.15 covers clipped/RePU, 3.17 ReLU with d = 2
    "clipped(1)": (ex.clipped(1), 1), "clipped(1/2)": (ex.clipped(F(1, 2)), 2), "repu(2)": (ex.repu(2), 1),
    "repu(3)": (ex.repu(3), 2), "relu d=2": (ex.RELU, 2),
}


@st.composite
def shallow_cases(draw, d: int):
    n = draw(st.integers(3, 6), label="n")
    pts = draw(st.lists(st.tuples(*[st.integers(-8, 8)] * d), min_size=n, max_size=n, unique=True), label="inputs")
    xs = [tuple(F(k, 4) for k in p) for p in pts]
    ys = draw(st.lists(quarter, min_size=n, max_size=n), label="targets")
    width = draw(st.integers(0, 2), label="width")
    neurons = tuple(ex.Neuron(tuple(draw(quarter) for _ in range(d)), draw(quarter), draw(quarter))
                    for _ in range(width))
    net = ex.Shallow(draw(quarter), neurons)
    return xs, ys, net


def check_embedding_preserves(net, xs, ys, act, embed=ex.embed, at=0, bias=-1):
    wide = embed(net, at, bias)
    assert ex.realization(wide, xs, act) == ex.realization(net, xs, act), \
        f"T7(f) {act}: embedding changed the realization"
    g, gw = ex.exact_gradient(net, xs, ys, act), ex.exact_gradient(wide, xs, ys, act)
    new = gw.neurons[at]
    old = gw.neurons[:at] + gw.neurons[at + 1:]
    assert gw.c == g.c and old == g.neurons, f"T7(f) {act}: gradient changed on the old coordinates"
    assert all(e == 0 for e in (*new[0], new[1], new[2])), f"T7(f) {act}: gradient not 0 on the new coordinates"


def check_hierarchy(xs, ys, act, H=3):
    """The constant, then Prop 3.11 steps: risks strictly decrease while the residual is nonzero;
    each point embedded into width H keeps its risk; the width-H constant is a local minimum."""
    mean = sum(ys, F(0)) / len(ys)
    level0 = ex.embed(ex.embed(ex.embed(ex.Shallow(mean), None, -1), None, -1), None, -1) if H == 3 else None
    assert ex.certify_by_reduction(level0, xs, ys, [ex.variance(ys)], act), \
        f"T7(f) {act}: level m_0 not a local minimum"
    risks, net = [ex.variance(ys)], ex.Shallow(mean)
    for _ in range(H):
        if risks[-1] == 0:
            break
        step = ex.residual_correlating_neuron(net, xs, ys, act)
        assert step is not None, f"T7(f) {act}: no neuron correlates with a nonzero residual (not discriminatory?)"
        net = ex.with_neuron(net, step[0])
        r = ex.risk(net, xs, ys, act)
        assert r < risks[-1], f"T7(f) {act}: Prop 3.11 step did not lower the risk: {r} >= {risks[-1]}"
        wide = net
        while wide.width < H:
            wide = ex.embed(wide, None, -1)
        assert ex.risk(wide, xs, ys, act) == r, f"T7(f) {act}: embedding into width {H} changed the risk"
        risks.append(r)
    return risks


@pytest.mark.theorem("T7")
@pytest.mark.parametrize("name", list(ACTIVATIONS))
@settings(max_examples=scaled(6), deadline=None)
@given(data=st.data())
def test_clipping_repu_and_multidimensional_hierarchies(name, data):
    """[GM] Cor 3.15 (clipped ReLU, RePU), Cor 3.17 (ReLU, d = 2), exactly: (i) embedding preserves
    realization and old-coordinate gradient, new gradient 0; (ii) the best constant embedded into
    width 3 is a local minimum (new neurons strictly inactive, m_0 = Var(Y)); (iii) from the
    constant, 3 of Prop 3.11's steps (a neuron correlating with the residual, exact line search)
    give strictly decreasing risks while the residual is nonzero, kept by embedding into width 3."""
    act, d = ACTIVATIONS[name]
    xs, ys, net = data.draw(shallow_cases(d))
    check_embedding_preserves(net, xs, ys, act, at=data.draw(st.integers(0, net.width)),
                              bias=-F(data.draw(st.integers(1, 8)), 4))
    risks = check_hierarchy(xs, ys, act)
    event(f"{len(set(risks))} distinct risk levels")
    figure(f"T7(f) {name}: distinct risk levels from the constant (min)", len(set(risks)), keep="min")
