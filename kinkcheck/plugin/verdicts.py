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
from kinkcheck.harness.core.outcomes import LowPrecisionEffect, NotSupported, OutOfScope
from kinkcheck.plugin import blame
from kinkcheck.plugin import expectations as expect
from kinkcheck.plugin import options, profiles, session

GATE_TIMEOUT_S = 300.0  # per test; a hanging subject ends the gate after its first timeout (below)
TIMEOUT = pytest.StashKey[float]()


class SubjectTimeout(BaseException):
    """A test of a kinkcheck theorem ran past ``--kinkcheck-timeout``: a hanging subject.

    A BaseException on purpose: Hypothesis retries (to shrink) any Exception a test raises, and a
    retried hanging subject hangs again -- measured with pytest-timeout's signal method, whose
    ``Failed`` Hypothesis catches: a 5 s timeout was still hanging at 60 s. Hypothesis lets other
    BaseExceptions through at once, and pytest reports this one as the test's failure."""


class SubjectHung(SubjectTimeout):
    """A test of a subject that already ran past the time limit earlier in this run: it fails at once,
    without running, naming the first timed-out test (a FAIL of the subject, as the timeout itself)."""


# ----------------------------------------------------------------------------- the hang registry
# After one timeout a subject's remaining tests fail at once (``SubjectHung``), so that a hanging
# subject costs one time limit, not one per test: with the default 300 s and one timeout, a gate run
# ends in about 300 s plus the subject's other tests failing in milliseconds (22 tests x 600 s before).
# The registry is run-scoped: in one process it lives in ``config.stash``; under pytest-xdist the
# workers share no memory, so a timeout is also written as a marker file, one per subject, in a
# directory named after xdist's run id (``workerinput["testrunuid"]``, the same for every worker of a
# run) and the controller's pid (a user's fixed ``--testrunuid`` is still a new directory per run).
# Every worker reads it before each test, and a worker whose test of that subject is already running
# polls it every HANG_POLL_S seconds (SIGALRM), so a subject hanging on every worker at once ends within
# one time limit plus HANG_POLL_S. The suite's own row is not registered: a slow suite-level test is
# not a hanging subject, and each keeps its own limit. Marker files are a few bytes and stay in the
# system temp directory (nothing else of the run is left there); a serial run writes none.
HANG_POLL_S = 5.0
_HANGS = pytest.StashKey[dict]()


def _hang_dir(config):
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or not workerinput.get("testrunuid"):
        return None
    import os
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / f"kinkcheck-hangs-{workerinput['testrunuid']}-{os.getppid()}"


def _hang_file(config, subject: str):
    import hashlib

    folder = _hang_dir(config)
    return None if folder is None else folder / hashlib.sha1(subject.encode()).hexdigest()


def record_hang(config, subject: str, nodeid: str) -> None:
    """Remember that ``subject`` ran past the limit in ``nodeid`` (the first such test is kept)."""
    if subject is None or subject == records.SUITE_ROW:
        return
    path = _hang_file(config, subject)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8") as f:  # exclusive: another worker's first timeout stays
                f.write(nodeid)
        except FileExistsError:
            config.stash.setdefault(_HANGS, {}).pop(subject, None)
            nodeid = first_hang(config, subject) or nodeid  # the run's first, from the other worker
        except OSError:  # an unwritable temp directory: the other workers run their own limits
            pass
    config.stash.setdefault(_HANGS, {}).setdefault(subject, nodeid)


def first_hang(config, subject: str) -> str | None:
    """The test in which ``subject`` first ran past the limit in this run (any worker), or None."""
    if subject is None or subject == records.SUITE_ROW:
        return None
    found = config.stash.get(_HANGS, {}).get(subject)
    if found is not None:
        return found
    path = _hang_file(config, subject)
    if path is None:
        return None
    try:
        found = path.read_text(encoding="utf-8") or "(another worker's test)"
    except OSError:
        return None
    config.stash.setdefault(_HANGS, {}).setdefault(subject, found)
    return found


def _hung_message(theorem: str, subject: str, first: str, seconds) -> str:
    limit = f"--kinkcheck-timeout {seconds:g} s" if seconds else "the time limit"
    return (f"{theorem}: not run: subject {subject} already ran past {limit} in this run, first in {first} "
            f"(a hanging subject: its remaining tests fail at once)")


@contextlib.contextmanager
def time_limit(item, subject: str, theorem: str):
    """Arm SIGALRM for the item's timeout (main thread, POSIX); elsewhere fall back to
    pytest-timeout's thread method when it is installed, else no limit. A subject that already timed
    out in this run fails at once (``SubjectHung``), without running the test."""
    seconds = item.stash.get(TIMEOUT, None)
    if seconds and (first := first_hang(item.config, subject)) is not None:
        raise SubjectHung(_hung_message(theorem, subject, first, seconds))
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        if seconds and item.config.pluginmanager.hasplugin("timeout"):
            item.add_marker(pytest.mark.timeout(seconds, method="thread"))
        yield
        return

    import time

    deadline = time.monotonic() + seconds
    shared = _hang_dir(item.config) is not None and subject != records.SUITE_ROW
    poll = min(seconds, HANG_POLL_S) if shared else seconds

    def expire(signum, frame):
        if shared and time.monotonic() < deadline:  # a poll (xdist): did another worker see this subject hang?
            first = first_hang(item.config, subject)
            if first is None:
                return
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise SubjectHung(_hung_message(theorem, subject, first, seconds))
        signal.setitimer(signal.ITIMER_REAL, 0)
        record_hang(item.config, subject, item.nodeid)
        raise SubjectTimeout(f"{theorem}: the test with subject {subject} ran past --kinkcheck-timeout "
                             f"{seconds:g} s (a hanging subject; its remaining tests fail at once): "
                             f"{item.nodeid}")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, poll, poll)
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
    """Deselect what a run does not judge, mark expected deviations, arm the time limit. A gate
    (``--kinkcheck-optimizer``/``--kinkcheck-activation``) deselects the suite-level tests and, when no
    activation was given, the tests whose row is the default activation (T1 on torch.relu judges torch,
    not the optimizer under test); both are listed under the table as "not run"."""
    deselected = []
    default_activation = state.gate and not options.activation_spec(config)
    timeout = options.value(config, "timeout") or (GATE_TIMEOUT_S if state.gate else None)
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
        if default_activation and subject.startswith("activation "):
            deselected.append(item)
            state.not_run_activation.add(marker.args[0])
            continue
        coords = expect.item_coordinates(item, str(state.placement.dtype).removeprefix("torch."))
        hit = expect.match(state.expectations, marker.args[0], subject, **coords)
        if hit is not None:
            state.matched.add(hit[0])
            item.add_marker(pytest.mark.xfail(reason=f"expected deviation: {hit[1]}", strict=False))
        elif (known := expect.match(state.builtin_expectations, marker.args[0], subject, **coords)) is not None:
            item.add_marker(pytest.mark.xfail(reason=f"known torch deviation, not run (--runxfail runs it): "
                                                     f"{known[1]}", run=False, strict=False))
        if timeout:
            item.stash[TIMEOUT] = float(timeout)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        keep = set(map(id, deselected))
        items[:] = [i for i in items if id(i) not in keep]


def is_suite_error(exc) -> bool:
    """Whether a failed test is the suite's ERROR rather than the subject's FAIL: the rule of
    ``kinkcheck.plugin.blame`` (blame follows the call)."""
    return blame.is_suite_error(exc)


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
        if not suite and excinfo is not None:
            record.reason = blame.failure_kind(excinfo.value, marker.args[0])
        rep.sections.append(("kinkcheck", failure_note(item, marker, record, suite)))
    else:
        record.outcome = "passed"
    rep.user_properties.append((records.USER_PROPERTY, vars(record)))


def reproduce_command(item) -> str:
    """The command that runs this test again with the run's subjects, placement and profile (settings
    that came from the environment or the ini file are spelled out as options)."""
    config = item.config
    node = f"{item.path}::{item.nodeid.split('::', 1)[1]}" if "::" in item.nodeid else str(item.path)
    args = [sys.executable, "-m", "pytest", node, "-p", "no:randomly"]
    for spec in options.value(config, "optimizers"):
        args += ["--kinkcheck-optimizer", spec]
    for name in ("activation", "device", "dtype", "xfails_file"):
        if options.value(config, name):
            args += [options.SETTINGS[name].flag, str(options.value(config, name))]
    for name in ("all_theorems", "slow"):
        if options.value(config, name):
            args.append(options.SETTINGS[name].flag)
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
    kind = record.reason or "violates the theorem"
    what = ("ERROR of the suite itself (not a verdict on the subject): please report it"
            if suite else f"FAIL ({kind}): the subject fails {theorem}")
    hints = [] if suite else [f"hint: {h}" for k, h in blame.HINT.items() if k in kind]
    return "\n".join([
        f"{theorem}: {title}",
        f"subject: {record.subject}",
        what,
        *hints,
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
