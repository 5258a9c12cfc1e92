"""What a kinkcheck test's outcome means for its cell of the conformance table.

- which tests run: a theorem that covers no subject of the run is deselected (n/a); in a gate run
  (``--optimizer``/``--activation``) the theorems whose outcome does not depend on the subject are
  deselected and listed as "not run" (``--all-theorems`` runs them); expected deviations are marked;
- how a report is read: an ``AssertionError`` (the property, or a subject that raised or went
  non-finite: ``SubjectError``) is the subject's FAIL; any other exception, a failing setup, or a
  Hypothesis error about the suite's own strategies is the suite's ERROR; ``OutOfScope`` is the
  typed out-of-scope outcome with its measured displacement; ``LowPrecisionEffect`` (an
  exact-arithmetic claim measured outside float64) is the outcome "measured", its figure and interval
  in the record -- never FAIL, never a plain skip;
- what a failure shows: the theorem, its title and source, the subject, and a command that
  reproduces it.
"""
from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading

import pytest

from kinkcheck import catalog
from kinkcheck.harness.core import records
from kinkcheck.harness.core.outcomes import HarnessError, LowPrecisionEffect, NotSupported, OutOfScope
from kinkcheck.plugin import expectations as expect
from kinkcheck.plugin import options, profiles, session

GATE_TIMEOUT_S = 600.0
TIMEOUT = pytest.StashKey[float]()


class SubjectTimeout(BaseException):
    """A test of a kinkcheck theorem ran past ``--kinkcheck-timeout``: a hanging subject.

    A BaseException on purpose: Hypothesis retries (to shrink) any Exception a test raises, and a
    retried hanging subject hangs again -- measured with pytest-timeout's signal method, whose
    ``Failed`` Hypothesis catches: a 5 s timeout was still hanging at 60 s. Hypothesis lets other
    BaseExceptions through at once, and pytest reports this one as the test's failure."""


@contextlib.contextmanager
def time_limit(item, subject: str, theorem: str):
    """Arm SIGALRM for the item's timeout (main thread, POSIX); elsewhere fall back to
    pytest-timeout's thread method when it is installed, else no limit."""
    seconds = item.stash.get(TIMEOUT, None)
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        if seconds and item.config.pluginmanager.hasplugin("timeout"):
            item.add_marker(pytest.mark.timeout(seconds, method="thread"))
        yield
        return

    def expire(signum, frame):
        raise SubjectTimeout(f"{theorem}: the test with subject {subject} ran past --kinkcheck-timeout "
                             f"{seconds:g} s (a hanging subject): {item.nodeid}")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def subject_of(item) -> str | None:
    """The table row of a test: its optimizer subject, the activation, or the suite."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "optimizer_subject" in callspec.params:
        return getattr(callspec.params["optimizer_subject"], "label", None)
    if "activation" in getattr(item, "fixturenames", ()):
        return f"activation {session.build(item.config).activation.name}"
    return records.SUITE_ROW


def new_record(item, marker) -> records.TestRecord:
    return records.TestRecord(item.nodeid, marker.args[0], subject_of(item))


def select(config, state, items) -> None:
    deselected = []
    for item in items:
        marker = item.get_closest_marker("theorem")
        if marker is None:
            continue
        subject = subject_of(item)
        if subject is None or (state.gate and subject == records.SUITE_ROW):
            deselected.append(item)
            if subject is not None:
                state.not_run.add(marker.args[0])
            continue
        hit = expect.match(state.expectations, marker.args[0], subject)
        if hit is not None:
            state.matched.add(hit[0])
            item.add_marker(pytest.mark.xfail(reason=f"expected deviation: {hit[1]}", strict=False))
        elif (known := expect.match(state.builtin_expectations, marker.args[0], subject)) is not None:
            item.add_marker(pytest.mark.xfail(reason=f"known torch deviation, not run (--runxfail runs it): "
                                                     f"{known[1]}", run=False, strict=False))
        timeout = config.getoption("--kinkcheck-timeout") or (GATE_TIMEOUT_S if state.gate else None)
        if timeout:
            item.stash[TIMEOUT] = float(timeout)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        keep = set(map(id, deselected))
        items[:] = [i for i in items if id(i) not in keep]


def _exceptions(exc) -> list[BaseException]:
    subs = getattr(exc, "exceptions", None)  # an exception group (Hypothesis reports several errors so)
    if isinstance(subs, (tuple, list)):
        return [e for sub in subs for e in _exceptions(sub)]
    return [exc]


def is_suite_error(exc) -> bool:
    """A property fails by an AssertionError (``SubjectError`` included: the subject raised or went
    non-finite inside a guarded step). Any other exception -- ``HarnessError``, a Hypothesis error
    about the suite's strategies (Unsatisfiable, FailedHealthCheck, InvalidArgument), a TypeError in
    the suite's code -- is a bug of the suite."""
    leaves = _exceptions(exc)
    if any(isinstance(e, HarnessError) for e in leaves):
        return True
    return not any(isinstance(e, (AssertionError, pytest.fail.Exception, SubjectTimeout)) for e in leaves)


def on_report(item, call, rep, marker, record) -> None:
    if call.when not in ("setup", "call") or (call.when == "setup" and rep.passed):
        return
    record = record or new_record(item, marker)
    record.seconds = round(float(getattr(rep, "duration", 0.0) or 0.0), 3)
    excinfo = call.excinfo
    if hasattr(rep, "wasxfail"):
        record.outcome = "xpass" if rep.passed else "xfail"
    elif rep.skipped:
        value = excinfo.value if excinfo is not None else None
        if isinstance(value, LowPrecisionEffect):
            record.outcome = "measured"
            record.reason = value.reason
            record.figures.update(value.figures())
        elif isinstance(value, NotSupported):
            record.outcome = "not-supported"
            record.reason = str(value.msg)
        elif isinstance(value, OutOfScope):
            record.outcome = "out-of-scope"
            record.reason = value.reason
            if value.displacement is not None:
                record.figures["out-of-scope displacement (max)"] = float(f"{value.displacement:.6g}")
        else:
            record.outcome = "skipped"
            record.reason = str(getattr(value, "msg", "") or rep.longrepr)
    elif rep.failed:
        suite = call.when == "setup" or (excinfo is not None and is_suite_error(excinfo.value))
        record.outcome = "error" if suite else "failed"
        rep.sections.append(("kinkcheck", failure_note(item, marker, record, suite)))
    else:
        record.outcome = "passed"
    rep.user_properties.append((records.USER_PROPERTY, vars(record)))


def reproduce_command(item) -> str:
    config = item.config
    node = f"{item.path}::{item.nodeid.split('::', 1)[1]}" if "::" in item.nodeid else str(item.path)
    args = [sys.executable, "-m", "pytest", node, "-p", "no:randomly"]
    for spec in options.optimizer_specs(config):  # the environment variable's subjects too
        args += ["--optimizer", spec]
    if options.activation_spec(config):
        args += ["--activation", options.activation_spec(config)]
    for name in ("--device", "--dtype", "--xfails-file"):
        value = config.getoption(name)
        if value:
            args += [name, value]
    for flag in ("--all-theorems", "--kinkcheck-slow"):
        if config.getoption(flag):
            args.append(flag)
    # the profile the theorems ran under, also when kinkcheck chose it (kinkcheck-ci under CI)
    args += ["--hypothesis-profile", profiles.effective_name(config.getoption("hypothesis_profile", None))]
    seed = config.getoption("hypothesis_seed", None)
    if seed is not None:
        args += ["--hypothesis-seed", str(seed)]
    return shlex.join(args)


def failure_note(item, marker, record, suite: bool) -> str:
    theorem = marker.args[0]
    entry = catalog.lookup(theorem)
    title = f"{entry.title} — {entry.source}" if entry else "(not in the catalogue)"
    what = ("ERROR of the suite itself (not a verdict on the subject): please report it"
            if suite else f"FAIL: the subject violates {theorem}")
    return "\n".join([
        f"{theorem}: {title}",
        f"subject: {record.subject}",
        what,
        f"reproduce: {reproduce_command(item)}",
        "(Hypothesis replays the failing example from its database; under a derandomized profile the "
        "same example is generated again; the @reproduce_failure blob, when printed above, pins it.)",
    ])


class Collector:
    """Gathers the records of every test report this process sees (the controller's under xdist)."""

    def __init__(self, config):
        self.config = config

    def pytest_runtest_logreport(self, report):
        for name, value in getattr(report, "user_properties", ()):
            if name == records.USER_PROPERTY:
                session.build(self.config).records.append(records.TestRecord(**value))
