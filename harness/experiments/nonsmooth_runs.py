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
from kinkcheck.harness.core.driving import optimizer_state
from kinkcheck.harness.core.guard import Guarded
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
    """Run ``steps`` steps of the subject on ``objective`` from ``beta0``; see the module docstring.

    Per-step cost is kept to the subject's own step (issue #13, ``benchmarks/test_bench_run_objective.py``):
    - gradients: ``objective.gradient(p)`` when the objective carries one (``lasso`` without ridge:
      ``lam * sign(p)``, the very tensor autograd's backward of ``lam * |p|.sum()`` produces, bit for
      bit, checked by that benchmark on every builtin subject), else autograd;
    - ``zero_grad``: ``p.grad = None`` when the optimizer does not override ``Optimizer.zero_grad``
      (what its ``zero_grad()`` does for the one parameter), else the optimizer's own;
    - no host sync per step: the finiteness check runs once over the recorded iterates at the end
      (and before any zeroing of ``zero_at``, and when a step raises) and names the *first* step that
      produced a non-finite parameter, as a per-step check would; losses are read back once at the
      end (per step only when ``lr_rule`` needs them)."""
    p = beta0.detach().clone().requires_grad_(True)
    optimizer = subject.build([p], **hp)
    iterates = torch.empty((steps + 1,) + tuple(p.shape), dtype=p.dtype, device=p.device)
    iterates[0] = p.detach()
    gradient = getattr(objective, "gradient", None)
    own_zero_grad = type(optimizer).zero_grad is not torch.optim.Optimizer.zero_grad
    losses, values, states = [], [], []
    k = 0
    try:
        for k in range(1, steps + 1):
            if gradient is not None:
                with torch.no_grad():
                    value = objective(p)
                    grad = gradient(p)
                if own_zero_grad:
                    Guarded(subject, optimizer).zero_grad()
                p.grad = grad
            else:
                if own_zero_grad:
                    Guarded(subject, optimizer).zero_grad()
                else:
                    p.grad = None
                value = objective(p)
                value.backward()
            values.append(value.detach())
            if lr_rule is not None:
                losses.append(float(values[-1]))
            guarded_step(optimizer, subject, None, k)
            if zero_at and k in zero_at:
                check_finite(subject, [p], f"after step {k} in {theorem_id()}")  # before zeroing hides it
                with torch.no_grad():
                    p[zero_at[k]] = 0.0
            iterates[k] = p.detach()
            if record_state:
                st = optimizer_state(optimizer).get(p, {})
                states.append({n: st[n].detach().clone() for n in record_state if n in st})
            if lr_rule is not None:
                factor = lr_rule(k, losses)
                if factor != 1:
                    for g in optimizer.param_groups:
                        g["lr"] = g["lr"] * factor
    except Exception:
        _first_non_finite(subject, iterates, k)  # a non-finite earlier step is the subject's first error
        raise
    _first_non_finite(subject, iterates, steps + 1)
    if lr_rule is None:
        losses = torch.stack(values).tolist() if values else []
    return Run(iterates, losses, optimizer, states)


def _first_non_finite(subject: OptimizerSubject, iterates: torch.Tensor, upto: int) -> None:
    """Raise check_finite's SubjectError for the first step in 1..upto-1 whose iterate is non-finite."""
    done = iterates[1:upto].flatten(1)
    if done.numel() == 0:
        return
    finite = torch.isfinite(done).all(dim=1)
    if bool(finite.all()):
        return
    k = int((~finite).nonzero()[0, 0]) + 1
    check_finite(subject, [iterates[k]], f"after step {k} in {theorem_id()}")


def lasso(lam: float, ridge: float = 0.0) -> Callable:
    """[CUT] eq. (7) (toy LASSO), with eq. (3)'s ridge term when ridge > 0. Without ridge the
    objective carries ``gradient``: ``lam * sign(p)``, autograd's backward of ``lam * |p|.sum()``
    bit for bit (sign(0) = 0 is torch's abs'(0); the product by +-1 or 0 is exact, and the scalar
    lam meets the tensor through the same kernel as in the backward's ``grad_out * lam``)."""
    if ridge:
        return lambda p: lam * p.abs().sum() + ridge * (p * p).sum()

    def objective(p):
        return lam * p.abs().sum()

    objective.gradient = lambda p: torch.sign(p) * lam
    return objective


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
