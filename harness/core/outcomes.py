"""Outcomes of a property other than pass and fail, as types the report can read.

- ``SubjectError``: the subject itself raised (inside the one guarded path,
  ``kinkcheck.harness.core.guard``) or went non-finite: an AssertionError, the subject's FAIL, whose
  ``kind`` says which (``raised``, ``non-finite``, ``not an optimizer``).
- ``HarnessError``: a bug of the suite itself (a broken precondition, a strategy that cannot
  generate, an oracle that cannot be evaluated). The table shows it as ERROR, never as the
  subject's FAIL.
- ``OutOfScope``: the generated configuration lies outside the theorem's hypothesis (weight decay
  for T2/T3); the property ran, measured what the subject did, and reports it with that figure.
  A skip, typed, carrying the measured displacement.
- ``LowPrecisionEffect``: an exact-arithmetic claim (a probability of the real-valued
  initialisation, an exact rational run formula) measured in a dtype other than float64, where the
  rounding of that dtype really changes the fact: the measured figure and its interval against the
  exact value. Never the subject's FAIL and never a silent skip: the table shows "measured" and the
  record carries the figure. Raising it in float64 is a bug of the suite (HarnessError).
"""
from __future__ import annotations

import pytest


class SubjectError(AssertionError):
    """The subject (optimizer or activation) raised, or produced a non-finite value, inside a
    property: a failure of the subject, named with its label and the theorem. ``kind`` is the word
    the report gives the failure."""

    kind = "raised"


class NonFiniteError(SubjectError):
    """The subject produced a non-finite parameter (NaN/Inf) inside a property: a SubjectError that a
    low-precision exact-arithmetic claim may measure instead (0/0 after an exact cancellation)."""

    kind = "non-finite"


class NotAnOptimizer(SubjectError):
    """The subject's factory returned something without the ``torch.optim.Optimizer`` protocol
    (``step``, ``zero_grad``, ``param_groups``): at the start of a gate a usage error, inside a
    property the subject's FAIL."""

    kind = "not an optimizer"


class HarnessError(Exception):
    """The suite, not the subject, is wrong: reported as ERROR in the conformance table."""


class OutOfScope(pytest.skip.Exception):
    """The configuration is outside the theorem's hypothesis; ``displacement`` is what was measured."""

    def __init__(self, theorem: str, reason: str, displacement: float | None = None):
        self.theorem = theorem
        self.reason = reason
        self.displacement = displacement
        text = f"out of scope for {theorem}: {reason}"
        if displacement is not None:
            text += f"; zero-gradient coordinates moved by up to {displacement:.3g}"
        super().__init__(text, allow_module_level=False)


class LowPrecisionEffect(pytest.skip.Exception):
    """An exact-arithmetic claim measured in low precision, where it is a different fact.

    ``what``: the measured quantity; ``measured``: its value in ``dtype``; ``interval``: its
    confidence (or rounding) interval ``(lo, hi)``; ``exact``: the value the exact-arithmetic claim
    gives; ``dtype``: the dtype it was measured in (any spelling: ``torch.bfloat16`` or
    ``"bfloat16"``). In float64 the claim is judged, not measured: raising this there is a bug of
    the suite and raises ``HarnessError`` instead."""

    def __init__(self, theorem: str, what: str, measured: float, interval: tuple[float, float],
                 exact: float, dtype, detail: str = ""):
        self.dtype = str(dtype).removeprefix("torch.")
        if self.dtype == "float64":
            raise HarnessError(f"{theorem}: LowPrecisionEffect raised in float64 ({what} = {measured:.6g} vs "
                               f"{exact:.6g}): in float64 an exact-arithmetic claim is judged, not measured")
        lo, hi = (float(interval[0]), float(interval[1]))
        if not lo <= hi:
            raise HarnessError(f"{theorem}: LowPrecisionEffect with an empty interval [{lo:.6g}, {hi:.6g}]")
        self.theorem = theorem
        self.what = what
        self.measured = float(measured)
        self.interval = (lo, hi)
        self.exact = float(exact)
        self.detail = detail
        self.reason = (f"exact-arithmetic claim measured in {self.dtype}: {what} = {self.measured:.6g} "
                       f"[{lo:.6g}, {hi:.6g}] vs the exact {self.exact:.6g}" + (f"; {detail}" if detail else ""))
        super().__init__(f"{theorem}: {self.reason}", allow_module_level=False)

    def figures(self) -> dict:
        """The record's figures: the measured value, its interval, the exact value, the dtype."""
        key = f"{self.what} in {self.dtype}"
        return {f"{key} (measured)": float(f"{self.measured:.6g}"),
                f"{key} (interval)": f"[{self.interval[0]:.6g}, {self.interval[1]:.6g}]",
                f"{key} (exact law)": float(f"{self.exact:.6g}")}


def require(condition: bool, message: str) -> None:
    """A precondition of the suite itself (not a claim about the subject): HarnessError if false."""
    __tracebackhide__ = True
    if not condition:
        raise HarnessError(message)


class NotSupported(pytest.skip.Exception):
    """The subject's constructor does not accept a hyperparameter the check needs: the check did not
    run for it, and the table says so ("n/s", with the names). Not a failure: the gate judges what a
    subject does, not which options it offers. (A hyperparameter it accepts and then ignores is a
    failure, judged by the properties.)"""

    def __init__(self, subject: str, names):
        self.subject = subject
        self.names = tuple(sorted(names))
        super().__init__(f"not supported: {subject} does not accept {', '.join(self.names)}",
                         allow_module_level=False)
