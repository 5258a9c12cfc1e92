"""Generated networks, boxes and data, named for what they guarantee.

Hypothesis draws the structure (widths, how many networks, which neurons are forced inactive,
margins, the seed); torch draws the bulk values from that seed on the device under test, so
one example holds a batch of networks. First-layer parameters, box corners and data are dyadic
rationals with few significant bits, so pre-activations are computed *exactly* in float64 and
float32: a neuron built with margin 0 has pre-activation exactly 0 at a data point (a kink).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import note
from hypothesis import strategies as st

from kinkcheck.harness.core.activations import RELU, Activation
from kinkcheck.harness.core.device import Placement, seeded_generator
from kinkcheck.harness.core.networks import Network, box_maximum
from kinkcheck.harness.core.outcomes import HarnessError

seeds = st.integers(0, 2**32 - 1)


@dataclass
class Box:
    lo: torch.Tensor  # (d,)
    hi: torch.Tensor  # (d,)

    @property
    def dim(self) -> int:
        return self.lo.shape[0]


@dataclass
class InactiveCase:
    """B networks whose layer-1 neurons ``inactive`` (B, l_1) are inactive on ``box``; data
    ``x`` (N, d) inside the box (including, for margin-0 neurons, the vertex where the
    pre-activation is exactly at the kink) and a non-constant target ``y`` (N, 1)."""

    net: Network
    box: Box
    x: torch.Tensor
    y: torch.Tensor
    inactive: torch.Tensor
    activation: Activation
    kinks_on_data: int  # data points at which some forced neuron sits exactly at its kink


@dataclass
class DeadLayerCase:
    """B networks whose hidden layer ``dead_layer`` (1-based) is entirely inactive on the box."""

    net: Network
    box: Box
    x: torch.Tensor
    y: torch.Tensor
    dead_layer: int


def dyadic(gen: torch.Generator, shape, scale_bits: int, range_bits: int, where: Placement) -> torch.Tensor:
    """Uniform on the grid 2^-scale_bits * {-2^range_bits, ..., 2^range_bits}."""
    k = torch.randint(-(2**range_bits), 2**range_bits + 1, shape, generator=gen, device=where.device)
    return k.to(where.dtype) / 2**scale_bits


@st.composite
def boxes(draw, dims=st.integers(1, 3), where: Placement | None = None) -> Box:
    """Dyadic boxes prod [lo_i, hi_i] with lo_i < hi_i, corners on the grid 1/4."""
    d = draw(dims)
    lo = [draw(st.integers(-8, 6)) / 4 for _ in range(d)]
    hi = [a + draw(st.integers(1, 8)) / 4 for a in lo]
    return Box(where.tensor(lo), where.tensor(hi))


def data_in_box(gen, box: Box, n: int, where: Placement) -> torch.Tensor:
    """n dyadic points (grid 1/16) in the box, the two extreme corners among them."""
    u = torch.randint(0, 17, (n, box.dim), generator=gen, device=where.device).to(where.dtype) / 16
    x = box.lo + u * (box.hi - box.lo)
    return torch.cat([box.lo[None], box.hi[None], x])


def non_constant_targets(gen, n: int, where: Placement) -> torch.Tensor:
    y = torch.randn(n, 1, generator=gen, dtype=where.dtype, device=where.device)
    y[0, 0], y[1, 0] = -1.0, 1.0  # never constant
    return y


def maximizing_vertex(w: torch.Tensor, box: Box) -> torch.Tensor:
    """The box vertex where w . z is largest (per neuron): (..., d)."""
    return torch.where(w * box.lo >= w * box.hi, box.lo, box.hi)


@st.composite
def networks_with_inactive_neurons(draw, where: Placement, activations=None, margins=None,
                                   depth=st.integers(1, 3), width=st.integers(1, 6),
                                   batches=st.integers(1, 8)) -> InactiveCase:
    """Networks with at least one layer-1 neuron per network forced inactive on a dyadic box.

    ``margins``: strategy for the margin below the flat region (0 puts the neuron's
    pre-activation exactly at the kink on some data point). ``batches``: how many networks (one, for a
    subject trained on real layers: ``Network.real``).
    """
    activation = draw(activations) if activations is not None else RELU
    box = draw(boxes(where=where))
    # RePU^p composes to degree p^L: deep RePU stacks overflow under training, so they are shallow
    hidden = [draw(width) for _ in range(draw(depth) if activation.degree == 1 else 1)]
    widths = [box.dim] + hidden + [1]
    batch = draw(batches)
    margin = draw(margins if margins is not None else st.sampled_from([0.0, 0.0, 0.125, 1.0]))
    gen = seeded_generator(draw(seeds), where.device)

    net = Network.random(widths, batch, generator=gen, dtype=where.dtype, device=where.device, init="torch")
    w1 = dyadic(gen, (batch, widths[1], box.dim), 3, 4, where)  # grid 1/8 in [-2, 2]
    b1 = dyadic(gen, (batch, widths[1]), 3, 4, where)
    forced = torch.rand(batch, widths[1], generator=gen, device=where.device) < 0.5
    forced[:, 0] = True  # at least one per network
    dead_bias = activation.flat_below - margin - (box_maximum(w1, torch.zeros_like(b1), box.lo, box.hi))
    b1 = torch.where(forced, dead_bias, b1)
    net.weights[0], net.biases[0] = w1, b1

    x = data_in_box(gen, box, draw(st.integers(2, 12)), where)
    if margin == 0.0:  # put the kink on the data: the maximizing vertices of the forced neurons
        vertices = maximizing_vertex(w1, box)[forced]
        x = torch.cat([x, vertices])
    y = non_constant_targets(gen, x.shape[0], where)
    pre = net.preactivations(x, activation)[0]
    lo64, hi64 = box.lo.double(), box.hi.double()
    for _ in range(16):  # inactive as the dtype computes it on the data, and on the box in exact arithmetic (float64
        # on the dtype's values): with 8 bits (bfloat16) the bias -max and the dot products of the 1/8-grid weights
        # and 1/4-grid data are rounded, and may land above the kink
        on_box = box_maximum(net.weights[0].double(), net.biases[0].double(), lo64, hi64) > activation.flat_below
        active = forced & ((pre > activation.flat_below).any(dim=-2) | on_box)
        if not bool(active.any()):
            break
        net.biases[0] = torch.where(active, net.biases[0] - 0.125, net.biases[0])
        pre = net.preactivations(x, activation)[0]
    else:
        raise HarnessError("networks_with_inactive_neurons: a forced neuron stays active in "
                           f"{where.dtype}'s arithmetic after lowering its bias by 2")
    kinks = int(((pre == activation.flat_below) & forced.unsqueeze(1)).any(-1).any(0).sum())
    note(f"widths={widths} batch={batch} box=[{box.lo.tolist()}, {box.hi.tolist()}] margin={margin} "
         f"activation={activation.name} forced={forced.sum().item()} kinks on data={kinks}")
    return InactiveCase(net, box, x, y, forced, activation, kinks)


@st.composite
def networks_with_dead_layer(draw, where: Placement, activation: Activation = RELU,
                             batches=st.integers(1, 8)) -> DeadLayerCase:
    """Deep networks with one hidden layer entirely inactive on the box: layer 1 by the exact box
    formula; a deeper layer k by W_k <= 0 entrywise and B_k < 0 (its inputs are ReLU outputs >= 0).
    ``batches``: how many networks (one, for a subject trained on real layers).
    """
    box = draw(boxes(where=where))
    hidden = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(2, 4)))]
    widths = [box.dim] + hidden + [1]
    dead = draw(st.integers(1, len(hidden)))
    batch = draw(batches)
    gen = seeded_generator(draw(seeds), where.device)
    net = Network.random(widths, batch, generator=gen, dtype=where.dtype, device=where.device, init="normal")
    w, b = net.layer(dead)
    if dead == 1:
        w = dyadic(gen, w.shape, 3, 4, where)
        b = -box_maximum(w, torch.zeros_like(b), box.lo, box.hi) - dyadic(gen, b.shape, 3, 3, where).abs()
    else:
        w, b = -w.abs(), -b.abs() - 2.0**-10
    net.weights[dead - 1], net.biases[dead - 1] = w, b
    x = data_in_box(gen, box, draw(st.integers(2, 12)), where)
    note(f"widths={widths} batch={batch} dead layer={dead}")
    return DeadLayerCase(net, box, x, non_constant_targets(gen, x.shape[0], where), dead)


@dataclass
class KinkedCase:
    """B networks and data where some hidden pre-activations are *exactly* 0 (dyadic arithmetic)."""

    net: Network
    x: torch.Tensor
    y: torch.Tensor
    kinks: int  # (network, data point, neuron) triples with pre-activation exactly 0


@st.composite
def networks_with_exact_kinks(draw, where: Placement, depth=st.integers(1, 3), width=st.integers(1, 5)) -> KinkedCase:
    """Networks whose *first* hidden layer has pre-activations exactly 0 on the data: dyadic layer-1
    weights (grid 1/8 in [-2, 2]) and dyadic data, and for about half of the layer-1 neurons (at
    least one per network) a bias that puts one chosen data point exactly on the kink. Deeper
    layers have continuous random parameters, so their pre-activations are almost surely nonzero.
    """
    box = draw(boxes(where=where))
    hidden = [draw(width) for _ in range(draw(depth))]
    widths = [box.dim] + hidden + [1]
    batch = draw(st.integers(1, 6))
    gen = seeded_generator(draw(seeds), where.device)
    x = data_in_box(gen, box, draw(st.integers(2, 10)), where)
    net = Network.random(widths, batch, generator=gen, dtype=where.dtype, device=where.device, init="torch")
    w1 = dyadic(gen, (batch, widths[1], box.dim), 3, 4, where)
    z = torch.matmul(x, w1.transpose(-1, -2))  # (B, N, l_1), exact
    pick = torch.randint(0, x.shape[0], (batch, widths[1]), generator=gen, device=where.device)
    at_kink = -torch.gather(z, 1, pick.unsqueeze(1)).squeeze(1)
    chosen = torch.rand(batch, widths[1], generator=gen, device=where.device) < 0.5
    chosen[:, 0] = True
    net.weights[0] = w1
    net.biases[0] = torch.where(chosen, at_kink, dyadic(gen, (batch, widths[1]), 3, 4, where))
    kinks = int((net.preactivations(x)[0] == 0).sum())
    note(f"widths={widths} batch={batch} kinks={kinks}")
    return KinkedCase(net, x, non_constant_targets(gen, x.shape[0], where), kinks)
