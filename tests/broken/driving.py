"""Broken twins of tests/driving_impls.py (#19 item 5): each follows the same library convention as its
correct twin, which the harness now drives, and is still rejected by T2/T3 -- the driving rules give
no subject a pass it has not earned.

- ``NeverMovesClearsGrad``: clears ``p.grad`` in ``step`` and never moves: the horizon is extended to the
  cap (the gradients were nonzero before the step), and then the non-vacuity check rejects it.
- ``LeakyLookahead``: a Lookahead wrapper whose inner optimizer (state in the inner one) moves every
  coordinate by a little, zero-gradient ones included.
- ``LeakyHutchinsonSGD``: ``is_second_order`` and driven with ``create_graph=True``; after each step it adds
  1e-3 * lr to every coordinate, zero-gradient ones included.
- ``ShiftingScheduleFreeSGD``: ``train()`` shifts every parameter (a train-mode point that is not the
  interpolation of its z and x sequences): the harness calls ``train()``, and what it does is checked.

And the tooth of the regime rule (#19 item 6(a): a non-finite run is rejected only where the family's
float64 reference diverges too):

- ``OverflowingSGD``: sends every coordinate with a nonzero gradient to -+inf at its first step (zero-gradient
  coordinates untouched): gradient descent's reference stays finite on the same case, so the non-finite
  parameters stay its FAIL.
"""
from __future__ import annotations

import torch

from tests.driving_impls import ClearsGradSGD, HutchinsonSGD, Lookahead, ScheduleFreeSGD
from tests.reference_impls import Adam


class NeverMovesClearsGrad(ClearsGradSGD):
    def __init__(self, params, lr=1e-2):
        super().__init__(params, lr=lr, warmup=10 ** 9)


class _LeakyAdam(Adam):
    def update(self, p, g, state, group):
        super().update(p, g, state, group)
        p.add_(1e-3 * group["lr"])


def LeakyLookahead(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
    return Lookahead(_LeakyAdam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                maximize=maximize))


class LeakyHutchinsonSGD(HutchinsonSGD):
    def step(self, closure=None):
        loss = super().step(closure)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.add_(1e-3 * group["lr"])
        return loss


class ShiftingScheduleFreeSGD(ScheduleFreeSGD):
    def train(self):
        super().train()
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.add_(1e-3 * group["lr"])


class OverflowingSGD(torch.optim.Optimizer):
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
                if p.grad is not None:
                    p.add_(torch.where(p.grad != 0, -torch.sign(p.grad) * torch.inf, 0.0).to(p.dtype))
        return loss
