"""Watching neurons die and revive during batched training (T2(d): memory).

A neuron *dies* at step t when it is inactive on the data after step t but was active before;
it *revives* when it is active again later. Under plain full-batch SGD a dead neuron's incoming
parameters can never move again; under momentum they can.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kinkcheck.harness.core.guard import Guarded
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


REAL_NETWORKS = 8  # on real layers, one network per run: ~1.7 deaths per network at lr 1/2 (4096 batched: ~6900)


def revival_search(subject: OptimizerSubject, hyperparameters: dict, where: Placement, seed: int,
                   networks: int = 4096, width: int = 4, points: int = 8, steps: int = 300, *,
                   real_layers: bool = False) -> RevivalSearch:
    """Train ``networks`` width-``width`` ReLU networks on ``points`` inputs in [0, 1] (full batch,
    random non-constant targets) and count deaths, revivals and dead neurons that moved. Batched (3-D
    weights, all networks in one optimizer) unless ``real_layers``: then the first ``REAL_NETWORKS`` of
    them are trained one at a time as real layers (2-D weights, 1-D biases), the layout T2 uses for a
    subject not declared coordinatewise."""
    gen = where.generator(seed)
    net = Network.random([1, width, 1], networks, generator=gen, dtype=where.dtype, device=where.device,
                         init="torch")
    x = torch.linspace(0, 1, points, dtype=where.dtype, device=where.device)[:, None]
    y = torch.randn(networks, points, 1, generator=gen, dtype=where.dtype, device=where.device) * 2
    if not real_layers:
        return RevivalSearch(networks, *_watch(net.trainable(), x, y, subject, hyperparameters, steps))
    counts = [_watch(net.real(i).trainable(), x, y[i], subject, hyperparameters, steps)
              for i in range(min(networks, REAL_NETWORKS))]
    return RevivalSearch(len(counts), *(sum(c[j] for c in counts) for j in range(3)))


def _watch(net: Network, x, y, subject, hyperparameters, steps) -> tuple[int, int, int]:
    """(deaths, revivals of those, those whose incoming parameters moved while dead) over one training run."""

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
    return int(died.sum()), int((revived & died).sum()), int((moved & died).sum())


# ----------------------------------------------------------------------------- constructed revival
# T2(d), constructed (computed, not searched): one hidden ReLU neuron on the data {0, 1/2, 1}, weight
# w0 = -4, bias b0 = 5/2 (pre-activations 5/2, 1/2, -3/2: active on two points), outgoing weight 1,
# output bias 0, targets chosen so that the first full-batch gradient of the mean squared error is
# (g_w, g_b) = (-15/2, 6): residuals r = (63/2, -45/2, 0), i.e. y = (-29, 23, 0). With lr = 1/2 the
# neuron moves along (w, b) = (-4, 5/2) + S (15/4, -3) where S is the accumulated momentum factor;
# while it is dead its gradient is exactly 0 and S grows by the decaying buffer alone:
#   momentum (torch: buf_1 = g_1, buf_k = mu buf_{k-1}):  S_n = 1 + mu + ... + mu^{n-1}
#   nesterov (update g_k + mu buf_k):                      S_n = (1 + mu) + mu^2 + ... + mu^n
# It is inactive on the data iff b <= 0 and w + b <= 0, i.e. S >= 5/6 and S <= 2 (w + b = 3/4 S - 3/2):
# dead for S in [5/6, 2], active again for S > 2. With mu = 0.9: momentum S = 1, 1.9, 2.71 (dead after
# steps 1 and 2, active after step 3); nesterov S = 1.9, 2.71 (dead after step 1, active after step 2).
# Plain SGD (mu = 0) has S = 1 forever after the neuron dies: absorbed.
REVIVAL_X = (0.0, 0.5, 1.0)
REVIVAL_Y = (-29.0, 23.0, 0.0)
REVIVAL_W0, REVIVAL_B0, REVIVAL_LR = -4.0, 2.5, 0.5
REVIVAL_DIRECTION = (15 / 4, -3.0)  # -(lr g_w, lr g_b)


def revival_factor(momentum: float, nesterov: bool, n: int) -> float:
    """S_n of the comment above (exact-arithmetic closed form, evaluated in float64)."""
    if nesterov:
        return (1 + momentum) + sum(momentum**k for k in range(2, n + 1))
    return sum(momentum**k for k in range(n))


def constructed_revival_prediction(momentum: float, nesterov: bool, steps: int) -> list[tuple[float, float, bool]]:
    """The closed form: (w_n, b_n, inactive on the data) after steps n = 1..steps, assuming the neuron
    receives the zero gradient from step 2 on (true while it is inactive on the data)."""
    out = []
    for n in range(1, steps + 1):
        s = revival_factor(momentum, nesterov, n)
        w, b = REVIVAL_W0 + s * REVIVAL_DIRECTION[0], REVIVAL_B0 + s * REVIVAL_DIRECTION[1]
        out.append((w, b, max(w * x + b for x in REVIVAL_X) <= 0))
    return out


@dataclass
class ConstructedRevival:
    incoming: list[tuple[float, float]]  # (w_n, b_n) after steps n = 1..steps
    inactive: list[bool]  # inactive on the data after step n
    zero_gradient_while_dead: bool  # the neuron's incoming gradient was exactly 0 at every step it was dead


def constructed_revival(subject: OptimizerSubject, hyperparameters: dict, where: Placement,
                        steps: int = 4) -> ConstructedRevival:
    """Run the subject on the constructed network and data (full batch, mean squared error)."""
    t = lambda v: torch.tensor(v, dtype=where.dtype, device=where.device)  # noqa: E731
    w = t([[REVIVAL_W0]]).requires_grad_(True)
    b = t([REVIVAL_B0]).requires_grad_(True)
    a = t([[1.0]]).requires_grad_(True)
    c = t([0.0]).requires_grad_(True)
    x, y = t(REVIVAL_X)[:, None], t(REVIVAL_Y)[:, None]
    optimizer = subject.build([w, b, a, c], **({"lr": REVIVAL_LR} | hyperparameters))
    incoming, inactive, zero_while_dead, dead = [], [], True, False
    guarded = Guarded(subject, optimizer)
    for k in range(1, steps + 1):
        guarded.zero_grad()
        ((torch.relu(x @ w.T + b) @ a.T + c - y) ** 2).mean().backward()
        if dead:
            zero_while_dead = zero_while_dead and bool((w.grad == 0).all() and (b.grad == 0).all())
        guarded.step(k)
        dead = bool(((x @ w.detach().T + b.detach()) <= 0).all())
        incoming.append((float(w.detach()), float(b.detach())))
        inactive.append(dead)
    return ConstructedRevival(incoming, inactive, zero_while_dead)
