"""Running optimizer steps: training batched networks, and gradient injection.

Training B networks with *one* optimizer over batched tensors is the same as training each with
its own optimizer when the optimizer is elementwise (every family but L-BFGS, Adafactor, Muon):
the loss is the sum of the per-network losses, so gradients decouple. The properties that use
``train`` hold for the joint parameter vector too, so they stay valid for the other families.

Every step is guarded: an exception from the subject, or a non-finite parameter after a step,
becomes a ``SubjectError`` that names the subject, the theorem and the step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from kinkcheck.harness.core.activations import RELU, Activation
from kinkcheck.harness.core.losses import mse
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.records import theorem_id
from kinkcheck.harness.subjects.specs import OptimizerSubject, SubjectError, check_finite


@dataclass
class Trajectory:
    initial: list[torch.Tensor]
    final: list[torch.Tensor]
    losses: list[torch.Tensor] = field(default_factory=list)  # per step, (B,) before the step
    optimizer: object = None

    def moved(self) -> torch.Tensor:
        """(B,) bool: some parameter of the network changed."""
        flags = [(a != b).flatten(1).any(dim=1) for a, b in zip(self.initial, self.final)]
        return torch.stack(flags).any(dim=0)


def guarded_step(optimizer, subject: OptimizerSubject, closure, step: int):
    """optimizer.step(), with any exception from the subject turned into a SubjectError."""
    try:
        return optimizer.step(closure) if closure is not None else optimizer.step()
    except SubjectError:
        raise
    except Exception as exc:
        raise SubjectError(f"{theorem_id()}: optimizer {subject.label} ({subject.spec}) raised "
                           f"{type(exc).__name__} at step {step}: {exc}") from exc


def needs_closure(subject: OptimizerSubject) -> bool:
    return subject.family == "lbfgs"


def train(net: Network, x: torch.Tensor, y: torch.Tensor, subject: OptimizerSubject,
          hyperparameters: dict, steps: int, *, activation: Activation = RELU,
          loss: Callable = mse, batches: Sequence[torch.Tensor] | None = None,
          on_step: Callable[[int, Network], None] | None = None) -> Trajectory:
    """Train ``net`` in place (its tensors must be trainable leaves) for ``steps`` steps.

    ``batches``: optional index tensors into the N data points, one per step (mini-batches);
    full batch otherwise. ``on_step(k, net)`` is called after every step k = 1..steps.
    """
    params = net.parameters()
    initial = [p.detach().clone() for p in params]
    optimizer = subject.build(params, **hyperparameters)
    losses = []

    for k in range(1, steps + 1):
        idx = None if batches is None else batches[(k - 1) % len(batches)]
        xb = x if idx is None else x[..., idx, :]
        yb = y if idx is None else y[..., idx, :]

        def closure():
            optimizer.zero_grad()
            value = loss(net.realization(xb, activation), yb)
            value.sum().backward()
            closure.last = value.detach()
            return value.sum()

        if needs_closure(subject):
            guarded_step(optimizer, subject, closure, k)
        else:
            closure()
            guarded_step(optimizer, subject, None, k)
        losses.append(closure.last)
        check_finite(subject, params, f"after step {k} in {theorem_id()}")
        if on_step is not None:
            on_step(k, net)
    return Trajectory(initial, [p.detach().clone() for p in params], losses, optimizer)


def inject_gradients(params: list[torch.Tensor], gradients: Callable[[int], list[torch.Tensor]],
                     subject: OptimizerSubject, hyperparameters: dict, steps: int,
                     on_step: Callable[[int], None] | None = None):
    """Feed generated gradients to the subject: before step k, ``p.grad = gradients(k)``.

    Closure-based subjects (L-BFGS) may evaluate the closure several times per step; each
    evaluation receives the next gradient of the stream. Returns the optimizer (its state is
    what the non-vacuity checks inspect). ``on_step(k)`` is called after every step.
    """
    optimizer = subject.build(params, **hyperparameters)
    counter = {"calls": 0}

    def set_grads():
        counter["calls"] += 1
        for p, g in zip(params, gradients(counter["calls"])):
            p.grad = g.clone()
        return torch.tensor(float(counter["calls"]) ** -1, dtype=torch.float64)

    for k in range(1, steps + 1):
        if needs_closure(subject):
            guarded_step(optimizer, subject, set_grads, k)
        else:
            set_grads()
            guarded_step(optimizer, subject, None, k)
        check_finite(subject, params, f"after step {k} in {theorem_id()}")
        if on_step is not None:
            on_step(k)
    return optimizer
