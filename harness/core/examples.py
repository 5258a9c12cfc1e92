"""Example budgets that follow the Hypothesis profile (dev, ci, thorough).

A property that is expensive per example declares its budget relative to the profile's
``max_examples`` (20 in dev and ci, 200 in thorough) instead of a fixed number, so that the
``thorough`` profile scales it too.
"""
from __future__ import annotations

from hypothesis import settings

REFERENCE = 20  # max_examples of the dev and ci profiles


def scaled(n: int) -> int:
    """``n`` examples under dev/ci, proportionally more under thorough."""
    return max(1, round(n * settings().max_examples / REFERENCE))
