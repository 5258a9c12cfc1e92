"""Reference recursions (T4): independent float64 implementations of each family's update rule.

Written from the papers' equations ([GM] Lemmas 4.8, 4.9; [CUT] eqs. (22)-(23) RMSProp,
(28)-(30) Adam; Kingma & Ba) and from the algorithms *documented* in torch.optim's docstrings
(the LaTeX pseudo-code) -- never by calling torch.optim. Each reference is vectorised over one
flat float64 tensor holding every coordinate of every parameter (all families here are
elementwise, so the flattening is exact), starts from zero state, and is stepped with
``reference.step(grad) -> theta``. Hyperparameters use torch.optim's names and defaults.

``follow_reference`` feeds one gradient stream to a subject and to its family's reference side by
side and measures, at every step, the relative deviation of the iterates.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable

import torch

from kinkcheck.harness.subjects.families import FAMILIES
from kinkcheck.harness.subjects.specs import OptimizerSubject
from kinkcheck.harness.core.training import inject_gradients


class Reference:
    """One family's recursion on a flat float64 coordinate vector, zero initial state."""

    def __init__(self, theta0: torch.Tensor, **hp):
        self.theta = theta0.detach().to(torch.float64).clone()
        self.t = 0
        self.hp = hp
        self.setup(**hp)

    def setup(self, **hp):  # pragma: no cover - overridden
        raise NotImplementedError

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

    def moments(self, g: torch.Tensor) -> None:
        """Adam's moment estimates: m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2."""
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g

    def step(self, g: torch.Tensor) -> torch.Tensor:
        self.t += 1
        self.theta = self.update(g.detach().to(torch.float64).reshape(-1))
        return self.theta

    def update(self, g: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError


class SGD(Reference):
    """Gradient descent; heavy ball b_t = mu b_{t-1} + (1 - tau) g_t with b_1 = g_t ([GM] Lemma
    4.8: b_n = mu b_{n-1} + g_n when tau = 0); Nesterov: the step uses g_t + mu b_t."""

    def setup(self, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, **_):
        self.lr, self.mu, self.tau, self.nesterov, self.wd = lr, momentum, dampening, nesterov, weight_decay
        self.b = None

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        if self.mu:
            self.b = g.clone() if self.b is None else self.mu * self.b + (1 - self.tau) * g
            g = g + self.mu * self.b if self.nesterov else self.b
        return self.theta - self.lr * g


class Adagrad(Reference):
    """clr_t = lr / (1 + (t-1) lr_decay); S_t = S_{t-1} + g_t^2 (S_0 = initial_accumulator_value);
    theta_t = theta_{t-1} - clr_t g_t / (sqrt(S_t) + eps)."""

    def setup(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, **_):
        self.lr, self.decay, self.wd, self.eps = lr, lr_decay, weight_decay, eps
        self.s = torch.full_like(self.theta, float(initial_accumulator_value))

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        clr = self.lr / (1 + (self.t - 1) * self.decay)
        self.s = self.s + g * g
        return self.theta - clr * g / (torch.sqrt(self.s) + self.eps)


class RMSprop(Reference):
    """[CUT] eqs. (22)-(23): v_t = alpha v_{t-1} + (1 - alpha) g_t^2, step g_t / (sqrt(v~_t) + eps),
    no bias correction; centered: v~_t = v_t - (gbar_t)^2, gbar_t = alpha gbar + (1 - alpha) g_t;
    momentum: b_t = mu b_{t-1} + g_t / (sqrt(v~_t) + eps), theta -= lr b_t."""

    def setup(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, **_):
        self.lr, self.alpha, self.eps, self.wd, self.mu, self.centered = lr, alpha, eps, weight_decay, momentum, centered
        self.v, self.gbar, self.b = self.zeros(), self.zeros(), self.zeros()

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        a = self.alpha
        self.v = a * self.v + (1 - a) * g * g
        v_tilde = self.v
        if self.centered:
            self.gbar = a * self.gbar + (1 - a) * g
            v_tilde = self.v - self.gbar * self.gbar
        direction = g / (torch.sqrt(v_tilde) + self.eps)
        if self.mu > 0:
            self.b = self.mu * self.b + direction
            direction = self.b
        return self.theta - self.lr * direction


class Adadelta(Reference):
    """v_t = rho v + (1 - rho) g^2; dx_t = sqrt(u_{t-1} + eps) / sqrt(v_t + eps) g_t;
    u_t = rho u + (1 - rho) dx_t^2; theta -= lr dx_t (eps *inside* both roots, as documented)."""

    def setup(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, **_):
        self.lr, self.rho, self.eps, self.wd = lr, rho, eps, weight_decay
        self.v, self.u = self.zeros(), self.zeros()

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        r = self.rho
        self.v = r * self.v + (1 - r) * g * g
        dx = torch.sqrt(self.u + self.eps) / torch.sqrt(self.v + self.eps) * g
        self.u = r * self.u + (1 - r) * dx * dx
        return self.theta - self.lr * dx


class Adam(Reference):
    """[GM] Lemma 4.9, [CUT] eqs. (28)-(30), Kingma & Ba: m_t = b1 m + (1 - b1) g,
    v_t = b2 v + (1 - b2) g^2, theta -= lr (m_t / (1 - b1^t)) / (eps + sqrt(v_t / (1 - b2^t)));
    eps *outside* the root. AMSGrad: v_t replaced by max_{s<=t} v_s before bias correction.
    ``decoupled`` (AdamW): theta_{t-1} <- (1 - lr lambda) theta_{t-1} first, no L2 in g."""

    decoupled = False

    def setup(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, **_):
        self.lr, (self.b1, self.b2), self.eps, self.wd, self.amsgrad = lr, betas, eps, weight_decay, amsgrad
        self.m, self.v, self.vmax = self.zeros(), self.zeros(), self.zeros()

    def update(self, g):
        theta, g = self.apply_decay(g)
        b1, b2, t = self.b1, self.b2, self.t
        self.moments(g)
        v = self.v
        if self.amsgrad:
            self.vmax = torch.maximum(self.vmax, self.v)
            v = self.vmax
        m_hat = self.m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        return theta - self.lr * m_hat / (self.eps + torch.sqrt(v_hat))


class AdamW(Adam):
    decoupled = True

    def setup(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, **_):
        super().setup(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class Adamax(Reference):
    """m_t = b1 m + (1 - b1) g; u_t = max(b2 u_{t-1}, |g_t| + eps) (eps inside the max);
    theta -= lr m_t / ((1 - b1^t) u_t)."""

    def setup(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, **_):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.m, self.u = self.zeros(), self.zeros()

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.u = torch.maximum(self.b2 * self.u, g.abs() + self.eps)
        return self.theta - self.lr * self.m / ((1 - self.b1 ** self.t) * self.u)


class NAdam(Reference):
    """mu_t = b1 (1 - 0.5 * 0.96^(t psi)); m_hat = mu_{t+1} m_t / (1 - prod_{i<=t+1} mu_i)
    + (1 - mu_t) g_t / (1 - prod_{i<=t} mu_i); v_hat = v_t / (1 - b2^t);
    theta -= lr m_hat / (sqrt(v_hat) + eps)."""

    def setup(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
              decoupled_weight_decay=False, **_):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.psi, self.decoupled = momentum_decay, decoupled_weight_decay
        self.m, self.v = self.zeros(), self.zeros()
        self.mu_product = 1.0  # prod_{i<=t} mu_i

    def mu(self, t: int) -> float:
        return self.b1 * (1 - 0.5 * 0.96 ** (t * self.psi))

    def update(self, g):
        theta, g = self.apply_decay(g)
        t, b2 = self.t, self.b2
        mu_t, mu_next = self.mu(t), self.mu(t + 1)
        self.mu_product *= mu_t
        self.moments(g)
        m_hat = mu_next * self.m / (1 - self.mu_product * mu_next) + (1 - mu_t) * g / (1 - self.mu_product)
        v_hat = self.v / (1 - b2 ** t)
        return theta - self.lr * m_hat / (torch.sqrt(v_hat) + self.eps)


class RAdam(Reference):
    """rho_inf = 2/(1 - b2) - 1, rho_t = rho_inf - 2 t b2^t / (1 - b2^t); if rho_t > 5:
    theta -= lr m_hat r_t l_t with l_t = sqrt(1 - b2^t) / (sqrt(v_t) + eps),
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)); else theta -= lr m_hat."""

    def setup(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False, **_):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.decoupled = decoupled_weight_decay
        self.m, self.v = self.zeros(), self.zeros()

    def update(self, g):
        theta, g = self.apply_decay(g)
        t, b1, b2 = self.t, self.b1, self.b2
        self.moments(g)
        m_hat = self.m / (1 - b1 ** t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > 5:
            l_t = math.sqrt(1 - b2 ** t) / (torch.sqrt(self.v) + self.eps)
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return theta - self.lr * m_hat * r_t * l_t
        return theta - self.lr * m_hat


class Rprop(Reference):
    """Per coordinate: if g_prev g_t > 0, eta <- min(eta eta_+, G_max); if < 0, eta <- max(eta eta_-,
    G_min) and g_t <- 0; theta -= eta sign(g_t); g_prev <- g_t (eta_0 = lr, g_prev = 0).

    The docs leave eta unchanged when g_prev g_t = 0; torch.optim clamps it into [G_min, G_max] in
    that branch too, which matters only when lr lies outside the step-size range. The reference
    follows torch.optim's behaviour there (a clamp is a no-op whenever lr is inside the range).
    """

    def setup(self, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), **_):
        (self.eta_minus, self.eta_plus), (self.smin, self.smax) = etas, step_sizes
        self.eta = torch.full_like(self.theta, float(lr))
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
    """Averaged SGD: theta <- theta (1 - lambd eta_t) - eta_t g_t, with eta_1 = lr and
    eta_{t+1} = lr / (1 + lambd lr t)^alpha (the average ax is state only, not the iterate)."""

    def setup(self, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, **_):
        self.lr, self.lambd, self.alpha, self.wd = lr, lambd, alpha, weight_decay

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        eta = self.lr / (1 + self.lambd * self.lr * (self.t - 1)) ** self.alpha
        return self.theta * (1 - self.lambd * eta) - eta * g


def reference_class(family: str) -> type[Reference]:
    """The recursion the family's record names (``Family.reference``)."""
    name = FAMILIES[family].reference
    if name is None:
        raise KeyError(f"family {family!r} has no reference recursion")
    return globals()[name]


def reference_for(family: str, theta0: torch.Tensor, hp: dict) -> Reference:
    return reference_class(family)(theta0, **hp)


def flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])


@dataclass
class Comparison:
    """Outcome of stepping a subject and its reference side by side."""

    max_deviation: float  # max over steps and coordinates of |subject - reference| / scale
    worst_step: int
    worst_coordinate: int
    subject_value: float
    reference_value: float
    steps: int
    moved: bool  # some step of the reference changed some coordinate (non-vacuity)


def relative_deviation(actual: torch.Tensor, expected: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """|actual - expected| / scale, coordinatewise; a difference where scale is 0 is infinite."""
    diff = (actual - expected).abs()
    dev = diff / scale.clamp_min(torch.finfo(torch.float64).tiny)
    return torch.where(diff == 0, torch.zeros_like(dev), dev)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Run with ``torch.get_default_dtype() == dtype``, restored afterwards."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def follow_reference(subject: OptimizerSubject, params: list[torch.Tensor],
                     gradients: Callable[[int], list[torch.Tensor]], hp: dict, steps: int) -> Comparison:
    """Step ``subject`` (on the leaves ``params``) and its family's reference on the same stream.

    T4 is a float64 statement, so the subject runs with float64 as the default dtype: torch.optim
    allocates scalar state (NAdam's mu product, ASGD's eta, step counters) in the default dtype,
    and in float32 that state alone would put ~6e-8 relative error into every step.

    The scale of coordinate i after step k is |theta_0,i| + sum_{j<=k} |reference increment j,i|:
    rounding in either implementation is relative to the parameter and to each step taken.
    """
    theta0 = flat(params)
    ref = reference_for(subject.family, theta0, hp)
    scale = theta0.abs()
    worst = {"dev": 0.0, "step": 0, "i": 0, "a": 0.0, "b": 0.0}

    def compare(k: int, actual: torch.Tensor):
        dev = relative_deviation(actual, ref.theta, scale)
        i = int(dev.argmax())
        if float(dev[i]) > worst["dev"]:
            worst.update(dev=float(dev[i]), step=k, i=i, a=float(actual[i]), b=float(ref.theta[i]))

    def gradients_and_reference(k: int) -> list[torch.Tensor]:
        nonlocal scale
        compare(k - 1, flat(params))  # the subject has taken k-1 steps, so has the reference
        grads = gradients(k)
        before = ref.theta
        ref.step(flat(grads))
        scale = scale + (ref.theta - before).abs()
        return grads

    with default_dtype(torch.float64):
        inject_gradients(params, gradients_and_reference, subject, hp, steps)
    compare(steps, flat(params))
    # non-vacuity: some step moved the reference (the end point may be back at theta_0, e.g. Rprop's
    # symmetric sign steps); scale only grows when a reference increment is nonzero
    return Comparison(worst["dev"], worst["step"], worst["i"], worst["a"], worst["b"], steps,
                      bool((scale != theta0.abs()).any()))
