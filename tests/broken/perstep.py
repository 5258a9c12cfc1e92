"""Broken subjects for T4's per-step low-precision bound (issue #20 item 3): torch.optim's own optimizers
whose every step is off by a relative error e -- after the real step, theta <- theta_prev + (1 + e)
(theta_new - theta_prev), computed in float64 and rounded once into the parameter dtype. The state is
torch's (correct); only the iterate's increment is wrong by e. ``step_error`` is a constructor argument,
so a spec picks it: ``adam=tests.broken.perstep:ScaledStepAdam?step_error=0.05``."""
from __future__ import annotations

import torch


class _ScaledStep:
    def __init__(self, params, *args, step_error: float = 0.05, **kwargs):
        super().__init__(params, *args, **kwargs)
        self.step_error = step_error

    @torch.no_grad()
    def step(self, closure=None):
        params = [p for g in self.param_groups for p in g["params"]]
        before = [p.detach().to(torch.float64) for p in params]
        loss = super().step(closure)
        for p, old in zip(params, before):
            new = p.detach().to(torch.float64)
            p.copy_((old + (1 + self.step_error) * (new - old)).to(p.dtype))
        return loss


class ScaledStepAdam(_ScaledStep, torch.optim.Adam):
    """Adam (for-loop) whose every increment is scaled by 1 + step_error."""

    def __init__(self, params, *args, step_error: float = 0.05, **kwargs):
        super().__init__(params, *args, step_error=step_error, foreach=False, **kwargs)


class ScaledStepSGD(_ScaledStep, torch.optim.SGD):
    """SGD (for-loop; momentum too) whose every increment is scaled by 1 + step_error."""

    def __init__(self, params, *args, step_error: float = 0.05, **kwargs):
        super().__init__(params, *args, step_error=step_error, foreach=False, **kwargs)


class ScaledStepRMSprop(_ScaledStep, torch.optim.RMSprop):
    """RMSprop (for-loop) whose every increment is scaled by 1 + step_error."""

    def __init__(self, params, *args, step_error: float = 0.05, **kwargs):
        super().__init__(params, *args, step_error=step_error, foreach=False, **kwargs)


class ScaledStepAdagrad(_ScaledStep, torch.optim.Adagrad):
    """Adagrad (for-loop) whose every increment is scaled by 1 + step_error."""

    def __init__(self, params, *args, step_error: float = 0.05, **kwargs):
        super().__init__(params, *args, step_error=step_error, foreach=False, **kwargs)


class Lion(torch.optim.Optimizer):
    """Chen et al. 2023, Algorithm 2, with torch.optim's protocol and lion-pytorch's state name
    (``exp_avg``): c = b1 m + (1 - b1) g; theta <- theta (1 - lr lambda) - lr sign(c);
    m <- b2 m + (1 - b2) g, in the parameter dtype. ``step_error`` scales the increment (0: correct)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, step_error: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))
        self.step_error = step_error

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m = state["exp_avg"]
                old = p.detach().to(torch.float64)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                c = m.mul(b1).add_(p.grad, alpha=1 - b1)
                p.add_(c.sign_(), alpha=-group["lr"])
                m.mul_(b2).add_(p.grad, alpha=1 - b2)
                if self.step_error:
                    p.copy_((old + (1 + self.step_error) * (p.detach().to(torch.float64) - old)).to(p.dtype))
        return None
