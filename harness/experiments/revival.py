"""Watching neurons die and revive during batched training (T2(d): memory).

A neuron *dies* at step t when it is inactive on the data after step t but was active before;
it *revives* when it is active again later. Under plain full-batch SGD a dead neuron's incoming
parameters can never move again; under momentum they can.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kinkcheck.harness.core.device import Placement
from kinkcheck.harness.core.networks import Network, inactive_on_data
from kinkcheck.harness.subjects.specs import OptimizerSubject
from kinkcheck.harness.core.training import train


@dataclass
class RevivalSearch:
    networks: int
    deaths: int  # (network, neuron) pairs that died mid-training
    revivals: int  # of those, how many became active again later
    moved_after_death: int  # of those, how many had their incoming parameters change while dead


def revival_search(subject: OptimizerSubject, hyperparameters: dict, where: Placement, seed: int,
                   networks: int = 4096, width: int = 4, points: int = 8, steps: int = 300) -> RevivalSearch:
    """Train ``networks`` width-``width`` ReLU networks on ``points`` inputs in [0, 1] (full batch,
    random non-constant targets) and count deaths, revivals and dead neurons that moved."""
    gen = where.generator(seed)
    net = Network.random([1, width, 1], networks, generator=gen, dtype=where.dtype, device=where.device,
                         init="torch").trainable()
    x = torch.linspace(0, 1, points, dtype=where.dtype, device=where.device)[:, None]
    y = torch.randn(networks, points, 1, generator=gen, dtype=where.dtype, device=where.device) * 2

    def inactive(n: Network) -> torch.Tensor:  # layer 1 only: no need for a full forward pass
        w, b = n.layer(1)
        return inactive_on_data((torch.matmul(x, w.detach().transpose(-1, -2)) + b.detach().unsqueeze(-2)))

    was_active_at_start = ~inactive(net)
    dead = torch.zeros_like(was_active_at_start)
    ever_died = torch.zeros_like(dead)
    revived = torch.zeros_like(dead)
    moved = torch.zeros_like(dead)
    snapshot = torch.cat([net.weights[0].detach(), net.biases[0].detach()[..., None]], dim=-1)

    def on_step(_, n: Network):
        nonlocal dead, snapshot
        now_dead = inactive(n)
        incoming = torch.cat([n.weights[0].detach(), n.biases[0].detach()[..., None]], dim=-1)
        moved.logical_or_(dead & (incoming != snapshot).any(-1))
        revived.logical_or_(dead & ~now_dead)
        newly = now_dead & ~dead
        snapshot = torch.where(newly[..., None], incoming, snapshot)
        ever_died.logical_or_(newly & was_active_at_start)
        dead = now_dead

    train(net, x, y, subject, hyperparameters, steps, on_step=on_step)
    died = ever_died
    return RevivalSearch(networks, int(died.sum()), int((revived & died).sum()), int((moved & died).sum()))
