"""Reference recursions (T4) of the adaptive families: Adagrad, RMSprop, Adadelta, and the Adam
group (Adam/AMSGrad/AdamW, Adamax, NAdam, RAdam). See ``recursions`` for the conventions."""
from __future__ import annotations

import math

import torch

from kinkcheck.harness.oracles.recursions import Reference, subtract_both


class Adagrad(Reference):
    """clr_t = lr / (1 + (t-1) lr_decay); S_t = S_{t-1} + g_t^2 (S_0 = initial_accumulator_value);
    theta_t = theta_{t-1} - clr_t g_t / (sqrt(S_t) + eps)."""

    def __init__(self, theta0, **hp):
        super().__init__(theta0, **hp)
        self.s0 = float(hp.get("initial_accumulator_value", 0.0))  # torch fills S_0 at construction

    def configure(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                  maximize=False, **_):
        self.lr, self.decay, self.wd, self.eps, self.maximize = lr, lr_decay, weight_decay, eps, maximize

    STATE = {"sum": "s"}

    def init_state(self):
        self.s = torch.full_like(self.theta, self.s0)

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        clr = self.lr / (1 + (self.t - 1) * self.decay)
        self.s = self.s + g * g
        return self.theta - clr * g / (torch.sqrt(self.s) + self.eps)


class RMSprop(Reference):
    """[CUT] eqs. (22)-(23): v_t = alpha v_{t-1} + (1 - alpha) g_t^2, step g_t / (sqrt(v~_t) + eps),
    no bias correction; centered: v~_t = v_t - (gbar_t)^2, gbar_t = alpha gbar + (1 - alpha) g_t;
    momentum: b_t = mu b_{t-1} + g_t / (sqrt(v~_t) + eps), theta -= lr b_t."""

    def configure(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                  maximize=False, **_):
        self.lr, self.alpha, self.eps, self.wd, self.mu = lr, alpha, eps, weight_decay, momentum
        self.centered, self.maximize = centered, maximize

    STATE = {"square_avg": "v", "grad_avg": "gbar", "momentum_buffer": "b"}

    def init_state(self):
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

    def configure(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False, **_):
        self.lr, self.rho, self.eps, self.wd, self.maximize = lr, rho, eps, weight_decay, maximize

    STATE = {"square_avg": "v", "acc_delta": "u"}

    def init_state(self):
        self.v, self.u = self.zeros(), self.zeros()

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        r = self.rho
        self.v = r * self.v + (1 - r) * g * g
        dx = torch.sqrt(self.u + self.eps) / torch.sqrt(self.v + self.eps) * g
        self.u = r * self.u + (1 - r) * dx * dx
        return self.theta - self.lr * dx


class _Moments(Reference):
    STATE = {"exp_avg": "m", "exp_avg_sq": "v"}

    def init_state(self):
        self.m, self.v = self.zeros(), self.zeros()

    def moments(self, g: torch.Tensor) -> None:
        """Adam's moment estimates: m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2."""
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g


class Adam(_Moments):
    """[GM] Lemma 4.9, [CUT] eqs. (28)-(30), Kingma & Ba: m_t = b1 m + (1 - b1) g,
    v_t = b2 v + (1 - b2) g^2, theta -= lr (m_t / (1 - b1^t)) / (eps + sqrt(v_t / (1 - b2^t)));
    eps *outside* the root. AMSGrad: v_t replaced by max_{s<=t} v_s before bias correction.
    ``decoupled_weight_decay`` (AdamW): theta_{t-1} <- (1 - lr lambda) theta_{t-1} first, no L2 in g."""

    def configure(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
                  decoupled_weight_decay=False, **_):
        self.lr, (self.b1, self.b2), self.eps, self.wd, self.amsgrad = lr, betas, eps, weight_decay, amsgrad
        self.maximize, self.decoupled = maximize, decoupled_weight_decay

    STATE = {"exp_avg": "m", "exp_avg_sq": "v", "max_exp_avg_sq": "vmax"}

    def init_state(self):
        super().init_state()
        self.vmax = self.zeros()

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
    def configure(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False,
                  **_):
        super().configure(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                          maximize=maximize, decoupled_weight_decay=True)


class Adamax(_Moments):
    """m_t = b1 m + (1 - b1) g; u_t = max(b2 u_{t-1}, |g_t| + eps) (eps inside the max);
    theta -= lr m_t / ((1 - b1^t) u_t)."""

    def configure(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False, **_):
        self.lr, (self.b1, self.b2), self.eps, self.wd, self.maximize = lr, betas, eps, weight_decay, maximize

    STATE = {"exp_avg": "m", "exp_inf": "v"}

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = torch.maximum(self.b2 * self.v, g.abs() + self.eps)
        return self.theta - self.lr * self.m / ((1 - self.b1 ** self.t) * self.v)


class NAdam(_Moments):
    """mu_t = b1 (1 - 0.5 * 0.96^(t psi)); m_hat = mu_{t+1} m_t / (1 - prod_{i<=t+1} mu_i)
    + (1 - mu_t) g_t / (1 - prod_{i<=t} mu_i); v_hat = v_t / (1 - b2^t);
    theta -= lr m_hat / (sqrt(v_hat) + eps). The product is state: each factor uses its step's b1."""

    def configure(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                  decoupled_weight_decay=False, maximize=False, **_):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.psi, self.decoupled, self.maximize = momentum_decay, decoupled_weight_decay, maximize

    STATE = {"exp_avg": "m", "exp_avg_sq": "v", "mu_product": "mu_product"}

    def init_state(self):
        super().init_state()
        self.mu_product = 1.0  # prod_{i<=t} mu_i

    def mu(self, t: int) -> float:
        return self.b1 * (1 - 0.5 * 0.96 ** (t * self.psi))

    def update(self, g):
        theta, g = self.apply_decay(g)
        t, b2 = self.t, self.b2
        mu_t, mu_next = self.mu(t), self.mu(t + 1)
        self.mu_product *= mu_t
        self.moments(g)
        v_hat = self.v / (1 - b2 ** t)
        denom = torch.sqrt(v_hat) + self.eps
        # the two terms of m_hat as two steps (torch subtracts them from theta one after the other)
        from_grad = self.lr * ((1 - mu_t) * g / (1 - self.mu_product)) / denom
        from_momentum = self.lr * (mu_next * self.m / (1 - self.mu_product * mu_next)) / denom
        return subtract_both(theta, from_grad, from_momentum)


class RAdam(_Moments):
    """rho_inf = 2/(1 - b2) - 1, rho_t = rho_inf - 2 t b2^t / (1 - b2^t); if rho_t > 5:
    theta -= lr m_hat r_t l_t with l_t = sqrt(1 - b2^t) / (sqrt(v_t) + eps),
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)); else theta -= lr m_hat."""

    def configure(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                  maximize=False, **_):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.decoupled, self.maximize = decoupled_weight_decay, maximize

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
