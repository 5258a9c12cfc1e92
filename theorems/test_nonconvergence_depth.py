"""T6 — depth makes non-convergence almost certain.

[OR] Thm 1.2, 1.3; [GMD]; [LSSK20]: with L hidden layers at bounded width, the event E = {some
hidden layer is entirely inactive on D at initialization} has probability
≥ 1 − ∏_{k=2..L} (1 − 2^{−ℓ_k(ℓ_{k−1}+1)}) → 1 (THEOREMS.md T6, reconstructed bound); on E the
realization is constant on D forever and the risk stays ≥ c* = Var(Y).
"""
import pytest
import torch
from scipy.stats import hypergeom
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_bitwise_equal, assert_reached, case_moved
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.networks import Network, dead_layers_on_box
from kinkcheck.harness.oracles.inactivity import BORN_DEAD_REFERENCE, BORN_DEAD_REFERENCE_NETWORKS, \
    dead_layer_lower_bound, sign_event_probability
from kinkcheck.harness.core.outcomes import LowPrecisionEffect, require
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.core.stats import ALPHA, assert_at_least, assert_binomial_consistent, clopper_pearson, lower_tail
from kinkcheck.harness.subjects.specs import out_of_scope_reason
from kinkcheck.harness.core.training import train
from kinkcheck.strategies.networks import boxes
from kinkcheck.strategies.optimizers import hyperparameters

N_NETWORKS = 1 << 15  # per example; exact tests at ALPHA = 1e-6 (false alarm per assertion)
inits = st.sampled_from(["torch", "normal"])  # both symmetric and continuous: the bound applies


def sign_events(net: Network) -> torch.Tensor:
    """(B, L-1) bool: layer k >= 2 has W_k <= 0 entrywise and B_k < 0 ([OR] Thm 1.2 mechanism)."""
    flags = [(w <= 0).flatten(1).all(dim=1) & (b < 0).all(dim=1)
             for w, b in zip(net.weights[1:-1], net.biases[1:-1])]
    return torch.stack(flags, dim=-1)


def check_sign_event_frequencies(net: Network, sign_probability=sign_event_probability, alpha=ALPHA):
    """Per pair of widths (l_k, l_{k-1}), the count of sign events over networks x layers is
    Bin(count, 2^{-l_k(l_{k-1}+1)}) (independent layers): exact two-sided test per pair."""
    flags = sign_events(net)
    widths = net.widths  # (d, l_1, ..., l_L, 1)
    groups: dict[tuple[int, int], list[int]] = {}
    for j in range(flags.shape[1]):  # column j is hidden layer k = j + 2
        groups.setdefault((widths[j + 2], widths[j + 1]), []).append(j)
    for (width, fan_in), cols in groups.items():
        q = float(sign_probability(width, fan_in))
        hits = int(flags[:, cols].sum())
        assert_binomial_consistent(hits, flags.shape[0] * len(cols), q, alpha,
                                   what=f"sign events of layers with widths ({width}, {fan_in})")
    return flags


@pytest.mark.theorem("T6")
@settings(max_examples=scaled(8))
@given(data=st.data(), init=inits, seed=st.integers(0, 2**32 - 1))
def test_layer_sign_event_frequency(placement, data, init, seed):
    """[OR] Thm 1.2 (proof mechanism): for symmetric continuous initializations a hidden layer k ≥ 2
    has W_k ≤ 0 entrywise and B_k < 0 with probability exactly 2^{−ℓ_k(ℓ_{k−1}+1)} (exact binomial
    test, false alarm ≤ 1e-6, 2^15 networks)."""
    hidden = data.draw(st.lists(st.integers(1, 3), min_size=2, max_size=8))
    net = Network.random([1] + hidden + [1], N_NETWORKS, generator=placement.generator(seed),
                         dtype=placement.dtype, device=placement.device, init=init)
    flags = check_sign_event_frequencies(net)
    assert_reached(bool(flags.any()), "no sign event in the sample")
    event(f"depth {len(hidden)}")


N_DEPTH = 1 << 13  # independent networks per depth
# Monotone in depth, tested on independent samples: network i of depth L and network i of depth L+1
# are independent; among the discordant pairs, b = (only the deeper is on E) is Bin(b + c, q) given
# b + c, with q >= 1/2 when P(E_{L+1}) >= P(E_L). Rejected when P(Bin(b + c, 1/2) <= b) < ALPHA
# (exact one-sided sign test, false alarm <= 1e-6). Power: a decrease from 0.5 to 0.44 gives about
# 4100 discordant pairs with q = 0.44, rejected with probability 0.998 (stats.power(4096, 0.5, 0.44)).


def check_monotone_in_depth(events_by_depth, what):
    """events_by_depth: list over depths L = 1, 2, ... of independent (N,) bool samples of E_L."""
    for depth, (shallow, deep) in enumerate(zip(events_by_depth[:-1], events_by_depth[1:]), start=1):
        b, c = int((deep & ~shallow).sum()), int((shallow & ~deep).sum())
        if b + c == 0:
            continue
        tail = lower_tail(b, b + c, 0.5)
        assert tail >= ALPHA, (f"T6 {what}: P(E_L) decreased from depth {depth} to {depth + 1} "
                               f"({int(shallow.sum())} vs {int(deep.sum())} of {shallow.numel()} independent "
                               f"networks; exact sign test p = {tail:.3g} < {ALPHA:g})")


@pytest.mark.theorem("T6")
@settings(max_examples=scaled(8))
@given(data=st.data(), init=inits, seed=st.integers(0, 2**32 - 1))
def test_dead_layer_probability_above_bound_and_growing_with_depth(placement, data, init, seed):
    """[OR] Thm 1.2, 1.3; [GMD]: P(E_L) ≥ 1 − ∏_{k=2..L}(1 − 2^{−ℓ_k(ℓ_{k−1}+1)}), with E_L certified by
    sound interval bounds (one-sided exact test per depth, false alarm 1e-6, 2^13 networks), and
    P(E_L) is non-decreasing in L, tested on independent samples per depth (exact one-sided sign test
    on paired independent networks, false alarm 1e-6; power 0.998 against a drop 0.5 -> 0.44)."""
    box = data.draw(boxes(where=placement))
    hidden = data.draw(st.lists(st.integers(1, 3), min_size=2, max_size=10))
    gen = placement.generator(seed)
    events = []
    for depth in range(1, len(hidden) + 1):
        net = Network.random([box.dim] + hidden[:depth] + [1], N_DEPTH, generator=gen,
                             dtype=placement.dtype, device=placement.device, init=init)
        events.append(dead_layers_on_box(net, box.lo, box.hi).any(dim=1))
    previous_bound = 0.0
    for depth in range(2, len(hidden) + 1):
        bound = float(dead_layer_lower_bound(hidden[:depth]))
        require(bound > previous_bound, "T6: the oracle's bound must increase with depth (the suite's oracle)")
        assert_at_least(int(events[depth - 1].sum()), N_DEPTH, bound, ALPHA,
                        what=f"T6 certified dead-layer events at depth {depth}, widths {hidden[:depth]}")
        previous_bound = bound
    check_monotone_in_depth(events, f"widths {hidden}")
    assert_reached(int(events[-1].sum()) > int(events[0].sum()), "depth added no dead layer")
    event(f"P(E) at depth {len(hidden)} ~ {round(int(events[-1].sum()) / N_DEPTH, 1)}")


@pytest.mark.theorem("T6")
@pytest.mark.parametrize("init", ["torch", "normal"])
def test_width_two_depth_for_almost_certain_death(placement, init):
    """[OR] Thm 1.3: at width 2 the probability of a dead layer -> 1 with depth. On D = [-1, 1] and 20000
    networks of depth 96, at depths L = 2, 4, ..., 64, 96 the certified frequency of E_L is consistent
    with at least the theorem's bound 1 - prod(1 - 2^{-l_k(l_{k-1}+1)}) (exact one-sided tests, false
    alarm 1e-6 each). Measured, not asserted: the smallest depth at which the exact 1 - 1e-6
    Clopper-Pearson lower bound of P(E) passes 0.99, beside the depth at which the bound does."""
    n, max_depth = 20000, 96
    net = Network.random([1] + [2] * max_depth + [1], n, generator=placement.generator(2024),
                         dtype=placement.dtype, device=placement.device, init=init)
    box = placement.tensor([-1.0]), placement.tensor([1.0])
    counts = dead_layers_on_box(net, *box).cummax(dim=1).values.sum(dim=0).tolist()
    for depth in (2, 4, 8, 16, 32, 64, max_depth):
        assert_at_least(int(counts[depth - 1]), n, float(dead_layer_lower_bound([2] * depth)), ALPHA,
                        what=f"T6(b) ([OR] Thm 1.3) width-2 dead-layer events at depth {depth} ({init} init)")
    found = next((L for L in range(1, max_depth + 1)
                  if clopper_pearson(int(counts[L - 1]), n, 1 - ALPHA)[0] >= 0.99), None)
    bound_depth = next(L for L in range(2, 10**4) if dead_layer_lower_bound([2] * L) >= 0.99)
    figure(f"width-2 depth with P(dead layer) >= 0.99 ({init} init, measured)", found if found else "> 96")
    figure("width-2 depth where the bound reaches 0.99", bound_depth)


BORN_DEAD_WIDTHS = (1, 2, 3, 4)
BORN_DEAD_DEPTHS = (2, 5, 10, 20)
# Identical inputs to a batched matmul may come out different in the last bit (rows of one
# product take different kernel paths: measured 4.4e-16 on torch 2.13 CPU), so "constant on the
# grid" allows a relative spread of 1e-12 -- far below any genuine variation of a live network.
CONSTANT_RTOL = 1e-12


def constant_on(values: torch.Tensor) -> torch.Tensor:
    """(B, N, l) -> (B,) bool: every coordinate constant over the N points, up to CONSTANT_RTOL."""
    spread = values.amax(dim=1) - values.amin(dim=1)
    scale = values.abs().amax(dim=1)
    return (spread <= CONSTANT_RTOL * (1 + scale)).all(dim=-1)


def same_proportion_p(k1, n1, k2, n2) -> float:
    """The equal-tailed p-value of the exact conditional two-sample test of H0: equal proportions
    (given k1 + k2, k1 is hypergeometric)."""
    lo = float(hypergeom.cdf(k1, n1 + n2, k1 + k2, n1))
    hi = float(hypergeom.sf(k1 - 1, n1 + n2, k1 + k2, n1))
    return 2 * min(lo, hi)


def assert_same_proportion(k1, n1, k2, n2, what, alpha=ALPHA):
    """Exact conditional two-sample test of H0: equal proportions, equal-tailed, false alarm <= alpha."""
    p = same_proportion_p(k1, n1, k2, n2)
    a, b = clopper_pearson(k1, n1, 0.999), clopper_pearson(k2, n2, 0.999)
    assert p / 2 >= alpha / 2, (f"T6 {what}: {k1}/{n1} [{a[0]:.3f}, {a[1]:.3f}] differs from the "
                                      f"reference {k2}/{n2} [{b[0]:.3f}, {b[1]:.3f}] (exact two-sample test, "
                                      f"p = {p:.3g} < {alpha:g})")


@pytest.mark.theorem("T6")
def test_born_dead_probability_table(placement):
    """[LSSK20] (born-dead networks), [OR] Thm 1.3: N(0,1) weights and biases, 1-D input on
    [−1, 1]. Per (width, depth): the frequency of networks whose last hidden layer is constant on a
    33-point grid of D ("born dead") equals the stored reference of an independent exact
    computation (harness/oracles/inactivity.py: numpy, exact piecewise-linear constancy, 20000
    networks) — exact two-sample test at false alarm 1e-6 per cell, power 0.99 against a difference
    of about 0.085 (normal approximation) — with 99.9% Clopper–Pearson intervals as figures. Also:
    certified dead (interval bounds) ⇒ constant (every network), constancy nested in depth, and the
    certified frequency ≥ the sign-event bound (exact one-sided tests).

    An exact-arithmetic claim ([real]) for the frequencies: the stored reference is the law of
    real-valued N(0,1) parameters. Outside float64 the networks are drawn in the requested dtype,
    whose rounding of the parameters and of every layer really changes the law (bfloat16, w=3,
    L=20: 1882/2048 against the reference 17600/20000); a cell that deviates is measured and
    reported with its 1 − 1e-6 Clopper–Pearson interval (LowPrecisionEffect), not judged. The
    implications (certified ⇒ constant, nesting) and the sign-event bound (rounding keeps every
    sign, so the bound holds in any dtype) stay asserted in every dtype."""
    n = 2048
    deviations = []  # (p-value, width, depth, k) of the cells that differ from the reference (low precision)
    grid = torch.linspace(-1, 1, 33, dtype=placement.dtype, device=placement.device).unsqueeze(-1)
    box = placement.tensor([-1.0]), placement.tensor([1.0])
    for width in BORN_DEAD_WIDTHS:
        depth = max(BORN_DEAD_DEPTHS)
        net = Network.random([1] + [width] * depth + [1], n, generator=placement.generator(width),
                             dtype=placement.dtype, device=placement.device, init="normal")
        certified = dead_layers_on_box(net, *box).cummax(dim=1).values  # (n, depth)
        constant = torch.stack([constant_on(torch.relu(z)) for z in net.preactivations(grid)], -1)
        violations = certified & ~constant
        assert not bool(violations.any()), f"T6: certified dead but not constant on the grid (width {width})"
        for depth in BORN_DEAD_DEPTHS:
            k = int(constant[:, depth - 1].sum())
            lo, hi = clopper_pearson(k, n, 0.999)
            figure(f"born dead w={width} L={depth}", f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]")
            reference = BORN_DEAD_REFERENCE[(width, depth)]
            if placement.dtype == torch.float64:
                assert_same_proportion(k, n, reference, BORN_DEAD_REFERENCE_NETWORKS,
                                       what=f"born-dead frequency (w={width}, L={depth})")
            elif (p := same_proportion_p(k, n, reference, BORN_DEAD_REFERENCE_NETWORKS)) < ALPHA:
                deviations.append((p, width, depth, k))
            assert_at_least(int(certified[:, depth - 1].sum()), n,
                            float(dead_layer_lower_bound([width] * depth)), ALPHA,
                            what=f"T6 certified born-dead (w={width}, L={depth})")
        nested = constant.cummax(dim=1).values
        assert bool((nested == constant).all()), "T6: a layer constant on D must keep deeper layers constant"
    if deviations:  # outside float64 only: the measured dtype effect, its worst cell
        p, width, depth, k = min(deviations)
        reference = BORN_DEAD_REFERENCE[(width, depth)]
        figure(f"born-dead cells deviating from the real-arithmetic reference in {str(placement.dtype)[6:]}",
               len(deviations))
        raise LowPrecisionEffect(
            "T6", f"born-dead frequency (w={width}, L={depth})", k / n, clopper_pearson(k, n, 1 - ALPHA),
            reference / BORN_DEAD_REFERENCE_NETWORKS, placement.dtype,
            detail=f"{k}/{n} networks vs the reference {reference}/{BORN_DEAD_REFERENCE_NETWORKS} (exact two-sample "
                   f"test p = {p:.3g} < {ALPHA:g}); {len(deviations)} of "
                   f"{len(BORN_DEAD_WIDTHS) * len(BORN_DEAD_DEPTHS)} cells deviate: "
                   + ", ".join(f"w={w} L={d} {kk}/{n}" for _, w, d, kk in sorted(deviations, key=lambda c: c[1:3])))


@pytest.mark.theorem("T6", capability="takes_any_shape")
@settings(max_examples=scaled(1))
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_training_on_dead_event_stays_constant(optimizer_subject, placement, data, seed):
    """[OR] Thm 1.2, 1.3 (with [GM] Lemmas 4.8–4.9): on E the parameters of layers ≤ k (k the deepest
    dead layer) stay bit for bit, the realization stays constant on the data, and the risk stays
    ≥ c* = sample variance of Y, up to rounding: both are computed in float64 from the run's outputs and
    targets (exact in float64 whatever the dtype), each a mean of N = 16 squares of differences, so each
    is within gamma_{N+3}(u_64) relative of its exact value (u_64 = 2^-53)."""
    hp = data.draw(hyperparameters(optimizer_subject.family, dtype=placement.dtype))
    hp["lr"] = min(hp["lr"], 0.05)  # keeps full-batch training stable for every family
    depth, width, n = 6, 2, 256
    net = Network.random([1] + [width] * depth + [1], n, generator=placement.generator(seed),
                         dtype=placement.dtype, device=placement.device)
    box = placement.tensor([-1.0]), placement.tensor([1.0])
    dead = dead_layers_on_box(net, *box)
    on_e = dead.any(dim=1)
    assert_reached(int(on_e.sum()) >= 8, "too few networks on E")
    net = Network([w[on_e] for w in net.weights], [b[on_e] for b in net.biases]).trainable()
    deepest = depth - dead[on_e].flip(1).float().argmax(dim=1)  # (m,) 1-based index of deepest dead layer
    x = torch.linspace(-1, 1, 16, dtype=placement.dtype, device=placement.device).unsqueeze(-1)
    y = torch.sin(3 * x)
    before = net.clone()
    trajectory = train(net, x, y, optimizer_subject, hp, 40)
    reason = out_of_scope_reason(trajectory.optimizer)
    if reason:
        pytest.skip(f"out of scope for T6: {reason}")
    for k in range(1, depth + 1):
        frozen = deepest >= k
        for new, old in zip(net.layer(k), before.layer(k)):
            assert_bitwise_equal(new.detach()[frozen], old[frozen], what=f"layer {k} on E ({optimizer_subject.label})")
    hidden_on_data = [torch.relu(z.detach()) for z in net.preactivations(x)]
    for k in range(1, depth + 1):  # the mechanism, exact: the deepest dead layer outputs 0.0
        at_k = hidden_on_data[k - 1][deepest == k]
        assert not bool((at_k != 0).any()), (
            f"T6(d) ([OR] Thm 1.2): dead layer {k} emits a non-zero value after training")
    out = net.realization(x).detach()
    assert bool(constant_on(out).all()), "T6(d) ([OR] Thm 1.3): realization on E is not constant on the data"
    out64, y64 = out.double(), y.double()
    risk = ((out64 - y64) ** 2).mean(dim=(-2, -1))
    variance = ((y64 - y64.mean()) ** 2).mean()
    m = (y64.shape[0] + 3) * 2.0 ** -53
    slack = 2 * m / (1 - m)  # gamma_{N+3}(u_64) on each side
    assert bool((risk >= variance * (1 - slack)).all()), (
        f"T6(d) ([OR] Thm 1.2): risk {risk.min().item()} < c* {variance.item()} (relative slack {slack:.2g}) on E")
    moved = ((net.weights[-1].detach() != before.weights[-1]).any()
             | (net.biases[-1].detach() != before.biases[-1]).any())
    case_moved(bool(moved), "the output layer never moved", trajectory.horizon)
    figure("networks on E trained", int(on_e.sum()), keep="min")
