"""The kinkcheck pytest plugin: a guest in every pytest run of the environment.

Registered through the ``pytest11`` entry point named ``kinkcheck`` (so ``pytest --pyargs
kinkcheck.theorems`` works from any directory once installed, and ``-p no:kinkcheck`` switches it off)
and, when that has not happened, by the checkout's root ``conftest.py``. It registers its own marks and
settings (``options``: every option also an ini setting). Importing it imports
neither torch nor the harness; subjects are resolved, the Hypothesis profile applied and the table
printed only in runs that collect kinkcheck theorems (or pass kinkcheck's options). Split by concern:
``options`` (command line), ``profiles`` (Hypothesis), ``session`` (the lazily built run state),
``expectations`` (the xfails file), ``outcomes`` (what a test's report means for its cell),
``report`` (the conformance table).
"""
from __future__ import annotations

import functools
import sys
import time
import weakref
from pathlib import Path

import pytest

from kinkcheck.plugin import database
from kinkcheck.plugin import options, profiles, report, verdicts
from kinkcheck.plugin import session as kinkcheck_session

_RECORD = pytest.StashKey[object]()
_COVERAGE = pytest.StashKey[str]()
NAMES = ("kinkcheck", "kinkcheck.plugin")  # -p no:kinkcheck (the entry point's name); the old name too
MARKERS = {
    "theorem": "theorem(id, families=None, capability=None): the catalogue result (docs/theorems.md) a "
               "kinkcheck test checks",
    "slow": "slow: long-running regression checks (kinkcheck's theorems run them with --kinkcheck-slow)",
    "thirdparty": "thirdparty: runs the gate against optimizer packages from PyPI (opt-in)",
}
SHRINK_NOTE_S = 5.0  # seconds between two "shrinking a failing example" lines


_SELF_BLOCKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # plugin manager -> names blocked below


def disabled(pluginmanager) -> bool:
    """``-p no:kinkcheck`` or ``-p no:kinkcheck.plugin``, whichever name this module was registered under."""
    ours = _SELF_BLOCKED.get(pluginmanager, set())
    return any(pluginmanager.is_blocked(name) for name in NAMES if name not in ours)


def pytest_addhooks(pluginmanager):
    """Registered under one of NAMES, block the other: pluggy refuses one module under two names, and an
    environment can hold stale metadata of the old entry-point name (``kinkcheck.plugin``, before it was
    ``kinkcheck``) or a conftest that lists it; either would otherwise end the run with a ValueError."""
    mine = pluginmanager.get_name(sys.modules[__name__])
    for name in NAMES:
        if name != mine and pluginmanager.get_plugin(name) is None and not pluginmanager.is_blocked(name):
            pluginmanager.set_blocked(name)
            _SELF_BLOCKED.setdefault(pluginmanager, set()).add(name)


def pytest_addoption(parser, pluginmanager):
    if disabled(pluginmanager):
        return
    options.add_options(parser)


def _register_markers(config) -> None:
    """The marks kinkcheck's theorems use, so that an installed run passes under --strict-markers (the
    checkout's pyproject lists slow and thirdparty too: a name registered twice is harmless)."""
    known = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    for name, line in MARKERS.items():
        if name not in known:
            config.addinivalue_line("markers", line)


def _check_output_paths(config) -> None:
    """A report path whose directory does not exist is a usage error before anything runs (not a
    traceback after the whole run)."""
    for name in ("report_json", "report_md"):
        value = options.value(config, name)
        if not value:
            continue
        path = Path(config.invocation_params.dir, value)
        where = options.source(config, name)
        if path.is_dir():
            example = Path(value, "kinkcheck.json" if name == "report_json" else "kinkcheck.md")
            raise pytest.UsageError(f"kinkcheck: {where} {value}: is a directory; give a file name, e.g. {example}")
        if not path.parent.is_dir():
            raise pytest.UsageError(f"kinkcheck: {where} {value}: the directory {path.parent} does not exist; "
                                    f"create it first (mkdir -p {path.parent}) or choose another path")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if disabled(config.pluginmanager):
        config.pluginmanager.unregister(sys.modules[__name__])
        return
    _register_markers(config)
    if not hasattr(config, "workerinput"):
        _check_output_paths(config)
    chosen = config.getoption("hypothesis_profile", None)
    if chosen and chosen.startswith(profiles.PREFIX):
        profiles.register()  # before Hypothesis's own pytest_configure loads it
    if options.uses_kinkcheck_options(config):
        kinkcheck_session.build(config)  # a bad spec is a usage error at start-up, not inside a test
    config.pluginmanager.register(verdicts.Collector(config), "kinkcheck-collector")
    config.pluginmanager.register(database.DatabaseKeys(), "kinkcheck-database")


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
        width = report._width(tr)
        for line in report.header(config, kinkcheck_session.build(config)).splitlines():
            for part in report._wrap(line, width):
                tr.write_line(part)
        aliases = options.aliases_used(config)
        if aliases:
            tr.write_line("kinkcheck: note: " + "; ".join(f"{old} is an alias of {new}" for old, new in aliases)
                          + " (the old names keep working)")


# ----------------------------------------------------------------------------- collection
@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Theorem modules are imported under kinkcheck's profile (unless the user chose one)."""
    if not (isinstance(collector, pytest.Module) and kinkcheck_session.is_theorem_path(collector.path)):
        return (yield)
    with profiles.applied(collector.config.getoption("hypothesis_profile", None)):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """``pytest theorems/`` outside the checkout: the theorems are installed, so say ``--pyargs``."""
    try:
        return (yield)
    except pytest.UsageError as exc:
        hint = _pyargs_hint(session.config, str(exc))
        if hint is None:
            raise
        raise pytest.UsageError(f"{exc}\n{hint}") from None


def _pyargs_hint(config, message: str) -> str | None:
    if "not found" not in message or config.getoption("pyargs", False):
        return None
    for arg in config.args:
        target = str(arg).split("::")[0]
        parts = Path(target).parts
        if parts and parts[0] == "theorems" and not Path(config.invocation_params.dir, target).exists():
            rest = "/".join(parts[1:]).removesuffix(".py").replace("/", ".")
            module = "kinkcheck.theorems" + (f".{rest}" if rest else "")
            return (f"hint: {target} is not a directory here; kinkcheck's theorems are installed with it: "
                    f"pytest --pyargs {module} (the same options follow)")
    return None


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
    if not options.value(config, "slow"):
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
        progress = _ShrinkProgress(item, record)

        @functools.wraps(original)
        def counted(*args, **kwargs):
            verdicts.records.count_case()
            try:
                return original(*args, **kwargs)
            except Exception as exc:
                progress.failed(exc)
                raise
            finally:
                progress.tick()

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


class _ShrinkProgress:
    """Hypothesis has no shrink hook: the counted inner test notices the first failing example and,
    while Hypothesis shrinks it (every later call), prints a line at most every SHRINK_NOTE_S seconds."""

    def __init__(self, item, record):
        self.item, self.record = item, record
        self.first = self.last = None

    def failed(self, exc) -> None:
        if self.first is None and not _is_hypothesis_control(exc):
            self.first = self.last = time.monotonic()

    def tick(self) -> None:
        """After every call while shrinking (failing or not): a line at most every SHRINK_NOTE_S seconds."""
        now = time.monotonic()
        if self.first is None or now - self.last < SHRINK_NOTE_S:
            return
        self.last = now
        config = self.item.config
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is None:
            return
        line = (f"kinkcheck: {self.record.theorem} {self.record.subject}: shrinking a failing example "
                f"({now - self.first:.0f} s so far; --hypothesis-profile kinkcheck-ci-noshrink skips shrinking)")
        capman = config.pluginmanager.get_plugin("capturemanager")
        if capman is not None:
            with capman.global_and_fixture_disabled():
                tr.write_line(line)
        else:
            tr.write_line(line)


def _is_hypothesis_control(exc) -> bool:
    """Hypothesis's own control flow (assume/reject, stop): not a failing example."""
    return type(exc).__module__.startswith("hypothesis")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    marker = _marker(item)
    if marker is not None:
        verdicts.on_report(item, call, rep, marker, item.stash.get(_RECORD, None))
    return rep


def pytest_sessionfinish(session, exitstatus):
    """--kinkcheck-require-coverage: a test that did not run because the subject's constructor lacks a
    hyperparameter (n/s) fails the run (exit 1); the summary names the subject and the tests."""
    config = session.config
    if hasattr(config, "workerinput") or not options.value(config, "require_coverage"):
        return
    state = kinkcheck_session.get(config)
    if state is None:
        return
    missing = report.not_supported_by_subject(state.records)
    if missing:
        config.stash[_COVERAGE] = report.require_coverage_line(missing)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    state = kinkcheck_session.get(config)
    if state is None:
        return
    line = config.stash.get(_COVERAGE, None)
    report.write_summary(terminalreporter, 1 if line and not exitstatus else exitstatus, config, state)
    if line:
        terminalreporter.write_line(line, red=True, bold=True)
