"""What a running property records for the conformance report: its theorem, its measured figures,
the number of generated cases it ran.

Inside a property, ``figure(name, value)`` records a measured figure and ``theorem_id()`` names the
theorem being checked; the plugin opens a record per test (``begin``/``end``). Knows nothing of pytest.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

USER_PROPERTY = "kinkcheck"
SUITE_ROW = "(suite)"


@dataclass
class TestRecord:
    __test__ = False  # not a pytest test class

    nodeid: str
    theorem: str
    subject: str
    outcome: str = "passed"  # passed | failed | error | xfail | xpass | out-of-scope | measured | skipped
    cases: int = 0
    figures: dict = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0  # wall time of the test's call phase


_current: contextvars.ContextVar[TestRecord | None] = contextvars.ContextVar("kinkcheck_record", default=None)


def begin(record: TestRecord):
    return _current.set(record)


def end(token) -> None:
    _current.reset(token)


def current() -> TestRecord | None:
    return _current.get()


def theorem_id() -> str:
    rec = _current.get()
    return rec.theorem if rec else "?"


def figure(name: str, value, keep: str = "last") -> None:
    """Record a measured figure for the running test (``keep``: last | max | min | sum)."""
    rec = _current.get()
    if rec is None:
        return
    if isinstance(value, float):
        value = float(f"{value:.6g}")
    old = rec.figures.get(name)
    if old is None or keep == "last":
        rec.figures[name] = value
    elif keep == "max":
        rec.figures[name] = max(old, value)
    elif keep == "min":
        rec.figures[name] = min(old, value)
    elif keep == "sum":
        rec.figures[name] = old + value
    else:
        raise ValueError(f"keep={keep!r}")


def count_case() -> None:
    rec = _current.get()
    if rec is not None:
        rec.cases += 1
