"""Deliberately broken subjects for the T2(d) revival and T2/T3 decay self-tests
(tests/test_mutations_revival_decay.py)."""
from __future__ import annotations

import torch

from tests.broken.nonsmooth import MomentumResetAtZero


# Bug: the momentum buffer of every coordinate whose gradient is exactly 0 is cleared before the step
# (a "sparse-aware" shortcut). Frozen coordinates stay frozen (T2(b), T3 pass), but a neuron that dies
# mid-training loses the history that could revive it: rejected by T2(d) only. The same one-line bug
# keeps a LASSO coordinate at 0 from jumping off (T11(a)), hence one class for both.
ZeroGradResetsMomentumSGD = MomentumResetAtZero


class ForcedDecaySGD(torch.optim.SGD):
    """Correct, but decays by construction: weight_decay = 0.01 whatever the caller asks (as some
    third-party wrappers do). T2/T3 must report it out of scope with a positive displacement."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **(kwargs | {"weight_decay": 0.01}))


class DecayIgnoringSGD(ForcedDecaySGD):
    """Bug: announces weight_decay = 0.01 in its param_groups but never applies it. A decay that
    moves nothing: rejected by the out-of-scope checks of T2 and T3 (displacement 0 in float64)."""

    @torch.no_grad()
    def step(self, closure=None):
        saved = [group["weight_decay"] for group in self.param_groups]
        for group in self.param_groups:
            group["weight_decay"] = 0.0
        try:
            return super().step(closure)
        finally:
            for group, wd in zip(self.param_groups, saved):
                group["weight_decay"] = wd
