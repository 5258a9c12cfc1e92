"""Outcomes of a property other than pass and fail, as types the report can read.

- ``SubjectError``: the subject itself raised or went non-finite (an AssertionError: a FAIL).
- ``HarnessError``: a bug of the suite itself (a broken precondition, a strategy that cannot
  generate, an oracle that cannot be evaluated). The table shows it as ERROR, never as the
  subject's FAIL.
- ``OutOfScope``: the generated configuration lies outside the theorem's hypothesis (weight decay
  for T2/T3); the property ran, measured what the subject did, and reports it with that figure.
  A skip, typed, carrying the measured displacement.
"""
from __future__ import annotations

import pytest


class SubjectError(AssertionError):
    """The subject (optimizer or activation) raised, or produced a non-finite value, inside a
    property: a failure of the subject, named with its label and the theorem."""


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


def require(condition: bool, message: str) -> None:
    """A precondition of the suite itself (not a claim about the subject): HarnessError if false."""
    __tracebackhide__ = True
    if not condition:
        raise HarnessError(message)
