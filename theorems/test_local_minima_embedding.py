"""T7 — embedding critical points and local minima into larger architectures; the risk levels.

[GM] Lemma 2.11, Prop 2.12, Prop 3.3: appending to a hidden layer a neuron with incoming weights
0, bias < 0 and outgoing weight 0 changes neither the realization on the data nor the risk; the
gradient equals θ's on the old coordinates and is exactly 0 on the new ones (T7(a)), and a local
minimum stays a local minimum (T7(b), Lemma 2.11(ii)/Prop 2.12(ii)). [GM] Prop 3.11/Cor 3.12: the
best risks m_h = inf L_h decrease strictly while positive (T7(d)). [GM] Cor 3.14/3.16: so the
width-H landscape has local minima at the H + 1 levels m_0 > m_1 > ... > m_H (T7(c)).

Exact arithmetic (``harness.oracles.shallow_exact``) wherever the construction allows; the float
comparisons of T7(a) use forward-error bounds derived from the kernels' rounding
(``harness.oracles.embedding.evaluate_with_bounds``).
"""
from fractions import Fraction

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_all_exactly_zero, assert_reached
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.outcomes import require
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.experiments.critical_points import train_lbfgs
from kinkcheck.harness.oracles import shallow_exact as ex
from kinkcheck.harness.oracles.embedding import embed_neuron, evaluate_with_bounds

F = Fraction


# ---------------------------------------------------------------------- T7(a) float, derived bounds
def _old(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t[tuple(slice(0, n) for n in like.shape)]


def _assert_within(actual, expected, bound, what):
    err = (actual.to(torch.float64) - expected.to(torch.float64)).abs()
    bad = err > bound
    if bool(bad.any()):
        i = bad.nonzero()[0].tolist()
        raise AssertionError(f"T7(a): {what} differ by {err[tuple(i)].item():.3g} > rounding bound "
                             f"{bound[tuple(i)].item():.3g} at {i}")
    ratio = (err / bound.clamp_min(1e-300)).max().item() if err.numel() else 0.0
    figure("T7(a) max |difference| / derived rounding bound", ratio, keep="max")


def check_embedding(net: Network, layer: int, x, y, embed=embed_neuron) -> int:
    """The float property body (embedding injectable for the mutation self-tests). Returns the
    number of networks whose gradients were compared (the others have a pre-activation within its
    rounding bound of 0, where the float ReLU mask is not determined by the exact value)."""
    big = embed(net, layer)
    small_e, big_e = evaluate_with_bounds(net, x, y), evaluate_with_bounds(big, x, y)
    _assert_within(big_e.output, small_e.output, big_e.output_bound + small_e.output_bound,
                   "realizations before and after embedding")
    _assert_within(big_e.risk, small_e.risk, big_e.risk_bound + small_e.risk_bound, "risks before and after embedding")
    figure("T7(a) realization bit-identical after embedding", bool((big_e.output == small_e.output).all()), keep="min")
    decided = ~(small_e.ambiguous | big_e.ambiguous)
    for k, (g, g_big, b, b_big) in enumerate(zip(small_e.gradients, big_e.gradients,
                                                 small_e.gradient_bounds, big_e.gradient_bounds)):
        old = _old(g_big, g)
        _assert_within(old[decided], g[decided], (_old(b_big, g) + b)[decided],
                       f"gradients of parameter {k} on the old coordinates")
        mask = torch.ones_like(g_big, dtype=torch.bool)
        mask[tuple(slice(0, n) for n in g.shape)] = False
        assert_all_exactly_zero(g_big[mask], f"T7(a): gradient of parameter {k} on the new coordinates")
    return int(decided.sum())


@pytest.mark.theorem("T7")
@settings(max_examples=scaled(20))
@given(hidden=st.lists(st.integers(0, 5), min_size=1, max_size=3), d=st.integers(1, 3),
       n_points=st.integers(2, 24), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_embedded_neuron_preserves_realization_risk_and_gradient(placement, hidden, d, n_points, data, seed):
    """[GM] Lemma 2.11(i), Prop 2.12(i), Prop 3.3 in the placement's dtype: after appending a neuron
    (incoming 0, bias -1, outgoing 0) realization, risk and old-coordinate gradients differ from the
    original network's by at most the sum of the two evaluations' forward-error bounds (gamma_n
    times the sums of absolute products, propagated through the layers), and the new coordinates'
    gradient is exactly 0 (16 networks, widths 0..5)."""
    layer = data.draw(st.integers(1, len(hidden)))
    gen = placement.generator(seed)
    net = Network.random([d] + hidden + [1], 16, generator=gen, dtype=placement.dtype, device=placement.device,
                         init="normal")  # (nn.Linear's init is undefined for width 0)
    x = torch.rand(n_points, d, generator=gen, dtype=placement.dtype, device=placement.device) * 4 - 2
    y = torch.randn(n_points, 1, generator=gen, dtype=placement.dtype, device=placement.device)
    compared = check_embedding(net, layer, x, y)
    assert_reached(compared > 0, "T7(a): gradients compared for at least one network")
    event(f"embedded into width {hidden[layer - 1]} -> {hidden[layer - 1] + 1}")


# ---------------------------------------------------------------------- T7(a) exact
def check_embedding_exact(net: Network, layer: int, x, y, embed=embed_neuron) -> None:
    """Exact version: the float parameters and data are dyadic rationals; both networks are
    evaluated in Fractions and must agree exactly."""
    big = embed(net, layer)
    small, wide = ex.Deep.from_torch(net), ex.Deep.from_torch(big)
    xs, ys = x.tolist(), y.tolist()
    risk, out, grads = ex.deep_risk_and_gradient(small, xs, ys)
    risk_big, out_big, grads_big = ex.deep_risk_and_gradient(wide, xs, ys)
    assert out_big == out, "T7(a): exact realization changed by the embedding"
    assert risk_big == risk, f"T7(a): exact risk changed by the embedding: {risk} -> {risk_big}"
    for k, (g, gb) in enumerate(zip(grads, grads_big)):
        if k % 2 == 0:  # weights: rows x columns
            cols = len(g[0]) if g else 0
            old = tuple(tuple(row[:cols]) for row in gb[:len(g)])
            new = [e for i, row in enumerate(gb) for j, e in enumerate(row) if i >= len(g) or j >= cols]
        else:
            old, new = gb[:len(g)], list(gb[len(g):])
        assert old == g, f"T7(a): exact gradient of parameter {k} differs on the old coordinates"
        assert all(e == 0 for e in new), f"T7(a): exact gradient of parameter {k} not 0 on the new coordinates: {new}"


@pytest.mark.theorem("T7")
@settings(max_examples=scaled(15), deadline=None)
@given(hidden=st.lists(st.integers(1, 4), min_size=1, max_size=3), d=st.integers(1, 2),
       n_points=st.integers(2, 10), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_embedded_neuron_exact(hidden, d, n_points, data, seed):
    """[GM] Lemma 2.11(i), Prop 2.12(i) exactly: for a float64 network (its parameters and data are
    dyadic rationals) and the harness's embedding, the realizations, risks and old-coordinate
    gradients computed in rational arithmetic are equal, and the new coordinates' gradient is 0."""
    layer = data.draw(st.integers(1, len(hidden)))
    gen = torch.Generator().manual_seed(seed)
    net = Network.random([d] + hidden + [1], 1, generator=gen, init="normal")
    x = torch.rand(n_points, d, generator=gen, dtype=torch.float64) * 4 - 2
    y = torch.randn(n_points, 1, generator=gen, dtype=torch.float64)
    check_embedding_exact(net, layer, x, y)


# ---------------------------------------------------------------------- data for the exact landscape
@st.composite
def dyadic_data(draw, *, min_points=4, max_points=6):
    """Sorted distinct inputs on the grid 1/4 in [-2, 2] and targets on the grid 1/4 in [-2, 2]."""
    n = draw(st.integers(min_points, max_points), label="n")
    ks = draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n, unique=True), label="inputs")
    xs = [F(k, 4) for k in sorted(ks)]
    ys = [F(k, 4) for k in draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n), label="targets")]
    return xs, ys


# ---------------------------------------------------------------------- T7(b)
def check_local_minima_embed(xs, ys, widths=(1, 2), embed=ex.embed, rng=None) -> int:
    """Every critical point of widths 1..2 with a constant pattern (certified local minimum) and
    every exact global minimum, embedded one or two times at random positions with random negative
    biases, is again a certified local minimum of the wider risk with the same risk."""
    rng = rng or __import__("random").Random(0)
    levels = ex.best_risks(xs, ys, max(widths))
    checked = 0
    for h in widths:
        minima = [net for _p, _ls, net in ex.critical_points(xs, ys, h)
                  if net is not None and ex.certify_local_minimum(net, xs, ys)]
        for net in minima + [levels[h].minimizer]:
            wide = net
            for _ in range(rng.randint(1, 2)):
                wide = embed(wide, rng.randint(0, wide.width), -F(rng.randint(1, 8), 4))
            assert ex.realization(wide, xs) == ex.realization(net, xs), "T7(b): embedding changed the realization"
            if net is levels[h].minimizer:
                require(all(lv.exact for lv in levels), "T7(b): m_h not determined exactly by the oracle")
                ok = ex.certify_by_reduction(wide, xs, ys, [lv.upper for lv in levels])
            else:
                ok = ex.certify_local_minimum(wide, xs, ys)
            assert ok, (f"T7(b): a local minimum of width {h} (risk {ex.risk(net, xs, ys)}) is not a certified "
                        f"local minimum after embedding into width {wide.width}: {wide}")
            checked += 1
    return checked


@pytest.mark.theorem("T7")
@settings(max_examples=scaled(8), deadline=None)
@given(case=dyadic_data(max_points=5), seed=st.integers(0, 2**32 - 1))
def test_embedded_local_minima_remain_local_minima(case, seed):
    """[GM] Lemma 2.11(ii), Prop 2.12(ii): for ReLU networks with 1-d input on dyadic data, every
    local minimum of width 1 or 2 certified exactly (pattern constant near it and residual orthogonal
    to the local design) and every exact global minimum, embedded once or twice (incoming 0, random
    bias < 0, outgoing 0, random position), is an exactly certified local minimum of the wider risk."""
    import random

    checked = check_local_minima_embed(*case, rng=random.Random(seed))
    assert_reached(checked > 0, "T7(b): certified local minima to embed")
    figure("T7(b) local minima embedded and re-certified (per example, max)", checked, keep="max")


# ---------------------------------------------------------------------- T7(d)
def check_strict_decrease(xs, ys, max_width=2, oracle=ex.best_risks):
    """Exact m_0..m_max_width; strict decrease while positive; Prop 3.11's improving neuron."""
    levels = oracle(xs, ys, max_width)
    for lv in levels:
        require(lv.exact, f"T7(d): m_{lv.width} bracketed only, [{lv.lower}, {lv.upper}]")
    assert levels[0].upper == ex.variance(ys), "T7(d): m_0 is not the variance of Y (best constant)"
    for k in range(len(xs) - 1):  # independent check of m_1: kinks on a grid of 1/8 of each gap, exact least squares
        for j in range(1, 8):
            t = xs[k] + (xs[k + 1] - xs[k]) * j / 8
            for side in (1, -1):
                col = [max(side * (x - t), F(0)) for x in xs]
                r = ex.least_squares([[F(1)] * len(xs), col], ys).risk
                assert r >= levels[1].upper, f"T7(d): a width-1 network with a kink at {t} beats the oracle's m_1"
    for a, b in zip(levels, levels[1:]):
        if a.upper > 0:
            assert b.upper < a.upper, f"T7(d): m_{b.width} = {b.upper} is not < m_{a.width} = {a.upper}"
            step = ex.residual_correlating_neuron(a.minimizer, xs, ys)
            assert step is not None, f"T7(d): no neuron correlates with the nonzero residual at m_{a.width}"
            improved = ex.with_neuron(a.minimizer, step[0])
            r = ex.risk(improved, xs, ys)
            assert r == a.upper - step[1] and r < a.upper, "T7(d): the added neuron does not lower the risk"
            assert r >= b.upper, f"T7(d): a width-{b.width} network beats the oracle's m_{b.width}: {r} < {b.upper}"
        else:
            assert b.upper == 0, f"T7(d): m_{a.width} = 0 but m_{b.width} = {b.upper}"
    return levels


@pytest.mark.theorem("T7")
@settings(max_examples=scaled(10), deadline=None)
@given(case=dyadic_data(max_points=5))
def test_best_risk_decreases_strictly_with_width(case):
    """[GM] Prop 3.11, Cor 3.12 (ReLU, 1-d input, so global minima exist): the exact best risks
    satisfy m_0 = Var(Y) and m_{h+1} < m_h whenever m_h > 0 (h = 0, 1), and at the width-h global
    minimum the neuron of Prop 3.11's proof (a ReLU correlating with the residual, outgoing weight
    by exact line search) gives a width-(h+1) network with risk exactly m_h - <r,phi>^2/(n|phi|^2)."""
    levels = check_strict_decrease(*case)
    event("m_2 = 0" if levels[2].upper == 0 else "m_2 > 0")


# ---------------------------------------------------------------------- T7(c): the levels of Cor 3.14
LEVEL_XS = [F(i) for i in range(8)]
REALIZING = ex.Shallow(F(0), (ex.Neuron((F(1),), F(-3, 2), F(1)), ex.Neuron((F(1),), F(-7, 2), F(-2)),
                              ex.Neuron((F(1),), F(-11, 2), F(3, 2))))  # 3 kinks between grid points
LEVEL_YS = ex.realization(REALIZING, LEVEL_XS)
LEVEL_H = 3
SADDLE_WIDTH_1 = ex.Shallow(sum(LEVEL_YS, F(0)) / len(LEVEL_YS), (ex.Neuron((F(0),), F(1), F(0)),))


def landscape_levels(xs, ys, realizing, H, embed=ex.embed, oracle=ex.best_risks):
    """(levels m_0..m_H, the width-H representatives) — m_H = 0 by the realizing network."""
    levels = oracle(xs, ys, H - 1)
    reps = []
    for lv in levels:
        require(lv.exact, f"T7(c): m_{lv.width} bracketed only, [{lv.lower}, {lv.upper}]")
        wide = lv.minimizer
        while wide.width < H:
            wide = embed(wide, None, -1)
        reps.append((lv.upper, wide))
    assert ex.risk(realizing, xs, ys) == 0, "T7(c): the realizing width-H network does not fit exactly"
    reps.append((F(0), realizing))
    return reps


def check_levels(xs, ys, reps, saddle, H):
    values = [m for m, _ in reps]
    assert values[0] == ex.variance(ys), "T7(c): the top level is not c* = Var(Y)"
    assert all(a > b for a, b in zip(values, values[1:])), f"T7(c): levels not strictly decreasing: {values}"
    for h, (m, wide) in enumerate(reps):
        assert wide.width == H, f"T7(c): the width-{h} representative has width {wide.width} != {H}"
        assert ex.risk(wide, xs, ys) == m, f"T7(c): the width-{h} representative's risk is not m_{h} = {m}"
        assert ex.certify_by_reduction(wide, xs, ys, values), f"T7(c): level m_{h} = {m}: not a certified local minimum"
        assert ex.hessian_descent(wide, xs, ys) is None, f"T7(c): level m_{h}: an exact descent direction exists"
    wide_saddle = saddle
    while wide_saddle.width < H:
        wide_saddle = ex.embed(wide_saddle, None, -1)
    assert ex.exact_gradient(wide_saddle, xs, ys).is_zero(), "T7(c): the saddle is not a critical point"
    assert ex.risk(wide_saddle, xs, ys) == values[0], "T7(c): the saddle is not at level m_0"
    assert not ex.certify_local_minimum(wide_saddle, xs, ys), "T7(c): a saddle passed the local-minimum certificate"
    descent = ex.hessian_descent(wide_saddle, xs, ys)
    assert descent is not None, "T7(c): the second-order test found no exact descent at the saddle"
    return values, descent


@pytest.mark.theorem("T7")
def test_width_H_landscape_has_local_minima_at_H_plus_one_levels(placement):
    """[GM] Cor 3.14, Cor 3.16, Prop 2.12 (ReLU, 1-d input, 8 points, a target with 3 kinks, so
    m_3 = 0): the exact best risks of widths 0..3 are strictly decreasing m_0 = Var(Y) > m_1 > m_2 >
    m_3 = 0; each width's exact global minimizer embedded into width 3 has risk m_h and is a
    certified local minimum of L_3 (new neurons strictly inactive, so L_3 >= m_h nearby, attained),
    and the second-order test finds no exact descent there. A critical point at level m_0 that is a
    saddle (an active neuron with outgoing weight 0) has gradient exactly 0, fails the certificate,
    and the second-order test exhibits an exact decrease. Cross-check of the oracle: no width-h
    network trained by L-BFGS (8 starts, fixed seeds) has exact risk below m_h."""
    reps = landscape_levels(LEVEL_XS, LEVEL_YS, REALIZING, LEVEL_H)
    values, (lam, eps) = check_levels(LEVEL_XS, LEVEL_YS, reps, SADDLE_WIDTH_1, LEVEL_H)
    figure("T7(c) exact levels m_0 > m_1 > m_2 > m_3", [str(v) for v in values])
    figure("T7(c) saddle: Hessian eigenvalue, exact descent step", [f"{lam:.3g}", str(eps)])
    gaps = check_oracle_against_training(LEVEL_XS, LEVEL_YS, values)
    figure("T7(c) best L-BFGS risk minus m_h, widths 1..3", [f"{g:.3g}" for g in gaps])


def check_oracle_against_training(xs, ys, values, starts=8, max_iter=300):
    """No width-h network trained by L-BFGS (float64, exact risk of its dyadic parameters) is below
    the oracle's m_h: a check of the oracle's minimality that does not use the oracle."""
    x = torch.tensor([[float(t)] for t in xs], dtype=torch.float64)
    y = torch.tensor([[float(t)] for t in ys], dtype=torch.float64)
    gaps = []
    for h in range(1, len(values)):
        start = Network.random([1, h, 1], starts, generator=torch.Generator().manual_seed(h), init="normal")
        trained = train_lbfgs(start, x, y, max_iter=max_iter)
        exact = [ex.deep_risk_and_gradient(ex.Deep.from_torch(trained, i), x.tolist(), y.tolist())[0]
                 for i in range(starts)]
        assert min(exact) >= values[h], f"T7(c): L-BFGS found a width-{h} risk {min(exact)} below the oracle's m_{h}"
        gaps.append(float(min(exact) - values[h]))
    return gaps
