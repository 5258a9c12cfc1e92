"""The kinkcheck pytest plugin: a guest in every pytest run of the environment.

Registered through the ``pytest11`` entry point (so ``pytest --pyargs kinkcheck.theorems`` works
from any directory once installed) and by the checkout's root ``conftest.py``. Importing it imports
neither torch nor the harness; subjects are resolved, the Hypothesis profile applied and the table
printed only in runs that collect kinkcheck theorems (or pass kinkcheck's options). Split by concern:
``options`` (command line), ``profiles`` (Hypothesis), ``session`` (the lazily built run state),
``expectations`` (the xfails file), ``outcomes`` (what a test's report means for its cell),
``report`` (the conformance table).
"""
from __future__ import annotations

import functools

import pytest

from kinkcheck.plugin import options, profiles, report, verdicts
from kinkcheck.plugin import session as kinkcheck_session

_RECORD = pytest.StashKey[object]()


def pytest_addoption(parser):
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "theorem(id, families=None, capability=None): the catalogue "
                                       "result (docs/theorems.md) a kinkcheck test checks")
    chosen = config.getoption("hypothesis_profile", None)
    if chosen and chosen.startswith(profiles.PREFIX):
        profiles.register()  # before Hypothesis's own pytest_configure loads it
    if options.uses_kinkcheck_options(config):
        kinkcheck_session.build(config)  # a bad spec is a usage error at start-up, not inside a test
    config.pluginmanager.register(verdicts.Collector(config), "kinkcheck-collector")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    """The run header (subjects, activation, device, dtype, profile, KINKCHECK_* variables) at the
    start of a run that uses kinkcheck, at every verbosity (the controller's under xdist)."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    if not (options.uses_kinkcheck_options(config) or kinkcheck_session.run_targets_theorems(config)):
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(report.header(config, kinkcheck_session.build(config)))


# ----------------------------------------------------------------------------- collection
@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Theorem modules are imported under kinkcheck's profile (unless the user chose one)."""
    if not (isinstance(collector, pytest.Module) and kinkcheck_session.is_theorem_path(collector.path)):
        return (yield)
    with profiles.applied(collector.config.getoption("hypothesis_profile", None)):
        return (yield)


def _marker(node):
    return node.get_closest_marker("theorem")


def pytest_generate_tests(metafunc):
    if "optimizer_subject" not in metafunc.fixturenames:
        return
    state = kinkcheck_session.build(metafunc.config)
    marker = _marker(metafunc.definition)
    subjects = [s for s in state.optimizers if marker is None or s.applies_to(marker.kwargs)]
    metafunc.parametrize("optimizer_subject", subjects, ids=[s.label for s in subjects])


@pytest.fixture(scope="session")
def placement(request):
    """Device and default dtype of the run (``--device``, ``--dtype``)."""
    return kinkcheck_session.build(request.config).placement


@pytest.fixture(scope="session")
def activation(request):
    """The activation under test (``--activation``), as a harness Activation."""
    return kinkcheck_session.build(request.config).activation


def pytest_collection_modifyitems(session, config, items):
    state = _state_if_used(config, items)
    if state is None:
        return
    if not config.getoption("--kinkcheck-slow"):
        slow = [i for i in items if _marker(i) is not None and i.get_closest_marker("slow") is not None]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [i for i in items if i not in slow]
    verdicts.select(config, state, items)


def _state_if_used(config, items):
    if any(_marker(i) is not None for i in items):
        return kinkcheck_session.build(config)
    return kinkcheck_session.get(config)


# ----------------------------------------------------------------------------- per test
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    marker = _marker(item)
    if marker is None:
        return (yield)
    record = verdicts.new_record(item, marker)
    item.stash[_RECORD] = record
    token = verdicts.records.begin(record)
    holder = getattr(item.obj, "hypothesis", None)
    original = getattr(holder, "inner_test", None)
    if original is not None:
        @functools.wraps(original)
        def counted(*args, **kwargs):
            verdicts.records.count_case()
            return original(*args, **kwargs)

        holder.inner_test = counted
    else:
        record.cases = 1
    try:
        with verdicts.time_limit(item, record.subject, record.theorem):
            return (yield)
    finally:
        if original is not None:
            holder.inner_test = original
        verdicts.records.end(token)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    marker = _marker(item)
    if marker is not None:
        verdicts.on_report(item, call, rep, marker, item.stash.get(_RECORD, None))
    return rep


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    state = kinkcheck_session.get(config)
    if state is None:
        return
    report.write_summary(terminalreporter, exitstatus, config, state)
