"""kinkcheck's Hypothesis profiles, namespaced so that they never replace a user's own.

- ``kinkcheck-dev``: 20 examples (the default for kinkcheck theorems when no profile is chosen);
- ``kinkcheck-ci``: derandomized, fixed examples, reproduction blobs printed (the default for
  kinkcheck theorems when Hypothesis detected a CI environment and no profile is chosen);
- ``kinkcheck-ci-noshrink``: ci without the shrink phase: a failing gate reports the first failing
  example it finds instead of spending minutes minimising it (the reproduction blob still pins it);
- ``kinkcheck-thorough``: 10x the examples; ``kinkcheck-debug``: verbose dev;
- ``kinkcheck-selftest``: ci with 10 examples and no shrinking (the mutation self-tests only need
  *a* failure); ``kinkcheck-selftest-thorough``: the same with the thorough budget, derandomized, for
  the self-tests whose broken subject only a rare draw exposes.

The default profile is applied only while a kinkcheck theorem module is imported (that is when
``@given``/``@settings`` read the default), and the previous profile is restored at once: the
user's own tests in the same run keep their settings.
"""
from __future__ import annotations

import contextlib

PREFIX = "kinkcheck-"
DEV, CI, THOROUGH = "kinkcheck-dev", "kinkcheck-ci", "kinkcheck-thorough"
CI_NOSHRINK = "kinkcheck-ci-noshrink"
_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.register_profile(DEV, max_examples=20, **common)
    settings.register_profile(CI, max_examples=20, derandomize=True, print_blob=True, **common)
    settings.register_profile(CI_NOSHRINK, parent=settings.get_profile(CI),
                              phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target])
    settings.register_profile(THOROUGH, max_examples=200, **common)
    settings.register_profile("kinkcheck-debug", parent=settings.get_profile(DEV), verbosity=Verbosity.verbose)
    settings.register_profile("kinkcheck-selftest", parent=settings.get_profile(CI), max_examples=10,
                              phases=[Phase.explicit, Phase.reuse, Phase.generate])
    settings.register_profile("kinkcheck-selftest-thorough", parent=settings.get_profile("kinkcheck-selftest"),
                              max_examples=200)
    _registered = True


def current_name() -> str:
    from hypothesis import settings

    return settings.get_current_profile_name()


def default_for_theorems(chosen: str | None) -> str | None:
    """The profile kinkcheck theorems run under when the user chose ``chosen`` (None: no choice)."""
    if chosen:
        return None  # the user's choice holds for every test
    return CI if current_name() == "ci" else DEV


@contextlib.contextmanager
def applied(chosen: str | None):
    """Make kinkcheck's default profile current while theorem modules are imported, then restore."""
    register()
    name = default_for_theorems(chosen)
    if name is None:
        yield
        return
    from hypothesis import settings

    previous = current_name()
    settings.load_profile(name)
    try:
        yield
    finally:
        settings.load_profile(previous)


def effective_name(chosen: str | None) -> str:
    return chosen or default_for_theorems(None)
