"""Broken optimizers (torch.optim.Optimizer protocol): each moves a coordinate whose gradient is
always exactly zero, so T3 (frozen coordinates) and T2 (inactive neurons) must reject them.
``CorrectSGD`` is a from-scratch correct one that must pass."""
import torch


class _Base(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, **hyperparameters):
        super().__init__(params, dict(lr=lr, **hyperparameters))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad, group, self.state[p])
        return loss


class CorrectSGD(_Base):
    """Plain SGD written from scratch, with torch's coupled weight decay (must pass: a decay it
    accepted and then ignored would be a failure)."""

    def update(self, p, g, group, state):
        p.sub_(group["lr"] * (g + group.get("weight_decay", 0.0) * p))


class HiddenDecaySGD(_Base):
    """SGD that silently applies weight decay 1e-3 whatever it is told."""

    def update(self, p, g, group, state):
        p.sub_(group["lr"] * (g + 1e-3 * p))


class NoisyAdam(torch.optim.Adam):
    """Adam that adds tiny Gaussian noise to every coordinate after each step."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(torch.randn_like(p) * 1e-9)
        return loss


class OnesBufferMomentum(_Base):
    """Heavy ball whose momentum buffer starts at 1 instead of 0 / the first gradient."""

    def update(self, p, g, group, state):
        buf = state.setdefault("momentum_buffer", torch.ones_like(p))
        buf.mul_(group.get("momentum", 0.9)).add_(g)
        p.sub_(group["lr"] * buf)


class SignPlusOneSGD(_Base):
    """Sign descent with sign(0) treated as +1."""

    def update(self, p, g, group, state):
        p.sub_(group["lr"] * torch.where(g >= 0, 1.0, -1.0))


class CenteredSGD(_Base):
    """SGD that centres each update (subtracts the mean gradient of the tensor)."""

    def update(self, p, g, group, state):
        p.sub_(group["lr"] * (g - g.mean()))


class ZeroOverZeroAdam(_Base):
    """Adam normalising by sqrt(v) with eps added *after* the division: 0/0 = NaN on never-updated
    coordinates."""

    def update(self, p, g, group, state):
        b1, b2 = group.get("betas", (0.9, 0.999))
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        state["t"] = state.get("t", 0) + 1
        m.mul_(b1).add_((1 - b1) * g)
        v.mul_(b2).add_((1 - b2) * g * g)
        p.sub_(group["lr"] * (m / (1 - b1 ** state["t"]) / (v / (1 - b2 ** state["t"])).sqrt() + 1e-8))
