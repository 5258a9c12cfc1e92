"""A broken optimizer for T2's layout self-test (tests/test_t2_layout.py): it moves a dead neuron only
on a real layer, so only T2's real-layer layout can reject it.

``VectorCenteredSGD`` centres the gradient of every 1-D tensor before an SGD step (a "mean-zero bias"
heuristic, keyed on ``p.ndim == 1`` as per-layer code often is); every other tensor gets plain SGD. A
dead neuron's bias has an exactly-zero gradient ([GM] Thm 4.2 proof, eqs. (60)-(62)), but after centring
it is minus the mean bias gradient of the live neurons: on a real layer (weights ``(out, in)``, bias
``(out,)``) the neuron moves, a violation of T2(b) ([GM] Lemmas 4.8-4.9). T2's batched layout holds no
1-D tensor (3-D weights, 2-D biases), so there it is plain SGD, coordinatewise, and passes: it looks
coordinatewise to a suite that trains only stacked networks.
"""
from __future__ import annotations

import torch


class VectorCenteredSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-2):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if p.ndim == 1 and p.numel() > 1:  # the bug: centring leaks live biases' gradients into a dead one's
                    g = g - g.mean()
                p.sub_(group["lr"] * g)
        return loss
