"""T7(e) — deleting an inactive neuron preserves the realization; no inactive neuron near m_H.

[GM] Prop 3.18 (with its proof): a neuron that is inactive on the data (output 0 at every point)
can be deleted without changing the realization, so a width-H network with an inactive neuron has
risk >= m_{H-1}; with m_{H-1} > m_H (Prop 3.11) every θ with L_H(θ) < m_H + ε, ε = m_{H-1} - m_H,
has no inactive neuron. Exact on dyadic data (``harness.oracles.shallow_exact``); the torch deletion
is compared with forward-error bounds derived from the kernels' rounding.
"""
from fractions import Fraction

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.outcomes import require
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.oracles import shallow_exact as ex
from kinkcheck.harness.oracles.embedding import delete_neuron, evaluate_with_bounds

F = Fraction
quarter = st.integers(-8, 8).map(lambda k: F(k, 4))


@st.composite
def networks_with_an_inactive_neuron(draw, *, max_width=3):
    """(xs, ys, net, j): sorted distinct dyadic 1-d data, a dyadic shallow ReLU network of width
    H <= max_width whose neuron j is inactive on the data (its pre-activation <= 0 at every point;
    = 0 at a point allowed: relu(0) = 0)."""
    n = draw(st.integers(3, 5), label="n")
    xs = [F(k, 4) for k in sorted(draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n, unique=True)))]
    ys = draw(st.lists(quarter, min_size=n, max_size=n), label="targets")
    width = draw(st.integers(1, max_width), label="H")
    neurons = [ex.Neuron((draw(quarter),), draw(quarter), draw(quarter)) for _ in range(width)]
    j = draw(st.integers(0, width - 1), label="inactive neuron")
    w = draw(quarter)
    top = max(w * x for x in xs)
    b = -top - draw(st.integers(0, 4)) * F(1, 4)  # pre-activation <= 0 everywhere, touching 0 allowed
    neurons[j] = ex.Neuron((w,), b, draw(quarter))
    return xs, ys, ex.Shallow(draw(quarter), tuple(neurons)), j


def check_deletion_exact(xs, ys, net, j, delete=ex.delete):
    assert j in ex.inactive_neurons(net, xs), "T7(e): construction: neuron not inactive"
    smaller = delete(net, j)
    assert smaller.width == net.width - 1, "T7(e): deletion did not remove one neuron"
    assert ex.realization(smaller, xs) == ex.realization(net, xs), \
        "T7(e): deleting an inactive neuron changed the realization"
    return smaller


@pytest.mark.theorem("T7")
@settings(max_examples=scaled(10), deadline=None)
@given(case=networks_with_an_inactive_neuron())
def test_deleting_an_inactive_neuron_preserves_the_realization(case):
    """[GM] Prop 3.18 (its proof's step), exactly: removing a neuron inactive on the data from a
    shallow ReLU network (width 1..3, dyadic) leaves the realization on the data, hence the risk,
    unchanged; so the risk is >= m_{H-1}, the exact best risk of width H - 1 (H - 1 <= 2)."""
    xs, ys, net, j = case
    smaller = check_deletion_exact(xs, ys, net, j)
    m = ex.best_risks(xs, ys, smaller.width)[smaller.width]
    require(m.exact, f"T7(e): m_{smaller.width} bracketed only")
    r = ex.risk(net, xs, ys)
    assert r >= m.upper, \
        f"T7(e): a width-{net.width} network with an inactive neuron has risk {r} < m_{smaller.width} = {m.upper}"
    event(f"H = {net.width}")


def check_no_inactive_neuron_near_m_H(xs, ys, H):
    """Prop 3.18's epsilon = m_{H-1} - m_H > 0 while m_{H-1} > 0; the infimum of L_H over networks with
    an inactive neuron is m_{H-1}, attained by the width-(H-1) minimizer plus an inactive neuron."""
    levels = ex.best_risks(xs, ys, H)
    for lv in levels:
        require(lv.exact, f"T7(e): m_{lv.width} bracketed only")
    below, top = levels[H].upper, levels[H - 1].upper
    if top == 0:
        return None
    eps = top - below
    assert eps > 0, f"T7(e): epsilon = m_{H - 1} - m_{H} = {eps} is not > 0"
    with_inactive = ex.embed(levels[H - 1].minimizer, 0, -1)
    require(ex.inactive_neurons(with_inactive, xs) == [0], "T7(e): construction: embedded neuron not inactive")
    assert ex.risk(with_inactive, xs, ys) == top, \
        "T7(e): the minimizer with an inactive neuron does not have risk m_{H-1}"
    return eps


@pytest.mark.theorem("T7")
@settings(max_examples=scaled(8), deadline=None)
@given(case=networks_with_an_inactive_neuron(max_width=2))
def test_no_inactive_neuron_below_m_H_plus_epsilon(case):
    """[GM] Prop 3.18 (ReLU, 1-d input): with eps = m_{H-1} - m_H (exact; > 0 by Prop 3.11 when
    m_{H-1} > 0), the width-H network with an inactive neuron drawn here has risk >= m_H + eps, and
    eps is sharp: the width-(H-1) minimizer plus an inactive neuron has risk exactly m_H + eps."""
    xs, ys, net, j = case
    check_deletion_exact(xs, ys, net, j)
    eps = check_no_inactive_neuron_near_m_H(xs, ys, net.width)
    if eps is None:
        event("m_{H-1} = 0: Prop 3.18 needs m_{H-1} > 0")
        return
    m_H = ex.best_risks(xs, ys, net.width)[net.width].upper
    r = ex.risk(net, xs, ys)
    assert r >= m_H + eps, f"T7(e): a network with an inactive neuron has risk {r} < m_H + eps = {m_H + eps}"
    figure("T7(e) smallest eps = m_{H-1} - m_H seen", float(eps), keep="min")


def check_deletion_float(net: Network, x, y, layer: int, index: int, delete=delete_neuron) -> int:
    """Float version: with neuron ``index`` of ``layer`` inactive, the network without it has the
    same realization and risk, and the same gradient on the remaining coordinates, within the sum
    of the two evaluations' forward-error bounds. Returns how many networks had decided masks."""
    small = delete(net, layer, index)
    full_e, small_e = evaluate_with_bounds(net, x, y), evaluate_with_bounds(small, x, y)
    err = (full_e.output - small_e.output).abs()
    bound = full_e.output_bound + small_e.output_bound
    assert bool((err <= bound).all()), \
        f"T7(e): realization changed by deleting an inactive neuron: {err.max().item():.3g}"
    decided = ~(full_e.ambiguous | small_e.ambiguous)
    keep = [i for i in range(net.weights[layer - 1].shape[1]) if i != index]
    for k, (g, gs, b, bs) in enumerate(zip(full_e.gradients, small_e.gradients, full_e.gradient_bounds,
                                           small_e.gradient_bounds)):
        if k in (2 * (layer - 1), 2 * (layer - 1) + 1):  # W_layer rows, B_layer entries
            g, b = g[:, keep], b[:, keep]
        elif k == 2 * layer:
            g, b = g[:, :, keep], b[:, :, keep]
        diff = (g - gs).abs()[decided]
        assert bool((diff <= (b + bs)[decided]).all()), f"T7(e): gradient of parameter {k} changed by the deletion"
    return int(decided.sum())


@pytest.mark.theorem("T7")
@settings(max_examples=scaled(10), deadline=None)
@given(hidden=st.lists(st.integers(1, 4), min_size=1, max_size=3), d=st.integers(1, 3),
       n_points=st.integers(2, 20), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_deleting_an_inactive_neuron_in_floating_point(placement, hidden, d, n_points, data, seed):
    """[GM] Prop 3.18's step in the placement's dtype: deleting a neuron whose bias makes it inactive
    on the data (bias = -(1 + sum_i |w_i|) on inputs in [-1, 1]^d, 16 networks) leaves
    realization and the remaining coordinates' gradient unchanged within the derived rounding bounds."""
    layer = data.draw(st.integers(1, len(hidden)))
    index = data.draw(st.integers(0, hidden[layer - 1] - 1))
    gen = placement.generator(seed)
    net = Network.random([d] + hidden + [1], 16, generator=gen, dtype=placement.dtype, device=placement.device,
                         init="normal")
    x = torch.rand(n_points, d, generator=gen, dtype=placement.dtype, device=placement.device) * 2 - 1
    y = torch.randn(n_points, 1, generator=gen, dtype=placement.dtype, device=placement.device)
    z = net.preactivations(x)[layer - 1][..., index]  # (16, N) inputs of that neuron
    net.biases[layer - 1][:, index] -= z.amax(dim=-1) + 1  # now <= -1 on the data
    require(bool((net.preactivations(x)[layer - 1][..., index] < 0).all()),
            f"T7(e): construction: neuron still active in {placement.dtype} (a bug of the suite, not of torch)")
    compared = check_deletion_float(net, x, y, layer, index)
    assert_reached(compared > 0, "T7(e): gradients compared for at least one network")
