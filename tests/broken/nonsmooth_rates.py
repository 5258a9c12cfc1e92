"""Deliberately broken SGD subjects that T14's properties must reject (tests/test_mutations_nonsmooth_rates.py)."""
from __future__ import annotations

import torch


class SGDFloat32Update(torch.optim.SGD):
    """SGD that rounds each update lr * g to float32 before applying it (a mixed-precision slip): exact
    whenever lr * g is a short dyadic (the l1 problems), off by ~1e-8 relative on a smooth quadratic."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.sub_((group["lr"] * p.grad).float().to(p.dtype))
        return None


def SGDCapsLr(params, lr=1e-3, **hp):
    """SGD that silently limits the learning rate to 1.5 (a 'safe' maximum)."""
    return torch.optim.SGD(params, lr=min(lr, 1.5), **hp)


class SGDIgnoresLrChanges(torch.optim.SGD):
    """SGD that reads the learning rate once, at construction: later changes to param_groups[i]['lr']
    (a scheduler, the [CUT] appendix's 'lr x 0.9 on every increase') have no effect."""

    def __init__(self, params, lr=1e-3, **hp):
        super().__init__(params, lr=lr, **hp)
        self._frozen = [g["lr"] for g in self.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        wanted = [g["lr"] for g in self.param_groups]
        for g, lr in zip(self.param_groups, self._frozen):
            g["lr"] = lr
        try:
            return super().step(closure)
        finally:
            for g, lr in zip(self.param_groups, wanted):
                g["lr"] = lr
