"""Running an optimizer subject on small explicit objectives and recording the whole trajectory.

Used by T10-T14: the objective is a function ``f(p) -> scalar tensor`` of one parameter vector
(the toy LASSO ``lam * |p|.sum()``, eq. (3) of [CUT], Huber, quadratics). Every step is guarded
(``kinkcheck.harness.core.training.guarded_step``): a raising or non-finite subject fails the property with
its name. ``zero_at``: steps after which chosen coordinates are set to exactly 0 (the state of
[CUT] Prop B.3/B.9: parameter at 0 with the optimizer's history intact). ``lr_rule``: called
with (step, losses) after each step, returns a factor for every param group's lr.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from kinkcheck.harness.core.records import theorem_id
from kinkcheck.harness.subjects.specs import OptimizerSubject, check_finite
from kinkcheck.harness.core.training import guarded_step


@dataclass
class Run:
    iterates: torch.Tensor  # (steps + 1, d): b_0 .. b_steps
    losses: list[float] = field(default_factory=list)  # f(b_0) .. f(b_{steps-1}) as computed
    optimizer: object = None
    states: list[dict] = field(default_factory=list)  # optimizer.state[p] copies, when recorded


def run_objective(subject: OptimizerSubject, beta0: torch.Tensor, objective: Callable, hp: dict,
                  steps: int, *, zero_at: dict[int, torch.Tensor] | None = None,
                  lr_rule: Callable[[int, list[float]], float] | None = None,
                  record_state: tuple[str, ...] = ()) -> Run:
    p = beta0.detach().clone().requires_grad_(True)
    optimizer = subject.build([p], **hp)
    iterates = torch.empty((steps + 1,) + tuple(p.shape), dtype=p.dtype, device=p.device)
    iterates[0] = p.detach()
    losses, states = [], []
    for k in range(1, steps + 1):
        optimizer.zero_grad()
        value = objective(p)
        value.backward()
        losses.append(float(value.detach()))
        guarded_step(optimizer, subject, None, k)
        check_finite(subject, [p], f"after step {k} in {theorem_id()}")
        if zero_at and k in zero_at:
            with torch.no_grad():
                p[zero_at[k]] = 0.0
        iterates[k] = p.detach()
        if record_state:
            st = optimizer.state.get(p, {})
            states.append({n: st[n].detach().clone() for n in record_state if n in st})
        if lr_rule is not None:
            factor = lr_rule(k, losses)
            if factor != 1:
                for g in optimizer.param_groups:
                    g["lr"] = g["lr"] * factor
    return Run(iterates, losses, optimizer, states)


def lasso(lam: float, ridge: float = 0.0) -> Callable:
    """[CUT] eq. (7) (toy LASSO), with eq. (3)'s ridge term when ridge > 0."""
    if ridge:
        return lambda p: lam * p.abs().sum() + ridge * (p * p).sum()
    return lambda p: lam * p.abs().sum()


def relu_regression(x: torch.Tensor, y: torch.Tensor, lam: float, activation=torch.relu,
                    ridge: float = 0.0) -> Callable:
    """[CUT] eq. (3): ||y - relu(X b)||^2 + lam ||b||_1 (+ ridge ||b||^2), y <= 0."""
    pen = lasso(lam, ridge)
    return lambda p: ((activation(x @ p) - y) ** 2).sum() + pen(p)


def steps_until_within(values: list[float], eps: float) -> int | None:
    """Smallest N such that values[k] <= eps for every k >= N (None if the last one is not)."""
    n = None
    for k in range(len(values) - 1, -1, -1):
        if values[k] <= eps:
            n = k
        else:
            break
    return n
