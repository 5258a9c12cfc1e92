"""Deliberately broken components for the T7/T8 mutation self-tests (tests/test_mutations_embedding.py).

Each is a harness component (embedding, deletion, exact oracle, gradient, realization or
activation) with one bug, injected directly into the theorem modules' check functions: the
T7/T8 properties are suite-level facts about the landscape, with no optimizer subject.
"""
from __future__ import annotations

from fractions import Fraction

import torch

from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.oracles import shallow_exact as ex
from kinkcheck.harness.oracles.embedding import delete_neuron, embed_neuron

F = Fraction


# ---------------------------------------------------------------------- T7(a)
def embed_active_neuron(net, layer):
    """Bug: the appended neuron gets bias +1 (active everywhere) instead of a negative bias."""
    return embed_neuron(net, layer, bias=1.0)


def embed_perturbing_old_weight(net, layer):
    """Bug: the embedding also rescales the old outgoing weights of the layer by (1 + 2^-20)
    (a copy that is not a copy); far above the derived rounding bounds in float64."""
    big = embed_neuron(net, layer)
    big.weights[layer][..., :-1] *= 1 + 2.0 ** -20
    return big


# ---------------------------------------------------------------------- T7(b), T7(f)
def embed_exact_at_kink(net, at=None, bias=-1):
    """Bug: the new neuron gets bias 0 (its pre-activation sits on the kink at every point)."""
    return ex.embed(net, at, 0)


def embed_exact_active(net, at=None, bias=-1):
    """Bug: the new neuron gets bias +1 (active everywhere, outgoing weight 0)."""
    return ex.embed(net, at, 1)


LEAKY = ex.ExactActivation("leaky(1/4)", lambda t: t if t > 0 else t / 4, lambda t: F(1) if t > 0 else F(1, 4), (F(0),))
"""Bug for Cor 3.15's hypothesis: not constant on (-inf, 0] (a leaky ReLU)."""


# ---------------------------------------------------------------------- T7(c), T7(d)
def best_risks_kinks_at_data_only(xs, ys, max_width):
    """Bug: the level oracle only tries kinks at data points (never inside a gap): upper bounds,
    reported as exact minima."""
    levels = []
    for h in range(max_width + 1):
        best = None
        for pattern, ls, net in ex.critical_points(xs, ys, h):
            if net is None or any(p.kind in ("interior", "single") for p in pattern):
                continue
            if best is None or ls.risk < best[0]:
                best = (ls.risk, net)
        levels.append(ex.Level(h, best[0], best[0], best[1], 0))
    return levels


def best_risks_capped_width(xs, ys, max_width):
    """Bug: the oracle never uses more than one neuron (m_h reported as m_1 for h >= 1)."""
    levels = ex.best_risks(xs, ys, min(max_width, 1))
    while len(levels) < max_width + 1:
        lv = levels[-1]
        levels.append(ex.Level(len(levels), lv.lower, lv.upper, ex.embed(lv.minimizer, None, -1), lv.candidates))
    return levels


# ---------------------------------------------------------------------- T7(e)
def delete_exact_wrong_neuron(net, j):
    """Bug (off by one): removes neuron j + 1 (mod width) instead of j."""
    return ex.delete(net, (j + 1) % net.width) if net.width > 1 else ex.Shallow(net.c, ())


def delete_float_wrong_neuron(net, layer, index):
    """Bug (off by one): removes neuron index + 1 (mod width) of the layer."""
    width = net.weights[layer - 1].shape[1]
    return delete_neuron(net, layer, (index + 1) % width)


# ---------------------------------------------------------------------- T8
def gradient_without_output_bias(net, xs, ys, act=ex.RELU):
    """Bug: the output bias's component of the gradient is dropped (reported as 0)."""
    g = ex.exact_gradient(net, xs, ys, act)
    return ex.Gradient(F(0), g.neurons)


def realization_without_output_bias(net: Network, x: torch.Tensor) -> torch.Tensor:
    """Bug: the network class has no output bias (the realization ignores B_L)."""
    biases = net.biases[:-1] + [net.biases[-1] * 0]
    return Network(net.weights, biases).realization(x)
