"""Correct from-scratch optimizers (T4's false-alarm check): Adam, NAdam, RAdam, Adagrad, RMSprop, ASGD, Lion
and SGD (heavy ball, Nesterov), written from the papers / torch.optim's documented algorithms with the
torch.optim.Optimizer protocol and nothing of torch.optim's implementation: every hyperparameter of the
family's contract, hyperparameters read from the group at every step, per-parameter state (step counter included) kept
in ``self.state`` (so ``state_dict()`` carries it) in the parameter's own dtype, parameters without a
gradient skipped, updates written in place whatever the memory layout. The usage contract too
(theorems/test_usage_contract.py): a complex parameter is stepped as its ``view_as_real`` pair, a
hyperparameter handed over as a tensor is copied (never the user's tensor) and re-read at every step,
``differentiable=True`` (Adam, Adagrad, SGD) runs the step under autograd, and Adagrad's
initial_accumulator_value is the constructor's for every group, one added later included. T4 must accept
each of them.
"""
from __future__ import annotations

import math

import torch


def _own(value):
    """A hyperparameter as the optimizer keeps it: a tensor (or a pair of them) copied, never the user's."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple) and any(isinstance(v, torch.Tensor) for v in value):
        return tuple(_own(v) for v in value)
    return value


def _read(value):
    """A hyperparameter's value at this step (a tensor read now: a scheduler may have filled it in place)."""
    if isinstance(value, torch.Tensor):
        return float(value)
    if isinstance(value, tuple):
        return tuple(_read(v) for v in value)
    return value


def _resolved(group: dict) -> dict:
    """The group with its tensor hyperparameters read now (the group itself when it holds none)."""
    if not any(isinstance(v, torch.Tensor) or isinstance(v, tuple) and any(isinstance(x, torch.Tensor) for x in v)
               for k, v in group.items() if k != "params"):
        return group
    return {k: (v if k == "params" else _read(v)) for k, v in group.items()}


class Elementwise(torch.optim.Optimizer):
    """Per parameter: ``update(p, g, state, group)`` with g already negated under ``maximize``, a complex
    parameter as its real pair, and the group's hyperparameters read at this step as Python numbers."""

    def __init__(self, params, **defaults):
        if _read(defaults.get("lr", 0.0)) < 0:  # torch.optim's error contract (T4 checks it)
            raise ValueError(f"Invalid learning rate: {defaults['lr']}")
        super().__init__(params, {k: _own(v) for k, v in defaults.items()})

    def add_param_group(self, param_group):
        super().add_param_group({k: (v if k == "params" else _own(v)) for k, v in param_group.items()})

    def gradient(self, p, state, group):
        return p.grad

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.set_grad_enabled(bool(self.defaults.get("differentiable"))):
            for group in self.param_groups:
                hp = _resolved(group)
                for p in group["params"]:
                    g = self.gradient(p, self.state[p], hp)
                    if g is None:
                        continue
                    state = self.state[p]
                    if "step" not in state:
                        state["step"] = 0
                        self.init_state(torch.view_as_real(p) if p.is_complex() else p, state, hp)
                    state["step"] += 1
                    g = -g if hp.get("maximize") else g
                    if p.is_complex():
                        p, g = torch.view_as_real(p), torch.view_as_real(g)
                    self.update(p, g, state, hp)
        return loss

    def init_state(self, p, state, group):
        pass

    def update(self, p, g, state, group):  # pragma: no cover - overridden
        raise NotImplementedError


def _decay(p, g, group, decoupled):
    """Decoupled: theta <- (1 - lr lambda) theta; coupled: g <- g + lambda theta."""
    wd = group.get("weight_decay", 0.0)
    if wd and decoupled:
        p.mul_(1 - group["lr"] * wd)
    elif wd:
        g = g + wd * p
    return g


class Adam(Elementwise):
    """Kingma & Ba ([CUT] eqs. (28)-(30)), AMSGrad, decoupled decay (AdamW)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled_weight_decay=False, differentiable=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
                         differentiable=differentiable)

    def init_state(self, p, state, group):
        state["m"], state["v"], state["vmax"] = (torch.zeros_like(p) for _ in range(3))

    def bias_step(self, state, group):
        return state["step"]

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        g = _decay(p, g, group, group["decoupled_weight_decay"])
        # out of place: under differentiable=True autograd keeps the old moments the graph saved
        state["m"] = state["m"] * b1 + g * (1 - b1)
        state["v"] = state["v"] * b2 + g * g * (1 - b2)
        v = state["v"]
        if group["amsgrad"]:
            state["vmax"] = torch.maximum(state["vmax"], v)
            v = state["vmax"]
        t = self.bias_step(state, group)
        m_hat = state["m"] / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))


class NAdam(Elementwise):
    """Dozat 2016 with torch.optim's momentum schedule mu_t = b1 (1 - 0.5 0.96^(t psi))."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                         maximize=maximize)

    def init_state(self, p, state, group):
        state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
        state["mu_product"] = 1.0

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        t, psi = state["step"], group["momentum_decay"]
        g = _decay(p, g, group, group["decoupled_weight_decay"])
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        state["m"].mul_(b1).add_(g, alpha=1 - b1)
        state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        m_hat = mu_next * state["m"] / (1 - state["mu_product"] * mu_next) + (1 - mu) * g / (1 - state["mu_product"])
        v_hat = state["v"] / (1 - b2 ** t)
        p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))


class RAdam(Elementwise):
    """Liu et al. 2020: variance rectification once rho_t > 5, un-adapted momentum before."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)

    def init_state(self, p, state, group):
        state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        t = state["step"]
        g = _decay(p, g, group, group["decoupled_weight_decay"])
        state["m"].mul_(b1).add_(g, alpha=1 - b1)
        state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        m_hat = state["m"] / (1 - b1 ** t)
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho > 5:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            p.sub_(group["lr"] * r * m_hat * math.sqrt(1 - b2 ** t) / (state["v"].sqrt() + group["eps"]))
        else:
            p.sub_(group["lr"] * m_hat)


class Adagrad(Elementwise):
    """Duchi et al. 2011 with torch.optim's lr decay lr / (1 + (t - 1) lr_decay)."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 maximize=False, differentiable=False):
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
                         differentiable=differentiable)

    def init_state(self, p, state, group):
        # the constructor's value for every parameter, a group added later included (torch.optim's contract:
        # Adagrad reads it from self.defaults)
        state["sum"] = torch.full_like(p, self.defaults["initial_accumulator_value"])

    def update(self, p, g, state, group):
        g = _decay(p, g, group, False)
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] = state["sum"] + g * g
        p.sub_(clr * g / (state["sum"].sqrt() + group["eps"]))


class RMSprop(Elementwise):
    """Hinton's RMSprop ([CUT] eqs. (22)-(23)), centered (Graves 2013) and with momentum."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered, maximize=maximize)

    def init_state(self, p, state, group):
        state["v"], state["gbar"], state["b"] = (torch.zeros_like(p) for _ in range(3))

    def update(self, p, g, state, group):
        a, mu = group["alpha"], group["momentum"]
        g = _decay(p, g, group, False)
        state["v"].mul_(a).addcmul_(g, g, value=1 - a)
        v = state["v"]
        if group["centered"]:
            state["gbar"].mul_(a).add_(g, alpha=1 - a)
            v = v - state["gbar"] * state["gbar"]
        direction = g / (v.sqrt() + group["eps"])
        if mu > 0:
            state["b"].mul_(mu).add_(direction)
            direction = state["b"]
        p.sub_(group["lr"] * direction)


class Lion(Elementwise):
    """Chen et al. 2023, Algorithm 2."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, lr=lr, betas=betas, weight_decay=weight_decay)

    def init_state(self, p, state, group):
        state["m"] = torch.zeros_like(p)

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        c = state["m"] * b1 + g * (1 - b1)
        p.mul_(1 - group["lr"] * group["weight_decay"]).sub_(group["lr"] * c.sign())
        state["m"].mul_(b2).add_(g, alpha=1 - b2)


class ASGD(Elementwise):
    """Averaged SGD (Polyak & Juditsky 1992) as torch.optim.ASGD documents it, its public state under
    torch.optim's names: eta (the step size), mu (the averaging weight), ax (the averaged iterate)."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
        super().__init__(params, lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)

    def init_state(self, p, state, group):
        state["eta"], state["mu"], state["ax"] = group["lr"], 1.0, torch.zeros_like(p)

    def mu(self, t, group):
        return 1 / max(1, t - group["t0"])

    def update(self, p, g, state, group):
        g = _decay(p, g, group, False)
        p.mul_(1 - group["lambd"] * state["eta"]).sub_(state["eta"] * g)
        if state["mu"] == 1:
            state["ax"].copy_(p)
        else:
            state["ax"].add_(state["mu"] * (p - state["ax"]))
        t = state["step"]
        state["eta"] = group["lr"] / (1 + group["lambd"] * group["lr"] * t) ** group["alpha"]
        state["mu"] = self.mu(t, group)


class SGD(Elementwise):
    """Gradient descent with heavy-ball or Nesterov momentum, as torch.optim.SGD documents it ([GM] Lemma 4.8):
    b_1 = g_1, b_t = mu b_{t-1} + (1 - dampening) g_t; the step is lr (g_t + mu b_t) under Nesterov, else
    lr b_t. Under differentiable=True the buffer stays in the graph from its first value on (out of place)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False, differentiable=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize, differentiable=differentiable)

    def update(self, p, g, state, group):
        g = _decay(p, g, group, False)
        mu = group["momentum"]
        if mu:
            state["momentum_buffer"] = (self.first_buffer(g) if state.get("momentum_buffer") is None
                                        else state["momentum_buffer"] * mu + g * (1 - group["dampening"]))
            g = g + mu * state["momentum_buffer"] if group["nesterov"] else state["momentum_buffer"]
        p.sub_(group["lr"] * g)

    def first_buffer(self, g):
        """b_1 = g_1, kept in the graph under differentiable=True."""
        return g.clone()
