"""Optimizers that leave their family's recursion in one deliberate way (T4 must reject each),
and a correct from-scratch Adam (T4 must accept it).

The from-scratch classes follow the ``torch.optim.Optimizer`` protocol; each mutation changes
exactly one thing of the correct recursion.
"""
from __future__ import annotations

import torch


class _Elementwise(torch.optim.Optimizer):
    """A minimal from-scratch elementwise optimizer: ``update(p, g, state, group)`` per tensor."""

    def __init__(self, params, defaults):
        super().__init__(params, defaults)

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
                state = self.state[p]
                if not state:
                    state["step"] = 0
                state["step"] += 1
                self.update(p, p.grad, state, group)
        return loss

    def update(self, p, g, state, group):  # pragma: no cover - overridden
        raise NotImplementedError


class CorrectAdam(_Elementwise):
    """Adam as Kingma & Ba write it ([CUT] eqs. (28)-(30)), eps outside the root."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def bias_exponent(self, t: int) -> int:
        return t

    def denominator(self, v_hat, eps):
        return v_hat.sqrt() + eps

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        if "m" not in state:
            state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
        state["m"].mul_(b1).add_(g, alpha=1 - b1)
        state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        n = self.bias_exponent(state["step"])
        m_hat = state["m"] / (1 - b1 ** n)
        v_hat = state["v"] / (1 - b2 ** n)
        p.sub_(group["lr"] * m_hat / self.denominator(v_hat, group["eps"]))


class OffByOneAdam(CorrectAdam):
    """Bias corrections 1 - beta^(t+1) instead of 1 - beta^t."""

    def bias_exponent(self, t: int) -> int:
        return t + 1


class EpsInsideSqrtAdam(CorrectAdam):
    """sqrt(v_hat + eps) where Adam puts eps outside the root: sqrt(v_hat) + eps."""

    def denominator(self, v_hat, eps):
        return (v_hat + eps).sqrt()


class DoubledStepAdam(CorrectAdam):
    """Silently takes twice the step it was configured with."""

    def update(self, p, g, state, group):
        lr = group["lr"]
        group["lr"] = 2 * lr
        try:
            super().update(p, g, state, group)
        finally:
            group["lr"] = lr


class SwappedRMSprop(_Elementwise):
    """RMSprop with the smoothing weights swapped: v = (1 - alpha) v + alpha g^2."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def update(self, p, g, state, group):
        a, mu = group["alpha"], group["momentum"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        if "v" not in state:
            state["v"], state["gbar"], state["b"] = (torch.zeros_like(p) for _ in range(3))
        state["v"].mul_(1 - a).addcmul_(g, g, value=a)  # the mutation: should be a, 1 - a
        v = state["v"]
        if group["centered"]:
            state["gbar"].mul_(1 - a).add_(g, alpha=a)
            v = v - state["gbar"] ** 2
        direction = g / (v.sqrt() + group["eps"])
        if mu > 0:
            state["b"].mul_(mu).add_(direction)
            direction = state["b"]
        p.sub_(group["lr"] * direction)


class NesterovIgnoredSGD(torch.optim.SGD):
    """torch.optim.SGD that accepts ``nesterov=True`` and silently runs heavy-ball momentum."""

    def __init__(self, params, nesterov=False, **hyperparameters):
        super().__init__(params, nesterov=False, **hyperparameters)


class DoubledStepSGD(torch.optim.SGD):
    """torch.optim.SGD configured with twice the learning rate it was given."""

    def __init__(self, params, lr=1e-3, **hyperparameters):
        super().__init__(params, lr=2 * lr, **hyperparameters)
