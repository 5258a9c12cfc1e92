"""Reference recursions (T4) of the families whose update mixes the coordinates of a parameter:
Adafactor (factored second moment) and Muon (Newton-Schulz orthogonalised momentum).
See ``recursions`` for the conventions."""
from __future__ import annotations

import math

import torch

from kinkcheck.harness.oracles.recursions import Reference

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic, torch.optim.Muon's default


class Adafactor(Reference):
    """Shazeer & Stern 2018 as torch.optim.Adafactor documents it (maximize, then):
    beta2_t = t^beta2_decay (the weight of the new term); rho_t = min(lr, 1/sqrt(t));
    alpha_t = max(eps2, RMS(theta_{t-1})) rho_t; decoupled decay theta <- (1 - lr lambda) theta;
    a parameter of >= 2 dims keeps row and column means of g^2 over its last two dims,
    R_t = (1 - beta2_t) R + beta2_t mean_cols(g^2), C_t likewise, and estimates
    V = R C / mean_rows(max(R, eps1)) (clamped from below by eps1); lower-dimensional ones keep
    V_t = (1 - beta2_t) V + beta2_t g^2; U = g / sqrt(max(V, eps1^2));
    theta -= alpha_t U / max(1, RMS(U) / d). eps1 = None means the parameter dtype's machine epsilon."""

    def configure(self, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, maximize=False,
                  **_):
        self.lr, self.decay, self.d, self.wd, self.maximize = lr, beta2_decay, d, weight_decay, maximize
        eps1, self.eps2 = eps
        self.eps1 = torch.finfo(self.dtype).eps if eps1 is None else eps1

    STATE = {"row_var": "row", "col_var": "col", "variance": "var"}

    def init_state(self):
        if self.theta.dim() > 1:
            self.row = torch.zeros(self.theta.shape[:-1] + (1,), dtype=torch.float64)
            self.col = torch.zeros(self.theta.shape[:-2] + (1,) + self.theta.shape[-1:], dtype=torch.float64)
        else:
            self.var = self.zeros()

    def update(self, g):
        t = float(self.t)
        w = t ** self.decay
        rho = min(self.lr, 1 / t ** 0.5)
        n = self.theta.numel()
        # 0-d tensors, not Python floats: in a low-precision run (Bounded) the subject's norms are rounded too
        alpha = torch.clamp(self.theta.norm() / n ** 0.5, min=self.eps2) * rho
        theta = self.theta * (1 - self.lr * self.wd) if self.wd else self.theta
        if g.dim() > 1:
            self.row = (1 - w) * self.row + w * (g * g).mean(dim=-1, keepdim=True)
            self.col = (1 - w) * self.col + w * (g * g).mean(dim=-2, keepdim=True)
            v = self.row @ self.col / self.row.mean(dim=-2, keepdim=True).clamp(min=self.eps1)
        else:
            self.var = (1 - w) * self.var + w * g * g
            v = self.var
        u = v.clamp(min=self.eps1 * self.eps1).rsqrt() * g
        denom = torch.clamp(u.norm() / (u.numel() ** 0.5 * self.d), min=1.0)
        return theta - alpha / denom * u


def newton_schulz(x: torch.Tensor, steps: int, eps: float, coefficients=NS_COEFFICIENTS) -> torch.Tensor:
    """Keller Jordan's quintic Newton-Schulz orthogonalisation, as published (muon.py) and as
    torch.optim.Muon documents it: in bfloat16, on the wide orientation, X <- X / max(||X||_F, eps),
    then ``steps`` times A = X X^T, X <- a X + (b A + c A^2) X. The published algorithm fixes the
    precision (bfloat16), so the reference runs it there too; it returns float64."""
    a, b, c = coefficients
    tall = x.size(0) > x.size(1)
    y = x.to(torch.bfloat16)
    y = y.T if tall else y
    y = y / y.norm().clamp(min=eps)
    for _ in range(steps):
        gram = y @ y.T
        y = torch.addmm(y, torch.addmm(gram, gram, gram, beta=b, alpha=c), y, beta=a)
    return (y.T if tall else y).to(torch.float64)


class Muon(Reference):
    """torch.optim.Muon's documented recursion: B_t = mu B_{t-1} + (1 - mu) g_t (a lerp: the
    docs' B_t = mu B + g up to the factor 1 - mu that Newton-Schulz's normalisation removes);
    nesterov: B~_t = g_t + mu (B_t - g_t), else B_t; O_t = NS_k(B~_t);
    theta <- (1 - lr lambda) theta - lr' O_t with lr' = lr sqrt(max(1, A/B)) ("original", None) or
    0.2 lr sqrt(max(A, B)) ("match_rms_adamw") for an A x B parameter."""

    def configure(self, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, eps=1e-7, ns_steps=5,
                  adjust_lr_fn=None, ns_coefficients=NS_COEFFICIENTS, **_):
        self.lr, self.wd, self.mu, self.nesterov = lr, weight_decay, momentum, nesterov
        self.eps, self.ns_steps, self.adjust, self.coefficients = eps, ns_steps, adjust_lr_fn, ns_coefficients

    def init_state(self):
        self.b = self.zeros()

    def update(self, g):
        self.b = self.b + (1 - self.mu) * (g - self.b)
        direction = g + self.mu * (self.b - g) if self.nesterov else self.b
        o = newton_schulz(direction, self.ns_steps, self.eps, self.coefficients)
        rows, cols = self.theta.shape[:2]
        if self.adjust == "match_rms_adamw":
            lr = self.lr * 0.2 * math.sqrt(max(rows, cols))
        else:
            lr = self.lr * math.sqrt(max(1, rows / cols))
        return self.theta * (1 - self.lr * self.wd) - lr * o
