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

from kinkcheck.harness.core import driving
from kinkcheck.harness.core.activations import RELU, Activation
from kinkcheck.harness.core.device import HALF_PRECISION
from kinkcheck.harness.core.guard import Guarded, SuiteCallbackFailure
from kinkcheck.harness.core.losses import mse
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.outcomes import HarnessError, NonFiniteError
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
    batched: bool = True  # the network's tensors carry a leading batch axis (False: one network, real layers)

    def moved(self) -> torch.Tensor:
        """(B,) bool: some parameter of network b changed; (1,) for one network on real layers."""
        if not self.batched:
            return torch.stack([(a != b).any() for a, b in zip(self.initial, self.final)]).any().reshape(1)
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
#   has a truthy attribute ``create_graph`` (kinkcheck's convention for user subjects) or
#   ``is_second_order`` (pytorch-optimizer's convention), on itself or an optimizer it wraps, or its
#   ``step`` takes a parameter named ``hessian`` (pytorch-optimizer's convention for Hutchinson
#   estimators: AdaHessian, SophiaH). Then ``backward(create_graph=True)``; injected gradients are
#   given the graph of the quadratic model g_k + c * (p - p_k) with curvature c = 1 on coordinates whose injected
#   gradient is nonzero and c = 0 where it is exactly 0 (a coordinate whose gradient vanishes on a
#   neighbourhood has a zero Hessian row, as an inactive neuron's incoming weights do). Its value at
#   p = p_k is g_k bit for bit.
# - Horizon. Some optimizers are no-ops by design for their first steps (warm-up, rectification,
#   D-adaptation, a preconditioner built at step 1, a gradient queue being filled). When after the
#   requested ``steps`` no parameter has changed at any step although some gradient entry was nonzero,
#   the run goes on, one step at a time, until a parameter moves or HORIZON_CAP steps in all; the
#   trajectory records how many steps were run and whether the cap was hit, and a Hypothesis note
#   (printed with any failure) says which. Whether a gradient entry was nonzero is read when the
#   harness computes (or injects) the gradients, *before* ``step``: an optimizer may clear ``p.grad``
#   inside ``step`` (set it to None), so what is left after the step says nothing.
# - Wrapped optimizers. A wrapper (Lookahead: ``self.optimizer = inner``; SAM: ``base_optimizer``;
#   ``_optimizer``, ``inner_optimizer``) is driven through its own ``step``; what the suite reads of an
#   optimizer's state (the "built no state" checks, state snapshots) is the state of the wrapper and of
#   every optimizer it wraps, merged (``driving.optimizer_state``); ``is_second_order`` and
#   ``create_graph`` are looked up along the same chain.
# - Train/eval modes. An optimizer with a callable ``train`` attribute that is not torch's
#   (torch.optim.Optimizer has no ``train`` method) has train/eval modes, as schedule-free methods do
#   (their ``step`` raises in eval mode): it is put in train mode, ``optimizer.train()``, right after
#   construction, once; an exception from that call is the subject's failure. The parameters the
#   theorems read are then the train-mode iterates, the ones the gradients are computed at.
# - Regime. Parameters that are not finite after a step are the subject's failure only where the float64
#   reference recursion of its family (``harness/oracles/recursions.py``) stays finite on the same case.
#   When ``check_finite`` raises, the case is run again with the reference, one per parameter, for as
#   many steps as the subject ran and at least the requested ones: ``train`` steps it with the network
#   gradients recomputed in float64 at the reference's own iterates (same loss, activation, data and
#   mini-batches); ``inject_gradients`` with the same injected stream (at each step the gradient the
#   subject saw first). Hyperparameters: the ones the suite passed, the family's fixed ones and the
#   spec's fixed arguments, as the subject got them. When the reference goes non-finite, or beyond the
#   largest finite value of the subject's dtype, the case is outside the theorem's regime (a degree-3
#   RePU network on which gradient descent itself explodes): the example is rejected and counted (a
#   Hypothesis event and a figure in the report), never the subject's FAIL. Families without a reference
#   (generic, lbfgs) keep the FAIL: no recursion says what the subject should have done, and a proxy
#   (gradient descent at the same lr) is not the subject's method -- L-BFGS's curvature steps and a
#   generic method's normalisation diverge and stay finite on other cases than gradient descent does --
#   so rejecting on it could discard the very cases where a subject's non-finiteness is its bug.
HORIZON_CAP = 64  # steps in all; RAdam's rectification (rho_t > 5 from step 6), AdaShift's queue of 10,
#                   SOAP's preconditioner at step 1 and Prodigy/D-Adaptation's d growth move well before


def guarded_step(optimizer, subject: OptimizerSubject, closure, step: int):
    """optimizer.step(closure) through the one guarded path (``kinkcheck.harness.core.guard``): an
    exception of the subject is its SubjectError; one raised inside the suite's closure stays the suite's."""
    return Guarded(subject, optimizer).step(step, closure)


# An exception raised inside the harness's closure, on its way out through the subject's step: the guard
# re-raises the original (the suite's error).
_ClosureFailure = SuiteCallbackFailure


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
    return (any(bool(getattr(opt, "create_graph", False)) for opt in driving.optimizer_chain(optimizer))
            or driving.announces_second_order(optimizer) or "hessian" in _step_parameters(optimizer))


class _Driver:
    """Computes the step's gradients before ``step`` and serves the closure (rules above)."""

    def __init__(self, subject, optimizer, params, compute, horizon: "_Horizon | None" = None):
        self.subject, self.optimizer, self.params = subject, optimizer, params
        self.compute = compute  # () -> loss value; sets p.grad at the current parameters
        self.horizon = horizon  # told of every gradient evaluation, before the subject's step sees it
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
        if self.horizon is not None:
            self.horizon.gradients_computed()
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

    def gradients_computed(self):
        """Called by the driver each time the gradients are computed or injected, before ``step`` (an
        optimizer may clear ``p.grad`` inside it): one host sync, only until a nonzero entry was seen."""
        if not self.moved and not self.saw_gradient:
            self.saw_gradient = _any_nonzero_grad(self.params)

    def after_step(self):
        self.run += 1
        if self.moved:
            return
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
    driving.enter_train_mode(optimizer, subject)
    losses = []
    batch = {"x": x, "y": y}
    evaluations: list[torch.Tensor] = []  # this step's loss evaluations; the first is at the iterate

    def compute():
        Guarded(subject, optimizer).zero_grad()
        value = loss(net.realization(batch["x"], activation), batch["y"])
        value.sum().backward(create_graph=driver.create_graph)
        evaluations.append(value.detach())
        _within_range(value, params, k)
        return value.sum().detach()

    horizon = _Horizon(params, steps)
    driver = _Driver(subject, optimizer, params, compute, horizon)
    k = 1
    while horizon.more(k):
        idx = None if batches is None else batches[(k - 1) % len(batches)]
        batch["x"] = x if idx is None else x[..., idx, :]
        batch["y"] = y if idx is None else y[..., idx, :]
        evaluations.clear()
        driver.step(k)
        losses.append(evaluations[0])
        try:
            check_finite(subject, params, f"after step {k} in {theorem_id()}")
        except NonFiniteError as exc:
            network = _NetworkReference(x, y, activation, loss, batches)
            _judge_non_finite(exc, subject, hyperparameters, initial, network.gradients, max(k, steps),
                              params[0].dtype)
        horizon.after_step()
        if on_step is not None:
            on_step(k, net)
        k += 1
    capped, text = horizon.report(subject)
    return Trajectory(initial, [p.detach().clone() for p in params], losses, optimizer,
                      steps=horizon.run, capped=capped, horizon=text, batched=getattr(net, "batched", True))


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


class _NetworkReference:
    """The gradients ``train`` computes, at other parameters: float64 copies of the data, the same loss,
    activation and mini-batches (step k takes batch k - 1, cycled), at the given iterates ``[W_1, B_1, ...]``."""

    def __init__(self, x, y, activation, loss, batches):
        self.x, self.y = x.detach().to(torch.float64), y.detach().to(torch.float64)
        self.activation, self.loss, self.batches = activation, loss, batches

    def gradients(self, step: int, thetas: list[torch.Tensor]) -> list[torch.Tensor]:
        idx = None if self.batches is None else self.batches[(step - 1) % len(self.batches)]
        x = self.x if idx is None else self.x[..., idx, :]
        y = self.y if idx is None else self.y[..., idx, :]
        leaves = [t.detach().clone().requires_grad_(True) for t in thetas]
        net = Network(leaves[0::2], leaves[1::2])
        with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):  # float64 even under autocast
            value = self.loss(net.realization(x, self.activation), y)
            grads = torch.autograd.grad(value.sum(), leaves, allow_unused=True)
        return [torch.zeros_like(t) if g is None else g for t, g in zip(leaves, grads)]


def reference_leaves_regime(subject, hyperparameters: dict, initial: Sequence[torch.Tensor],
                            gradient_at: Callable[[int, list[torch.Tensor]], list[torch.Tensor]], steps: int,
                            dtype: torch.dtype) -> int | None:
    """Run the family's float64 reference recursion (one per parameter, from ``initial``) for ``steps``
    steps, step k fed ``gradient_at(k, iterates)``. Returns the first step at which a gradient or an
    iterate is non-finite or beyond the largest finite value of ``dtype`` (the reference left the
    regime), 0 when it stays within it, None when the family has no reference recursion."""
    from kinkcheck.harness.oracles.recursions import reference_class

    try:
        reference = reference_class(subject.family)
    except KeyError:
        return None
    hp = {**dict(getattr(subject.record, "fixed", None) or {}), **hyperparameters,
          **dict(getattr(subject, "options", ()) or ())}
    refs = [reference(p.detach(), **hp) for p in initial]
    limit = torch.finfo(dtype).max
    for k in range(1, steps + 1):
        grads = gradient_at(k, [r.theta for r in refs])
        thetas = [r.step(g) for r, g in zip(refs, grads)]
        tensors = [g.to(torch.float64) for g in grads] + thetas
        if not bool(torch.stack([(torch.isfinite(t) & (t.abs() <= limit)).all() for t in tensors]).all()):
            return k
    return 0


REGIME_EVENT = "case outside the theorem's regime: the float64 reference diverges"
REGIME_FIGURE = "cases rejected: the float64 reference diverges (outside the regime)"


def _judge_non_finite(exc: NonFiniteError, subject, hyperparameters, initial, gradient_at, steps, dtype):
    """The subject went non-finite: reject the example when the family's float64 reference leaves the
    regime on the same case (the rule at the top of this module), else the subject's failure stands."""
    from hypothesis import event, note, reject
    from hypothesis.control import currently_in_test_context

    if not currently_in_test_context():
        raise exc
    left = reference_leaves_regime(subject, hyperparameters, initial, gradient_at, steps, dtype)
    if left is None:
        note(f"regime: family {subject.family} has no float64 reference recursion; the non-finite "
             f"parameters are the subject's failure")
        raise exc
    if not left:
        note(f"regime: the float64 reference of family {subject.family} stays finite on this case for "
             f"{steps} steps; the non-finite parameters are the subject's failure")
        raise exc
    from kinkcheck.harness.core.records import figure

    figure(REGIME_FIGURE, 1, keep="sum")
    event(REGIME_EVENT)
    reject()


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
    initial = [p.detach().clone() for p in params]
    optimizer = subject.build(params, **hyperparameters)
    driving.enter_train_mode(optimizer, subject)
    counter = {"calls": 0}
    first_calls: list[int] = []

    def set_grads():
        counter["calls"] += 1
        for p, g in zip(params, gradients(counter["calls"])):
            p.grad = _with_curvature(p, g.clone()) if driver.create_graph else g.clone()
        return torch.tensor(float(counter["calls"]) ** -1, dtype=torch.float64)

    horizon = _Horizon(params, steps)
    driver = _Driver(subject, optimizer, params, set_grads, horizon)
    k = 1
    while horizon.more(k):
        first_calls.append(counter["calls"] + 1)  # the stream index of step k's first gradient
        driver.step(k)
        try:
            check_finite(subject, params, f"after step {k} in {theorem_id()}")
        except NonFiniteError as exc:
            def injected(step: int, thetas, calls=list(first_calls)):
                # the steps the subject did not reach take the stream's next gradients
                index = calls[step - 1] if step <= len(calls) else calls[-1] + step - len(calls)
                return [g.to(torch.float64) for g in gradients(index)]

            _judge_non_finite(exc, subject, hyperparameters, initial, injected, max(k, steps), params[0].dtype)
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
