"""Subjects for the verdict-integrity self-tests (issue #19): correct optimizers that used to be failed
for kinkcheck's own assumptions, and broken ones written to slip through the verdict machinery.

Correct (each must pass its gate, with what did not run shown as n/s):
- ``KerasAdam``: Adam with Keras-style ``beta1``/``beta2`` and a fixed eps = 1e-7 it does not take;
- ``DefaultDecaySGD``: SGD whose default weight decay is nonzero (coupled);
- ``DecoupledAdam``: Adam with decoupled (AdamW-style) decay, mapped to family adam with
  ``?decay_law='decoupled'``;
- ``OldZeroGradSGD``: an optimizer whose ``zero_grad(self)`` predates ``set_to_none``.

Broken (each must be rejected, or refused at the start):
- ``NoLrSGD``: takes ``learning_rate``, not ``lr`` (a usage error, exit 4);
- ``DoubleDecayAdamW``: AdamW that applies its decoupled decay twice per step (hides under "out of
  scope" unless the displacement is checked against the declared law);
- ``RaisesInZeroGradSGD``: its ``zero_grad`` raises (the subject's FAIL, not the suite's ERROR);
- ``NotAnOptimizer``: a factory that returns something without ``step`` (a usage error).

Issue #19, the rest (``tests/test_verdict_integrity_2.py``):
- correct: ``RectifiedAdam`` (pytorch-optimizer's RAdam without the SGD fallback: with beta2 = 0.5 it
  never moves), ``HarmonicAvaGrad`` (AvaGrad: its float32 steps round away when a coordinate's gradient
  is exactly 0), ``ForwardingMuon`` (sets ``nesterov`` itself, as MuonClip: needs
  ``rename={'nesterov': None}``), ``SlowAdam`` (every step sleeps 0.4 s);
- broken: ``NeverMovingAdam`` (never moves), ``LeakyRectifiedAdam`` (moves zero-gradient coordinates
  in the cases where it moves at all), ``LeakyAvaGrad`` (the same, by less than float32 resolves),
  ``LeakyForwardingMuon`` (moves zero rows; withholding nesterov does not hide it).
"""
from __future__ import annotations

import math
import time

import torch

from tests.broken.recursions import CorrectAdam, _Elementwise


class KerasAdam(_Elementwise):
    """Adam with the hyperparameter names of Keras (``beta1``, ``beta2``) and eps fixed at 1e-7."""

    EPS = 1e-7

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999):
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2))

    def update(self, p, g, state, group):
        b1, b2 = group["beta1"], group["beta2"]
        if "m" not in state:
            state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
        state["m"].mul_(b1).add_(g, alpha=1 - b1)
        state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        t = state["step"]
        m_hat = state["m"] / (1 - b1 ** t)
        v_hat = state["v"] / (1 - b2 ** t)
        p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + self.EPS))


class _SGD(_Elementwise):
    def __init__(self, params, lr=1e-2, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def update(self, p, g, state, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        p.sub_(group["lr"] * g)


class DefaultDecaySGD(_SGD):
    """Plain SGD with coupled weight decay on by default (1e-2): correct, and out of scope of T2/T3."""

    def __init__(self, params, lr=1e-2, weight_decay=1e-2):
        super().__init__(params, lr=lr, weight_decay=weight_decay)


class OldZeroGradSGD(_SGD):
    """Plain SGD whose ``zero_grad`` takes no ``set_to_none`` (torch.optim before 1.7): sets zeros."""

    def zero_grad(self):  # noqa: D401 - the old protocol
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if p.grad.grad_fn is not None:  # as torch.optim's zero_grad: a view cannot detach_ in place
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()


class RaisesInZeroGradSGD(_SGD):
    """Its ``zero_grad`` raises: an error of the subject, wherever the suite calls it."""

    def zero_grad(self, set_to_none: bool = True):
        raise RuntimeError("zero_grad is broken in this optimizer")


class NoLrSGD(_Elementwise):
    """Takes ``learning_rate`` instead of ``lr``: cannot be built with family sgd's defining hyperparameter."""

    def __init__(self, params, learning_rate=1e-2):
        super().__init__(params, dict(learning_rate=learning_rate))

    def update(self, p, g, state, group):
        p.sub_(group["learning_rate"] * g)


class DecoupledAdam(CorrectAdam):
    """Adam with decoupled weight decay (theta <- theta (1 - lr lambda), no L2 in g), AdamW-style, under
    the name Adam: correct for its declared law."""

    def update(self, p, g, state, group):
        wd = group["weight_decay"]
        if wd:
            p.mul_(1 - group["lr"] * wd)
        super().update(p, g, state, {**group, "weight_decay": 0.0})


class DoubleDecayAdamW(CorrectAdam):
    """AdamW that shrinks by (1 - lr lambda) twice per step: its zero-gradient coordinates leave the
    decoupled law (a bug that an "out of scope" outcome used to hide)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def update(self, p, g, state, group):
        wd = group["weight_decay"]
        if wd:
            p.mul_(1 - group["lr"] * wd).mul_(1 - group["lr"] * wd)
        super().update(p, g, state, {**group, "weight_decay": 0.0})


def NotAnOptimizer(params, lr=1e-2):  # noqa: N802 - a factory named like a class, as users write them
    """Returns a plain object: no ``step``, no ``param_groups``."""
    return object()


class SGDW(_Elementwise):
    """Heavy-ball SGD with decoupled weight decay (SGDW, Loshchilov & Hutter 2019): theta <- theta (1 - lr
    lambda), the momentum buffer fed the gradient alone. Correct for ?decay_law='decoupled'."""

    def __init__(self, params, lr=1e-2, momentum=0.9, dampening=0.0, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay))

    def update(self, p, g, state, group):
        if group["weight_decay"]:
            p.mul_(1 - group["lr"] * group["weight_decay"])
        if "b" not in state:
            state["b"] = g.clone()
        else:
            state["b"].mul_(group["momentum"]).add_(g, alpha=1 - group["dampening"])
        p.sub_(group["lr"] * state["b"])


class RectifiedAdam(_Elementwise):
    """Rectified Adam (Liu et al. 2020, Algorithm 2) as pytorch-optimizer 4.1 writes it with its default
    ``degenerated_to_sgd=False`` and ``n_sma_threshold=5``: while rho_t < 5 the step is skipped, decay
    included; rho_inf = 2 / (1 - beta2) - 1 = 3 for beta2 = 0.5, so with that beta2 it never moves (by
    design, correct). Decoupled decay on the steps it takes (declare ``decay_law='none'``: no law of the
    suite's)."""

    THRESHOLD = 5.0

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def numerator(self, m, eps):
        return m

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        t = state["step"]
        if "m" not in state:
            state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * b2 ** t / (1.0 - b2 ** t)
        moves = rho_t >= self.THRESHOLD
        if moves and group["weight_decay"]:
            p.mul_(1.0 - group["lr"] * group["weight_decay"])
        state["m"].mul_(b1).add_(g, alpha=1 - b1)
        state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        if moves:
            r = math.sqrt((1 - b2 ** t) * (rho_t - 4) / (rho_inf - 4) * (rho_t - 2) / rho_t * rho_inf / (rho_inf - 2))
            step = group["lr"] * r / (1 - b1 ** t)
            p.sub_(step * self.numerator(state["m"], group["eps"]) / (state["v"].sqrt() + group["eps"]))


class NeverMovingAdam(RectifiedAdam):
    """Builds Adam's state and never updates (the rectification threshold is never reached): checks nothing,
    whatever it is given -- "never reached the regime"."""

    THRESHOLD = math.inf


class LeakyRectifiedAdam(RectifiedAdam):
    """Rectified Adam with eps added to the numerator as well: a zero-gradient coordinate (m = v = 0) moves
    by the full step lr r / (1 - beta1^t) whenever the optimizer moves at all. With beta2 = 0.5 it never
    moves, so the cases that draw it say nothing; the other cases must catch it."""

    def numerator(self, m, eps):
        return m + eps


class HarmonicAvaGrad(torch.optim.Optimizer):
    """AvaGrad (Savarese et al. 2021, Algorithm 1) as pytorch-optimizer 4.1 writes it (``avagrad.py``,
    for-loop path): the step t > 1 uses the second moment of step t - 1, and the global step size gamma is
    a harmonic mean of the per-coordinate rates, gamma = (mean_i d_i^-2)^(-1/2) with d_i = sqrt(v_i) /
    sqrt(1 - beta2^t) + eps. A coordinate whose gradient is always exactly 0 has d_i = eps, which pins gamma
    near eps sqrt(n / n_zero): with eps = 1e-8 and lr = 1/32 every step is ~5e-10, below half an ulp of
    O(1) float32 weights -- in float32 nothing moves, in float64 it moves at step 2 (correct, by design).
    Decoupled decay (``decay_law='decoupled'``)."""

    def __init__(self, params, lr=1e-1, betas=(0.9, 0.999), eps=1e-1, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, gamma=None, t=0))

    def numerator(self, m, eps):
        return m

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["t"] += 1
            t, (b1, b2), eps, lr = group["t"], group["betas"], group["eps"], group["lr"]
            bc2, bc2_prev = math.sqrt(1 - b2 ** t), math.sqrt(1 - b2 ** (t - 1))
            squared, count = 0.0, 0
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, state = p.grad, self.state[p]
                if not state:
                    state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                if group["weight_decay"]:
                    p.mul_(1 - lr * group["weight_decay"])
                state["m"].mul_(b1).add_(g, alpha=1 - b1)
                root = state["v"].sqrt()
                if t > 1:
                    p.sub_(group["gamma"] * lr * self.numerator(state["m"], eps) / (root / bc2_prev + eps))
                state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
                rate = root / bc2 + eps
                squared += float((rate ** -2).sum())
                count += rate.numel()
            group["gamma"] = 0.0 if count == 0 else 1.0 / math.sqrt(squared / count)
        return loss


class LeakyAvaGrad(HarmonicAvaGrad):
    """AvaGrad with eps added to the numerator: a zero-gradient coordinate moves by gamma lr ~ 5e-10 per step
    -- rounded away in float32 together with every other update, visible in float64."""

    def numerator(self, m, eps):
        return m + eps


class ForwardingMuon(torch.optim.Muon):
    """torch.optim.Muon behind a constructor that sets ``nesterov`` itself and forwards the rest, as
    pytorch-optimizer's MuonClip does (``nesterov=False`` to its Muon base, ``**kwargs`` for the rest): family
    muon's drawn ``nesterov`` collides (TypeError: multiple values) unless the spec withholds it,
    ``?rename={'nesterov': None}``. Correct; its parameter groups may carry MuonClip's ``use_muon`` flag."""

    def __init__(self, params, lr=1e-3, momentum=0.95, weight_decay=0.0, **kwargs):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=False, **kwargs)


class LeakyForwardingMuon(ForwardingMuon):
    """ForwardingMuon that adds 1e-3 lr to every entry after each step: zero rows and columns move."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(1e-3 * group["lr"])
        return loss


class SlowAdam(CorrectAdam):
    """Correct Adam whose every step takes 0.4 s (a slow kernel on a loaded machine): a test of it runs for
    seconds, every call returning -- slow, not hung."""

    STEP_S = 0.4

    def step(self, closure=None):
        time.sleep(self.STEP_S)
        return super().step(closure)
