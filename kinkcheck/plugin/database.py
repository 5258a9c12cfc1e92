"""Hypothesis example-database keys per subject: an example saved on one subject is never replayed as
a verdict on another.

Hypothesis keys a test's saved examples by a digest of the test function (its source, name and
signature) plus ``_hypothesis_internal_add_digest`` when that attribute is set. Its pytest plugin sets it
to the node id only for tests that carry a ``@pytest.mark.parametrize`` marker or use a parametrized
fixture; kinkcheck parametrizes ``optimizer_subject`` in ``pytest_generate_tests``
(``metafunc.parametrize``: no marker), so every subject of a theorem test shared one key -- a README
command 1 run replayed examples shrunk on a broken subject's gate (#19: 6 keys in ``.hypothesis/``
after runs with different subjects).

``DatabaseKeys`` sets the digest of every kinkcheck theorem test, just before it runs, to its node id
(which names the subject's label and any other parametrization) plus what the node id may not name:
the subject's full spec (fixed constructor arguments included), the activation under test (a gate of
a broken activation keeps its examples to itself) and the run's device and dtype. Tests that are not
kinkcheck theorems are left as Hypothesis keys them.
"""
from __future__ import annotations

import pytest

from kinkcheck.plugin import session as kinkcheck_session


def example_key(item) -> bytes:
    """The database key suffix of a theorem test: node id, subject spec, activation, device and dtype."""
    parts = [item.nodeid]
    callspec = getattr(item, "callspec", None)
    subject = callspec.params.get("optimizer_subject") if callspec is not None else None
    if subject is not None:
        parts.append(f"optimizer {getattr(subject, 'label', subject)} {getattr(subject, 'spec', '')}")
    state = kinkcheck_session.get(item.config)
    if state is not None:
        if "activation" in getattr(item, "fixturenames", ()):
            activation = state.activation
            fn = getattr(activation, "fn", None)
            parts.append(f"activation {getattr(activation, 'name', activation)} {getattr(fn, '__module__', '')}"
                         f":{getattr(fn, '__qualname__', '')}")
        placement = state.placement
        parts.append(f"placement {getattr(placement, 'device', '')} {getattr(placement, 'dtype', '')}")
    return "\n".join(parts).encode()


def _functions(test):
    """The test function Hypothesis will call and the functions it wraps (kinkcheck's case counter)."""
    seen = set()
    while test is not None and id(test) not in seen:
        seen.add(id(test))
        yield test
        test = getattr(test, "__wrapped__", None)


class DatabaseKeys:
    """Registered in ``pytest_configure`` as "kinkcheck-database"."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item):
        # a plain implementation runs after every wrapper's set-up (Hypothesis's plugin sets its own key,
        # kinkcheck's wrapper installs the case counter there) and before the test itself
        if item.get_closest_marker("theorem") is None:
            return
        holder = getattr(getattr(item, "obj", None), "hypothesis", None)
        if holder is None:
            return
        key = example_key(item)
        for function in _functions(getattr(holder, "inner_test", None)):
            try:
                function._hypothesis_internal_add_digest = key
            except (AttributeError, TypeError):  # a builtin or a bound method: nothing to key
                continue
