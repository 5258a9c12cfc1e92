"""Reference recursions (T4): independent float64 implementations of each family's update rule.

Written from the papers' equations ([GM] Lemmas 4.8, 4.9; [CUT] eqs. (22)-(23) RMSProp,
(28)-(30) Adam; Kingma & Ba; Chen et al. 2023 Alg. 2 for Lion) and from the algorithms *documented*
in torch.optim's docstrings (the LaTeX pseudo-code) -- never by calling torch.optim.

One reference follows one parameter (a torch.optim optimizer keeps its state, step counter included,
per parameter): it starts from zero state, its state is created at its first step (as torch.optim
creates it at the first step where the parameter has a gradient), and ``step(grad, hp)`` reads the
hyperparameters of the parameter's group *at that step* (an LR scheduler writes them into
``param_groups`` between steps). A parameter whose gradient is None takes no step: its reference is
not called. Hyperparameters use torch.optim's names and defaults; ``maximize`` negates the gradient
first, as torch.optim does. The Adam-like and Adagrad/RMSprop/Adadelta references live in
``adaptive_recursions``, the matrix-shaped ones (Adafactor, Muon) in ``matrix_recursions``; the
driver that runs a subject beside them is ``contract_runs``.
"""
from __future__ import annotations

import torch

from kinkcheck.harness.subjects.families import FAMILIES


class Reference:
    """One family's recursion for one parameter (its shape kept), in float64, zero initial state."""

    def __init__(self, theta0: torch.Tensor, **hp):
        self.dtype = theta0.dtype  # the parameter's own dtype (Adafactor's eps1=None reads it)
        self.theta = theta0.detach().to(torch.float64).clone()
        self.t = 0
        self.started = False
        self.maximize = False
        self.configure(**hp)

    # --- to override
    def configure(self, **hp):  # pragma: no cover - overridden
        """Read the group's hyperparameters (called before every step)."""
        raise NotImplementedError

    def init_state(self):
        """Allocate the state, at the parameter's first step."""

    def update(self, g: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    # --- shared
    def zeros(self) -> torch.Tensor:
        return torch.zeros_like(self.theta)

    def coupled_decay(self, g: torch.Tensor, weight_decay: float) -> torch.Tensor:
        """L2 penalty folded into the gradient: g <- g + lambda theta_{t-1}."""
        return g + weight_decay * self.theta if weight_decay else g

    def apply_decay(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(theta, g) after the family's weight decay: decoupled (AdamW, ``self.decoupled``) shrinks
        theta_{t-1} by 1 - lr lambda; coupled folds lambda theta_{t-1} into g."""
        if getattr(self, "decoupled", False):
            return self.theta * (1 - self.lr * self.wd), g
        return self.theta, self.coupled_decay(g, self.wd)

    def step(self, g: torch.Tensor, hp: dict | None = None) -> torch.Tensor:
        if hp is not None:
            self.configure(**hp)
        if not self.started:
            self.init_state()
            self.started = True
        self.t += 1
        g = g.detach().to(torch.float64).reshape(self.theta.shape)
        self.theta = self.update(-g if self.maximize else g)
        return self.theta


class SGD(Reference):
    """Gradient descent; heavy ball b_t = mu b_{t-1} + (1 - tau) g_t with b_1 = g_t ([GM] Lemma
    4.8: b_n = mu b_{n-1} + g_n when tau = 0); Nesterov: the step uses g_t + mu b_t."""

    def configure(self, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False,
                  **_):
        self.lr, self.mu, self.tau, self.nesterov, self.wd = lr, momentum, dampening, nesterov, weight_decay
        self.maximize = maximize

    def init_state(self):
        self.b = None

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        if self.mu:
            self.b = g.clone() if self.b is None else self.mu * self.b + (1 - self.tau) * g
            g = g + self.mu * self.b if self.nesterov else self.b
        return self.theta - self.lr * g


class Rprop(Reference):
    """Per coordinate: if g_prev g_t > 0, eta <- min(eta eta_+, G_max); if < 0, eta <- max(eta eta_-,
    G_min) and g_t <- 0; theta -= eta sign(g_t); g_prev <- g_t (eta_0 = the lr of the parameter's
    first step, g_prev = 0; a later lr does not act, as documented: lr only initialises eta).

    The docs leave eta unchanged when g_prev g_t = 0; torch.optim clamps it into [G_min, G_max] in
    that branch too, which matters only when lr lies outside the step-size range. The reference
    follows torch.optim's behaviour there (a clamp is a no-op whenever lr is inside the range).
    """

    def configure(self, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), maximize=False, **_):
        self.lr, self.maximize = lr, maximize
        (self.eta_minus, self.eta_plus), (self.smin, self.smax) = etas, step_sizes

    def init_state(self):
        self.eta = torch.full_like(self.theta, float(self.lr))
        self.prev = self.zeros()

    def update(self, g):
        s = g * self.prev
        factor = torch.ones_like(self.theta)  # float64 (a where() on Python scalars would be float32)
        factor[s > 0] = self.eta_plus
        factor[s < 0] = self.eta_minus
        self.eta = torch.clamp(self.eta * factor, self.smin, self.smax)
        g = torch.where(s < 0, 0.0, g)
        self.prev = g
        return self.theta - self.eta * torch.sign(g)


class ASGD(Reference):
    """Averaged SGD: theta <- theta (1 - lambd eta) - eta (g_t + wd theta), with eta = lr at the
    parameter's first step and, after step t, eta <- lr / (1 + lambd lr t)^alpha with that step's
    hyperparameters (the average ax is state only, not the iterate)."""

    def configure(self, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False, **_):
        self.lr, self.lambd, self.alpha, self.wd, self.maximize = lr, lambd, alpha, weight_decay, maximize

    def init_state(self):
        self.eta = self.lr

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        theta = self.theta * (1 - self.lambd * self.eta) - self.eta * g
        self.eta = self.lr / (1 + self.lambd * self.lr * self.t) ** self.alpha
        return theta


class Lion(Reference):
    """Chen et al. 2023, Algorithm 2 (Lion): c_t = b1 m_{t-1} + (1 - b1) g_t;
    theta_t = theta_{t-1} - lr (sign(c_t) + lambda theta_{t-1}); m_t = b2 m_{t-1} + (1 - b2) g_t.
    sign(0) = 0 (a coordinate whose interpolation is exactly zero does not move)."""

    def configure(self, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, **_):
        self.lr, (self.b1, self.b2), self.wd = lr, betas, weight_decay

    def init_state(self):
        self.m = self.zeros()

    def update(self, g):
        c = self.b1 * self.m + (1 - self.b1) * g
        self.m = self.b2 * self.m + (1 - self.b2) * g
        return self.theta * (1 - self.lr * self.wd) - self.lr * torch.sign(c)


def reference_class(family: str) -> type[Reference]:
    """The recursion the family's record names (``Family.reference``)."""
    from kinkcheck.harness.oracles import adaptive_recursions, matrix_recursions

    name = FAMILIES[family].reference
    if name is None:
        raise KeyError(f"family {family!r} has no reference recursion")
    for module in (adaptive_recursions, matrix_recursions):
        if hasattr(module, name):
            return getattr(module, name)
    return globals()[name]


def reference_for(family: str, theta0: torch.Tensor, hp: dict) -> Reference:
    return reference_class(family)(theta0, **hp)
