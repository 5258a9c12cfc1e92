"""Activations the theorems cover, written so their kinks follow the convention the theorems
assume (derivative 1_{x>0}: ReLU'(0) = 0), plus the smooth approximations R_r of [GM] Lemma 4.11.

Each activation carries ``flat_below``: the constant value region ``x <= flat_below`` in which
a neuron is *inactive* (its output is constant, its derivative 0).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    flat_below: float = 0.0  # inactive region: pre-activation <= flat_below
    zero_when_flat: bool = True  # output is 0 there (so outgoing weights get no gradient)
    degree: int = 1  # polynomial growth for large inputs (RePU p): deep stacks of it overflow

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


RELU = Activation("relu", torch.relu)


def clipping(u: float, v: float) -> Activation:
    """c_{u,v}(x) = min(max(x, u), v) = u + relu(x - u) - relu(x - v): derivative 0 at x = u."""
    if not u < v:
        raise ValueError("clipping needs u < v")
    return Activation(f"clip[{u},{v}]", lambda x: u + torch.relu(x - u) - torch.relu(x - v),
                      flat_below=u, zero_when_flat=(u == 0))


def repu(p: int) -> Activation:
    """RePU max(x, 0)^p (p >= 2): C^1, constant on (-inf, 0]."""
    return Activation(f"repu{p}", lambda x: torch.relu(x) ** p, degree=p)


def under_test(fn: Callable[[torch.Tensor], torch.Tensor], name: str) -> Activation:
    """The activation under test, used wherever the theorems say "ReLU". An exception raised while
    calling it (eagerly or inside a torch.func transform) is the subject's: a ``SubjectError``."""
    from kinkcheck.harness.core.outcomes import SubjectError

    @functools.wraps(fn)
    def guarded(x):
        try:
            return fn(x)
        except SubjectError:
            raise
        except Exception as exc:
            raise SubjectError(f"activation {name} raised {type(exc).__name__}: {exc}") from exc

    return Activation(name, guarded)


def smooth_relu(r: float) -> Activation:
    """R_r(x) = r^{-1} ln(1 + r^{-1} e^{r x}) ([GM] Lemma 4.11): R_r -> ReLU, R_r'(0) = 1/(r+1).

    Computed stably as softplus(r x - ln r) / r.
    """
    log_r = math.log(r)
    return Activation(f"R_{r:g}", lambda x: F.softplus(r * x - log_r, beta=1.0, threshold=30.0) / r)
