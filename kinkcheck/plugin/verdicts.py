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

GATE_TIMEOUT_S = 300.0  # per call into the subject; a hanging subject ends the gate after its first timeout
TIMEOUT = pytest.StashKey[float]()


class SubjectTimeout(BaseException):
    """A call into a subject has not returned for ``--kinkcheck-timeout`` seconds: a hanging subject.

    A BaseException on purpose: Hypothesis retries (to shrink) any Exception a test raises, and a
    retried hanging subject hangs again -- measured with pytest-timeout's signal method, whose
    ``Failed`` Hypothesis catches: a 5 s timeout was still hanging at 60 s. Hypothesis lets other
    BaseExceptions through at once, and pytest reports this one as the test's failure."""


class SubjectHung(SubjectTimeout):
    """A test of a subject that already ran past the time limit earlier in this run: it fails at once,
    without running, naming the first timed-out test (a FAIL of the subject, as the timeout itself)."""


class SuiteTimeout(BaseException):
    """kinkcheck's own code ran past the time limit without calling into the subject (between calls, or
    inside a callback the subject called): a bug or a stall of the suite -- its ERROR, never the
    subject's FAIL (``blame.is_suite_error``). A BaseException for the reason given at SubjectTimeout."""


# ----------------------------------------------------------------------------- the watchdog
# The limit is a watchdog on progress, not a budget for a test: a slow optimizer is not a hanging one
# (timm's Kron ran one T2 test for 832 s on 2 loaded cores, every call returning, and was reported hung at
# 300 s). The watch (``Watchdog``, installed in ``harness/core/guard.py`` for the test's duration) follows
# the calls into the subject -- construction, ``step``, ``zero_grad``, ... -- and the suite's callbacks the
# subject calls (the closure):
#
# - the subject hangs when ONE call into it has not returned for the limit: the outermost call running,
#   timed from its start (a ``step`` that keeps calling the closure and never returns is hung; the calls
#   nested inside it do not re-arm it); each return of an outermost call re-arms the watch;
# - the suite's own code is timed too: between two calls (and before the first, after the last) and
#   inside one callback. Past the limit there, the test is the suite's ERROR naming kinkcheck
#   (``SuiteTimeout``), not the subject's: the subject was not running.
#
# A periodic SIGALRM every ``min(HANG_POLL_S, limit / WATCH_TICKS)`` seconds reads the watch, so a hang is
# reported between one limit and one limit plus a tick after the call began: with the default 300 s and a
# 5 s tick, a subject hanging in ``step`` ends its test by 305 s, and the gate (its other tests failing at
# once, below) in that plus start-up. Tests whose row is not an optimizer (the activation under test,
# whose calls are not guarded, and the suite's own tests) keep a limit on the whole test: past it, the
# activation's test is its FAIL (hung) and a suite-level test is the suite's ERROR.
WATCH_TICKS = 4


class Watchdog:
    """The progress watch of one test (``kinkcheck.harness.core.guard.Watch``): a stack of the running
    calls into the subject and the suite's callbacks inside them, each with its start time."""

    def __init__(self, limit: float, clock=None):
        import time

        self.limit = limit
        self.clock = clock or time.monotonic
        self.frames: list[tuple[str, str, float]] = []  # (kind: "subject" | "callback", what, started)
        self.idle_since = self.clock()  # the suite's own time since the last outermost call returned

    def enter(self, what: str) -> None:
        self.frames.append(("subject", what, self.clock()))

    def leave(self) -> None:
        if self.frames:
            self.frames.pop()
        if not self.frames:
            self.idle_since = self.clock()  # the return of an outermost call re-arms the watch

    def enter_callback(self) -> None:
        self.frames.append(("callback", "in the suite's callback (the closure the subject called)", self.clock()))

    def leave_callback(self) -> None:
        if self.frames:
            self.frames.pop()

    def overdue(self) -> tuple[str, str, float] | None:
        """("subject", what, seconds) when the outermost call into the subject has run past the limit,
        ("suite", where, seconds) when the suite's own code has, else None."""
        now = self.clock()
        if not self.frames:
            elapsed = now - self.idle_since
            return ("suite", "between calls into the subject", elapsed) if elapsed > self.limit else None
        kind, what, started = self.frames[-1]
        if kind == "callback" and now - started > self.limit:
            return "suite", what, now - started
        outer = next(f for f in self.frames if f[0] == "subject")
        elapsed = now - outer[2]
        return ("subject", outer[1], elapsed) if elapsed > self.limit else None


# ----------------------------------------------------------------------------- the hang registry
# After one timeout a subject's remaining tests fail at once (``SubjectHung``), so that a hanging
# subject costs one time limit, not one per test: with the default 300 s and one timeout, a gate run
# ends in about 300 s (plus at most one 5 s tick) plus the subject's other tests failing in
# milliseconds (22 tests x 600 s before).
# The registry is run-scoped: in one process it lives in ``config.stash``; under pytest-xdist the
# workers share no memory, so a timeout is also written as a marker file, one per subject, in a
# directory named after xdist's run id (``workerinput["testrunuid"]``, the same for every worker of a
# run) and the controller's pid (a user's fixed ``--testrunuid`` is still a new directory per run).
# Every worker reads it before each test, and a worker whose test of that subject is already running
# polls it at every tick of the watchdog (SIGALRM, at most HANG_POLL_S seconds apart), so a subject
# hanging on every worker at once ends within one time limit plus HANG_POLL_S. The suite's own row is
# not registered: a slow suite-level test is not a hanging subject, and each keeps its own limit.
# Marker files are a few bytes and stay in the system temp directory (nothing else of the run is left
# there); a serial run writes none.
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


def _is_optimizer_row(item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "optimizer_subject" in callspec.params


@contextlib.contextmanager
def time_limit(item, subject: str, theorem: str):
    """The test's call, watched and judged: the progress watchdog (above) while it runs -- SIGALRM on the
    main thread (POSIX); elsewhere pytest-timeout's thread method on the whole test when it is installed,
    else no limit -- and, when it returns, the test-level non-vacuity decision
    (``assertions.close_cases``: a test none of whose cases moved the subject checked nothing). A
    subject that already timed out in this run fails at once (``SubjectHung``), without running the test."""
    __tracebackhide__ = True
    record = records.current()
    passed = False
    try:
        with _watched(item, subject, theorem):
            yield
        passed = True
    finally:
        if record is not None:
            from kinkcheck.harness.core import assertions

            assertions.close_cases(record.nodeid, decide=passed)


@contextlib.contextmanager
def _watched(item, subject: str, theorem: str):
    __tracebackhide__ = True
    seconds = item.stash.get(TIMEOUT, None)
    if seconds and (first := first_hang(item.config, subject)) is not None:
        raise SubjectHung(_hung_message(theorem, subject, first, seconds))
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        if seconds and item.config.pluginmanager.hasplugin("timeout"):
            item.add_marker(pytest.mark.timeout(seconds, method="thread"))
        yield
        return

    from kinkcheck.harness.core import guard

    per_call = _is_optimizer_row(item)
    watch = Watchdog(seconds)
    shared = _hang_dir(item.config) is not None and subject != records.SUITE_ROW
    tick = min(seconds / WATCH_TICKS, HANG_POLL_S)
    limit = f"--kinkcheck-timeout {seconds:g} s"

    def expire(signum, frame):
        __tracebackhide__ = True
        if shared and (first := first_hang(item.config, subject)) is not None:  # another worker saw it hang
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise SubjectHung(_hung_message(theorem, subject, first, seconds))
        late = watch.overdue()
        if late is None:
            return
        whose, what, elapsed = late
        signal.setitimer(signal.ITIMER_REAL, 0)  # one report per test
        if per_call and whose == "suite":
            raise SuiteTimeout(f"{theorem}: kinkcheck's own code ran {elapsed:.1f} s {what}, past {limit}: an "
                               f"ERROR of kinkcheck (the suite), not of subject {subject}: {item.nodeid}")
        if not per_call and subject == records.SUITE_ROW:
            raise SuiteTimeout(f"{theorem}: the suite-level test ran past {limit}: an ERROR of kinkcheck, no "
                               f"subject involved: {item.nodeid}")
        record_hang(item.config, subject, item.nodeid)
        where = (f"one call into the subject, {what}, has not returned for {elapsed:.1f} s (the limit is per call; "
                 f"each return re-arms it)" if per_call else f"the whole test ran {elapsed:.1f} s")
        raise SubjectTimeout(f"{theorem}: the test with subject {subject} ran past {limit} (a hanging subject; its "
                             f"remaining tests fail at once): {item.nodeid}\n  hung: {where}")

    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_watch = guard.install_watch(watch if per_call else None)
    signal.setitimer(signal.ITIMER_REAL, tick, tick)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        guard.install_watch(previous_watch)
        signal.signal(signal.SIGALRM, previous_handler)


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
