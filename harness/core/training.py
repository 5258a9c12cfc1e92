"""Running optimizer steps: training batched networks, and gradient injection.

Training B networks with *one* optimizer over batched tensors is the same as training each with
its own optimizer when the optimizer is elementwise (every family but L-BFGS, Adafactor, Muon):
the loss is the sum of the per-network losses, so gradients decouple. The properties that use
``train`` hold for the joint parameter vector too, so they stay valid for the other families.

Every step is guarded: an exception from the subject, or a non-finite parameter after a step,
becomes a ``SubjectError`` that names the subject, the theorem and the step.
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from kinkcheck.harness.core.activations import RELU, Activation
from kinkcheck.harness.core.device import HALF_PRECISION
from kinkcheck.harness.core.losses import mse
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.outcomes import HarnessError
from kinkcheck.harness.core.records import theorem_id
from kinkcheck.harness.subjects.specs import OptimizerSubject, SubjectError, check_finite


@dataclass
class Trajectory:
    initial: list[torch.Tensor]
    final: list[torch.Tensor]
    losses: list[torch.Tensor] = field(default_factory=list)  # per step, (B,) before the step
    optimizer: object = None
    steps: int = 0  # steps run (more than requested when the horizon was extended)
    capped: bool = False  # the horizon hit HORIZON_CAP with no parameter moved
    horizon: str = ""  # what the horizon rule did, in words ("" when nothing was extended)

    def moved(self) -> torch.Tensor:
        """(B,) bool: some parameter of the network changed."""
        flags = [(a != b).flatten(1).any(dim=1) for a, b in zip(self.initial, self.final)]
        return torch.stack(flags).any(dim=0)


# How the harness drives an optimizer (one rule each, so that every optimizer reaches a verdict):
#
# - Closure. The gradients of step k are computed (or injected) *before* ``step`` is called, as
#   torch.optim documents, and a closure is passed whenever ``step`` accepts one (a parameter named
#   ``closure``) or the family record says ``needs_closure``. The closure recomputes the loss and the
#   gradients at the current parameters; its first call within a step reuses the gradients already
#   computed when no parameter changed since (so optimizers that call it once, first, do not pay for a
#   second forward/backward, and injected streams are not advanced), every later call recomputes
#   (sharpness-aware methods evaluate at a perturbed point, line searches at trial points). An
#   optimizer that ignores the closure still sees the step's gradients in ``p.grad``.
# - Second-order information. An optimizer needs Hessian-vector products when its class or instance
#   has a truthy attribute ``create_graph`` (kinkcheck's convention for user subjects) or its ``step``
#   takes a parameter named ``hessian`` (pytorch-optimizer's convention for Hutchinson estimators:
#   AdaHessian, SophiaH). Then ``backward(create_graph=True)``; injected gradients are given the graph
#   of the quadratic model g_k + c * (p - p_k) with curvature c = 1 on coordinates whose injected
#   gradient is nonzero and c = 0 where it is exactly 0 (a coordinate whose gradient vanishes on a
#   neighbourhood has a zero Hessian row, as an inactive neuron's incoming weights do). Its value at
#   p = p_k is g_k bit for bit.
# - Horizon. Some optimizers are no-ops by design for their first steps (warm-up, rectification,
#   D-adaptation, a preconditioner built at step 1, a gradient queue being filled). When after the
#   requested ``steps`` no parameter has changed at any step although some gradient entry was nonzero,
#   the run goes on, one step at a time, until a parameter moves or HORIZON_CAP steps in all; the
#   trajectory records how many steps were run and whether the cap was hit, and a Hypothesis note
#   (printed with any failure) says which.
HORIZON_CAP = 64  # steps in all; RAdam's rectification (rho_t > 5 from step 6), AdaShift's queue of 10,
#                   SOAP's preconditioner at step 1 and Prodigy/D-Adaptation's d growth move well before


def guarded_step(optimizer, subject: OptimizerSubject, closure, step: int):
    """optimizer.step(), with any exception from the subject turned into a SubjectError."""
    try:
        return optimizer.step(closure) if closure is not None else optimizer.step()
    except SubjectError:
        raise
    except _ClosureFailure as failure:  # the suite's own closure failed: not the subject's error
        raise failure.__cause__ from None
    except Exception as exc:
        raise SubjectError(f"{theorem_id()}: optimizer {subject.label} ({subject.spec}) raised "
                           f"{type(exc).__name__} at step {step}: {exc}") from exc


class _ClosureFailure(Exception):
    """Wraps an exception raised inside the harness's closure, so guarded_step re-raises the original."""


def _step_parameters(optimizer) -> set[str]:
    try:
        return set(inspect.signature(optimizer.step).parameters)
    except (TypeError, ValueError):
        return set()


def needs_closure(subject: OptimizerSubject, optimizer=None) -> bool:
    """Pass a closure: the family record says so, or the optimizer's ``step`` accepts one."""
    if subject.record.needs_closure:
        return True
    return optimizer is not None and "closure" in _step_parameters(optimizer)


def needs_second_order(optimizer) -> bool:
    """Whether to ``backward(create_graph=True)``: see the rule at the top of this module."""
    return bool(getattr(optimizer, "create_graph", False)) or "hessian" in _step_parameters(optimizer)


class _Driver:
    """Computes the step's gradients before ``step`` and serves the closure (rules above)."""

    def __init__(self, subject, optimizer, params, compute):
        self.subject, self.optimizer, self.params = subject, optimizer, params
        self.compute = compute  # () -> loss value; sets p.grad at the current parameters
        self.closure = needs_closure(subject, optimizer)
        self.create_graph = needs_second_order(optimizer)
        self.snapshot = None
        self.value = None
        self.calls = 0

    def _evaluate(self):
        with warnings.catch_warnings():  # create_graph=True warns about a reference cycle
            warnings.simplefilter("ignore", UserWarning)
            value = self.compute()
        self.calls += 1
        return value

    def step(self, k: int):
        self.value = self._evaluate()
        first_value = self.value
        if not self.closure:
            guarded_step(self.optimizer, self.subject, None, k)
            return first_value
        self.snapshot = [p.detach().clone() for p in self.params]

        def closure():
            try:
                fresh = self.snapshot is not None and bool(torch.stack(
                    [(p.detach() != s).any() for p, s in zip(self.params, self.snapshot)]).any().logical_not())
                self.snapshot = None  # later calls always recompute
                if not fresh:
                    self.value = self._evaluate()
                return self.value
            except SubjectError:
                raise
            except Exception as exc:
                raise _ClosureFailure() from exc

        guarded_step(self.optimizer, self.subject, closure, k)
        return first_value


def _any_nonzero_grad(params) -> bool:
    grads = [p.grad.detach().ne(0).any() for p in params if p.grad is not None]
    return bool(torch.stack(grads).any()) if grads else False


class _Horizon:
    """Tracks whether a parameter moved at any step (until it does) and whether a gradient was nonzero."""

    def __init__(self, params, steps: int):
        self.params, self.steps = params, steps
        self.previous = [p.detach().clone() for p in params]
        self.moved = False
        self.saw_gradient = False
        self.run = 0

    def after_step(self):
        self.run += 1
        if self.moved:
            return
        self.saw_gradient = self.saw_gradient or _any_nonzero_grad(self.params)
        changed = [(p.detach() != q).any() for p, q in zip(self.params, self.previous)]
        self.moved = bool(torch.stack(changed).any()) if changed else False
        if not self.moved:
            self.previous = [p.detach().clone() for p in self.params]

    def more(self, k: int) -> bool:
        """Whether step k (1-based) is to be run."""
        if k <= self.steps:
            return True
        return not self.moved and self.saw_gradient and k <= max(self.steps, HORIZON_CAP)

    def report(self, subject) -> tuple[bool, str]:
        capped = not self.moved and self.saw_gradient and self.run > self.steps
        text = ""
        if self.run > self.steps:
            text = (f"horizon: {subject.label} moved no parameter in the requested {self.steps} steps although "
                    f"its gradients were nonzero; " + (
                        f"it moved at step {self.run} (no-op first steps by design: warm-up, rectification, "
                        f"D-adaptation)" if self.moved else
                        f"it still had not moved at the cap of {self.run} steps (HORIZON_CAP)"))
        elif not self.moved and self.saw_gradient and self.steps >= HORIZON_CAP:
            capped = True
            text = f"horizon: {subject.label} moved no parameter in {self.steps} steps (>= HORIZON_CAP)"
        if text:
            _note(text)
        return capped, text


def _note(text: str) -> None:
    """A Hypothesis note (printed with a failing example) and event, when inside a Hypothesis test."""
    try:
        from hypothesis import event, note
        from hypothesis.control import currently_in_test_context

        if not currently_in_test_context():
            return
        note(text)
        event("horizon extended: " + ("moved" if "moved at step" in text else "cap hit"))
    except Exception:  # outside Hypothesis, or an older Hypothesis: the trajectory still records it
        return


def train(net: Network, x: torch.Tensor, y: torch.Tensor, subject: OptimizerSubject,
          hyperparameters: dict, steps: int, *, activation: Activation = RELU,
          loss: Callable = mse, batches: Sequence[torch.Tensor] | None = None,
          on_step: Callable[[int, Network], None] | None = None) -> Trajectory:
    """Train ``net`` in place (its tensors must be trainable leaves) for ``steps`` steps (more for an
    optimizer whose first steps are no-ops by design: see the horizon rule above).

    ``batches``: optional index tensors into the N data points, one per step (cycled; mini-batches);
    full batch otherwise. ``on_step(k, net)`` is called after every step k = 1, 2, ...
    """
    params = net.parameters()
    initial = [p.detach().clone() for p in params]
    optimizer = subject.build(params, **hyperparameters)
    losses = []
    batch = {"x": x, "y": y}
    evaluations: list[torch.Tensor] = []  # this step's loss evaluations; the first is at the iterate

    def compute():
        optimizer.zero_grad()
        value = loss(net.realization(batch["x"], activation), batch["y"])
        value.sum().backward(create_graph=driver.create_graph)
        evaluations.append(value.detach())
        _within_range(value, params, k)
        return value.sum().detach()

    driver = _Driver(subject, optimizer, params, compute)
    horizon = _Horizon(params, steps)
    k = 1
    while horizon.more(k):
        idx = None if batches is None else batches[(k - 1) % len(batches)]
        batch["x"] = x if idx is None else x[..., idx, :]
        batch["y"] = y if idx is None else y[..., idx, :]
        evaluations.clear()
        driver.step(k)
        losses.append(evaluations[0])
        check_finite(subject, params, f"after step {k} in {theorem_id()}")
        horizon.after_step()
        if on_step is not None:
            on_step(k, net)
        k += 1
    capped, text = horizon.report(subject)
    return Trajectory(initial, [p.detach().clone() for p in params], losses, optimizer,
                      steps=horizon.run, capped=capped, horizon=text)


def _within_range(value: torch.Tensor, params, k: int) -> None:
    """In float16 and bfloat16: the loss and the gradients the harness computed (before the subject's
    step k) are finite. An overflow there is the generated case leaving the dtype's range (a degree-2
    RePU network's residual times its hidden values passes float16's 65504, or a correct optimizer's
    large step from such a gradient): the example is rejected and counted as an event, never charged to
    the subject. float32/float64 runs skip the check (one host sync per step saved): a non-finite value
    there reaches the parameters and is the subject's failure, as before."""
    dtype = params[0].dtype
    if dtype not in HALF_PRECISION:
        return
    flags = [torch.isfinite(value).all()] + [torch.isfinite(p.grad).all() for p in params if p.grad is not None]
    if bool(torch.stack(flags).all()):  # one host sync per step
        return
    from hypothesis import event, reject
    from hypothesis.control import currently_in_test_context

    where = f"before step {k} in {theorem_id()}: the loss or its gradient is not finite in {dtype}"
    if currently_in_test_context():
        event(f"case left {dtype}'s range (rejected)")
        reject()
    raise HarnessError(f"{where} (outside a Hypothesis test)")


def _with_curvature(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """g, carrying the graph of g + c * (p - p_k) (c = 1 where g != 0, else 0): equal to g bit for bit."""
    c = (g != 0).to(g.dtype)
    return g + (p - p.detach()) * c


def inject_gradients(params: list[torch.Tensor], gradients: Callable[[int], list[torch.Tensor]],
                     subject: OptimizerSubject, hyperparameters: dict, steps: int,
                     on_step: Callable[[int], None] | None = None):
    """Feed generated gradients to the subject: before step k, ``p.grad`` = the stream's next gradient.

    The stream is called once per gradient evaluation: once before each step, and again for each
    closure evaluation at changed parameters (sharpness-aware, line-search and L-BFGS subjects get the
    next gradient of the stream there). Returns the optimizer (its state is what the non-vacuity checks
    inspect); ``optimizer.kinkcheck_horizon`` holds (steps run, cap hit, note). ``on_step(k)`` is called
    after every step.
    """
    optimizer = subject.build(params, **hyperparameters)
    counter = {"calls": 0}

    def set_grads():
        counter["calls"] += 1
        for p, g in zip(params, gradients(counter["calls"])):
            p.grad = _with_curvature(p, g.clone()) if driver.create_graph else g.clone()
        return torch.tensor(float(counter["calls"]) ** -1, dtype=torch.float64)

    driver = _Driver(subject, optimizer, params, set_grads)
    horizon = _Horizon(params, steps)
    k = 1
    while horizon.more(k):
        driver.step(k)
        check_finite(subject, params, f"after step {k} in {theorem_id()}")
        horizon.after_step()
        if on_step is not None:
            on_step(k)
        k += 1
    capped, text = horizon.report(subject)
    try:
        optimizer.kinkcheck_horizon = (horizon.run, capped, text)
    except Exception:  # an optimizer with __slots__: the note is still printed with a failure
        pass
    return optimizer
