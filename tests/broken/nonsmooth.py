"""Deliberately broken optimizers that T10-T14 must reject (mutation self-tests)."""
from __future__ import annotations

import torch


def SGDWrongStep(params, lr=1e-3, **hp):
    """SGD whose step is silently 1.5x the requested lr."""
    return torch.optim.SGD(params, lr=1.5 * lr, **hp)


class SGDSignZeroPlus(torch.optim.SGD):
    """SGD that treats sign(0) as +1: an exactly-zero gradient becomes +1 (an lr-sized step)."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = torch.where(p.grad == 0, torch.ones_like(p.grad), p.grad)
        return super().step(closure)


class _Manual(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, **hp):
        super().__init__(params, dict(lr=lr, **hp))


class AdamNoSecondBiasCorrection(_Manual):
    """Adam that forgets the bias correction of v (m is corrected, v is not)."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group.get("betas", (0.9, 0.999))
            eps = group.get("eps", 1e-8)
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"], st["exp_avg"], st["exp_avg_sq"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                st["step"] += 1
                k, g = st["step"], p.grad
                st["exp_avg"].mul_(b1).add_(g, alpha=1 - b1)
                st["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
                mhat = st["exp_avg"] / (1 - b1 ** k)
                p.sub_(group["lr"] * mhat / (st["exp_avg_sq"].sqrt() + eps))


class RMSpropBiasCorrected(_Manual):
    """RMSprop with an Adam-style bias correction of v that the family does not have."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            rho, eps, mu = group.get("alpha", 0.99), group.get("eps", 1e-8), group.get("momentum", 0.0)
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"], st["square_avg"], st["buf"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                st["step"] += 1
                g = p.grad
                st["square_avg"].mul_(rho).addcmul_(g, g, value=1 - rho)
                upd = g / ((st["square_avg"] / (1 - rho ** st["step"])).sqrt() + eps)
                if mu:
                    st["buf"].mul_(mu).add_(upd)
                    upd = st["buf"]
                p.sub_(group["lr"] * upd)


def RMSpropHiddenEps(params, eps=1e-8, **hp):
    """RMSprop that adds a hidden eps of at least 1e-8 (so eps = 0 is never honoured)."""
    return torch.optim.RMSprop(params, eps=max(eps, 1e-8), **hp)


def RMSpropHiddenMomentum(params, momentum=0.0, **hp):
    """RMSprop that always uses momentum 0.5 (so a coordinate at 0 jumps off)."""
    return torch.optim.RMSprop(params, momentum=0.5, **hp)


class MomentumResetAtZero(torch.optim.SGD):
    """Heavy ball that clears its buffer where the gradient is exactly 0 (no jump off 0)."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                buf = self.state.get(p, {}).get("momentum_buffer")
                if p.grad is not None and buf is not None:
                    buf.masked_fill_(p.grad == 0, 0.0)
        return super().step(closure)


class RMSpropSnapToZero(torch.optim.RMSprop):
    """RMSprop that sets a coordinate to exactly 0 once |b| < lr/64 (a hidden sparsifier): a zero the
    exact recursion under the run's own signs does not round to (T12, Prop B.4's float64 mechanism)."""

    @torch.no_grad()
    def step(self, closure=None):
        out = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.masked_fill_(p.abs() < group["lr"] / 64, 0.0)
        return out


def SGDTripleStep(params, lr=1e-3, **hp):
    """SGD whose step is silently 3x the requested lr (puts eta = 1/S above the edge 2/S: T13's
    descent-lemma claim along the trajectory breaks)."""
    return torch.optim.SGD(params, lr=3 * lr, **hp)


class SGDRidgeDrift(torch.optim.SGD):
    """SGD that adds 2^-30 lr to every step once the step count passes 8 (a drift that moves the ridge
    orbit's limit off +-s/(1+q))."""

    @torch.no_grad()
    def step(self, closure=None):
        out = super().step(closure)
        self._k = getattr(self, "_k", 0) + 1
        if self._k > 8:
            for group in self.param_groups:
                for p in group["params"]:
                    p.add_(2.0 ** -30 * group["lr"])
        return out
