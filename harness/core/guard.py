"""The one guarded path into a subject: blame follows the call.

Every call the suite makes into the implementation under test -- its construction, ``step``,
``zero_grad``, ``state_dict``, ``load_state_dict``, ``add_param_group``, ``train``/``eval`` -- goes
through ``call``. An exception raised there is the subject's: it becomes a ``SubjectError`` (kind
``raised``) naming the subject, the theorem and what was called, and the table shows the subject's
FAIL. Nothing else the suite does is wrapped, so an exception anywhere else -- building the arguments
of a call, a strategy, an oracle -- keeps its own type and the table shows the suite's ERROR.

The suite hands the subject callbacks (a closure that recomputes the loss and gradients): an
exception raised *inside* such a callback is the suite's, even though it propagates through the
subject's ``step``. ``callback`` wraps one so that ``call`` re-raises the original exception.

Progress. A hook (``install_watch``) is told when a call into the subject starts and ends and when the
subject calls back into the suite; the plugin installs one per test that decides when a call has run too
long (a hanging subject: one call that has not returned for the time limit) and when the suite's own
code has (its ERROR). ``harness/core`` imports nothing above it: the hook is whatever object the plugin
hands in (``Watch``); with none installed, nothing is timed.

Knows nothing of pytest, Hypothesis or the subject classes: a subject is anything with ``label`` and
``spec`` attributes.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Protocol

from kinkcheck.harness.core.outcomes import SubjectError
from kinkcheck.harness.core.records import theorem_id


class SuiteCallbackFailure(Exception):
    """An exception raised inside one of the suite's callbacks (its ``__cause__``), on its way out
    through the subject: ``call`` re-raises the cause, the suite's own error."""


class Watch(Protocol):
    """What a progress watch is told (``kinkcheck.plugin.verdicts.Watchdog`` is the plugin's)."""

    def enter(self, what: str) -> None:
        """A call into the subject starts (``what``: "step 3", "construction with ...")."""

    def leave(self) -> None:
        """That call returned or raised."""

    def enter_callback(self) -> None:
        """The subject called one of the suite's callbacks (the closure): the suite's code runs."""

    def leave_callback(self) -> None:
        """The callback returned to the subject."""


_watch: Watch | None = None


def install_watch(watch: Watch | None) -> Watch | None:
    """Install ``watch`` (None removes it) for the calls that follow; returns the one it replaces."""
    global _watch
    previous, _watch = _watch, watch
    return previous


def describe(subject) -> str:
    label = getattr(subject, "label", str(subject))
    spec = getattr(subject, "spec", "")
    return f"{label} ({spec})" if spec else label


def call(subject, what: str, fn: Callable[..., Any], /, *args, **kwargs):
    """``fn(*args, **kwargs)``, a call into ``subject``; its exception is the subject's ``SubjectError``.

    ``what`` says what was called, in words ("step 3", "zero_grad(set_to_none=False)", "construction
    with {'lr': 0.1}"). A ``SubjectError`` raised inside (a nested guarded call) passes unchanged;
    exceptions that are not ``Exception`` (pytest's skip, a timeout, KeyboardInterrupt) pass unchanged.
    """
    __tracebackhide__ = True
    watch = _watch
    if watch is not None:
        watch.enter(what)
    try:
        return fn(*args, **kwargs)
    except SubjectError:
        raise
    except SuiteCallbackFailure as failure:
        raise failure.__cause__ from None
    except Exception as exc:
        raise SubjectError(f"{theorem_id()}: optimizer {describe(subject)} raised {type(exc).__name__} in "
                           f"{what}: {exc}") from exc
    finally:
        if watch is not None:
            watch.leave()


def callback(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The suite's callback ``fn`` as handed to the subject: an exception raised inside it is marked as
    the suite's, so that ``call`` re-raises it unchanged instead of blaming the subject. A
    ``SubjectError`` raised inside (the callback itself made a guarded call) stays the subject's."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        watch = _watch
        if watch is not None:
            watch.enter_callback()
        try:
            return fn(*args, **kwargs)
        except (SubjectError, SuiteCallbackFailure):
            raise
        except Exception as exc:
            raise SuiteCallbackFailure() from exc
        finally:
            if watch is not None:
                watch.leave_callback()

    return wrapped


def _takes(method, name: str) -> bool:
    """Whether ``method`` accepts a keyword ``name`` (or ``**kwargs``); True when it has no readable signature."""
    import inspect

    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


class Guarded:
    """An optimizer's methods as guarded calls: ``Guarded(subject, optimizer).step(k)``.

    The optimizer object itself is handed around unchanged (schedulers, ``GradScaler`` and the
    subject's own code see the real object); only the suite's calls go through here."""

    __slots__ = ("subject", "optimizer")

    def __init__(self, subject, optimizer):
        self.subject, self.optimizer = subject, optimizer

    def step(self, k: int | None = None, closure=None):
        where = f"step {k}" if k is not None else "step()"
        if closure is None:
            return call(self.subject, where, self.optimizer.step)
        return call(self.subject, where, self.optimizer.step, callback(closure))

    def zero_grad(self, set_to_none: bool | None = None):
        """``zero_grad()``, or ``zero_grad(set_to_none=...)`` when asked. An old-style ``zero_grad(self)``
        that takes no ``set_to_none`` (torch.optim's protocol before 1.7) is called without it, and the
        suite then leaves the gradients as the mode asks (None, or zeros kept): the contract's zero_grad
        modes are driven, not held against an optimizer that predates them."""
        if set_to_none is None:
            return call(self.subject, "zero_grad()", self.optimizer.zero_grad)
        if not _takes(self.optimizer.zero_grad, "set_to_none"):
            call(self.subject, "zero_grad()", self.optimizer.zero_grad)
            for group in self.optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if set_to_none:
                        p.grad = None
                    else:
                        if p.grad.grad_fn is not None:  # as torch.optim's zero_grad (a view cannot detach_)
                            p.grad.detach_()
                        else:
                            p.grad.requires_grad_(False)
                        p.grad.zero_()
            return None
        return call(self.subject, f"zero_grad(set_to_none={set_to_none})", self.optimizer.zero_grad,
                    set_to_none=set_to_none)

    def state_dict(self):
        return call(self.subject, "state_dict()", self.optimizer.state_dict)

    def load_state_dict(self, state):
        return call(self.subject, "load_state_dict()", self.optimizer.load_state_dict, state)

    def add_param_group(self, group):
        return call(self.subject, "add_param_group()", self.optimizer.add_param_group, group)
