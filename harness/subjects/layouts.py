"""The layout an optimizer subject is trained in when a theorem trains networks (T2, its mixed-precision form).

The generated networks are batches: B independent networks stacked into 3-D weights and 2-D biases, one
optimizer over all of them. That equals B real networks only for an update of an entry that depends on
that entry's own history alone (coordinatewise). A matrix-wise optimizer (orthogonalisation, subspace
projection, per-tensor norms) would mix the networks and treat biases as matrices, so only a subject
*declared* coordinatewise (its family record's ``elementwise`` for a built-in, ``?coordinatewise=True`` in
a user's spec) is trained batched; every other subject is trained on one real network per example: 2-D
weights ``(out, in)``, biases ``(out,)``, or ``(out, 1)`` columns for a matrices-only family without a
``matrix_flag`` (Muon: a dead neuron's bias is then a zero row, like its weights).
"""
from __future__ import annotations

import torch

from kinkcheck.harness.core.networks import Network

BATCHED = "batched"  # B networks in 3-D weights / 2-D biases: subjects declared coordinatewise only
MAX_BATCHED = 8  # networks per example when batched (one on real layers: the cost per example is the same)


def layout_of(subject) -> str:
    """``batched`` when ``subject`` is declared coordinatewise; otherwise real layers with ``vector`` biases,
    or ``column`` biases for a matrices-only family without a ``matrix_flag``."""
    if subject.coordinatewise:
        return BATCHED
    return "column" if subject.record.matrices_only and subject.matrix_flag is None else "vector"


def networks_per_example(layout: str) -> tuple[int, int]:
    """(fewest, most) networks a generated example holds in ``layout``."""
    return (1, MAX_BATCHED) if layout == BATCHED else (1, 1)


def in_layout(net: Network, layout: str) -> Network:
    """The generated (batched) networks as the subject is trained on them, as trainable leaves."""
    return (net if layout == BATCHED else net.real(0, bias=layout)).trainable()


def of_network(mask: torch.Tensor, layout: str) -> torch.Tensor:
    """A per-network (B, l) mask in the layout: unchanged batched, network 0's (l,) on real layers."""
    return mask if layout == BATCHED else mask[0]
