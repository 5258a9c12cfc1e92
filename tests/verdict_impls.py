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
"""
from __future__ import annotations

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
