"""#19 item 7: a hanging subject ends the gate after one time limit.

The gate run is the default one (every subject-dependent theorem module) on two subjects, one whose
``step`` never returns and one that hangs only at its first ``step``, with ``--kinkcheck-timeout 3`` to
measure the mechanism: each subject's first test times out (the watchdog: one call into it did not
return for the limit), every other test of the subject fails at once, naming the subject and that first
timed-out test. With the default limit (``GATE_TIMEOUT_S``, 300 s, read every ``min(5 s, limit / 4)``)
a subject hanging in ``step`` ends its first test by 305 s, and the gate in that plus the start-up and its
other tests failing in milliseconds (the wall time measured here less its 3 s limits, about 10 s): under
the 10 minutes of #19 (22 tests x 600 s before). A slow subject that keeps returning is not hung
(tests/test_verdict_integrity_2.py)."""
from __future__ import annotations

import re
import time
import types

import pytest

from kinkcheck.plugin import verdicts
from tests.conftest import optimizer_args

TIMEOUT_S = 3
HANGING = "adam=tests.broken.hang:HangingAdam"
HANGS_ONCE = "adam=tests.broken.hang:HangsOnceAdam"


def test_a_hanging_subject_costs_one_time_limit(run_suite):
    """HangingAdam never returns from ``step``. HangsOnceAdam hangs only at its first ``step``; its later
    tests would pass: they fail at once because the subject hung before (the registry, not a second hang,
    ends them). One run, both subjects."""
    started = time.monotonic()
    run = run_suite(*optimizer_args(HANGING, HANGS_ONCE), "--kinkcheck-timeout", str(TIMEOUT_S), "-p", "no:randomly",
                    modules=("",))  # theorems/ as a whole: the default gate
    wall = time.monotonic() - started
    assert run.ret == 1, run.text[-3000:]
    timed_out = re.findall(r"ran past --kinkcheck-timeout 3 s \(a hanging subject; its remaining tests fail at "
                           r"once\): (\S+)\nE?\s*hung: one call into the subject, (step \d+), has not returned",
                           run.text)
    for spec in (HANGING, HANGS_ONCE):
        outcomes = {t["nodeid"]: t["outcome"] for t in run.report["tests"] if t["subject"] == spec}
        assert len(outcomes) >= 20 and set(outcomes.values()) == {"failed"}, (spec, outcomes)
        first = {node for node, _ in timed_out if f"[{spec}" in node}
        assert len(first) == 1, (spec, run.text[-3000:])  # one test waited its limit ...
        hung = re.findall(rf"not run: subject {re.escape(spec)} already ran past --kinkcheck-timeout 3 s in this "
                          rf"run, first in (\S+)", run.text)
        assert len(set(hung)) == 1 and set(hung) == first, (spec, first, set(hung))  # ... the others name it
        assert len(hung) >= len(outcomes) - 1, (spec, len(hung), len(outcomes))
        seconds = sorted(t["seconds"] for t in run.report["tests"] if t["subject"] == spec)
        assert seconds[-1] >= TIMEOUT_S and seconds[-2] < 1.0, (spec, seconds)  # the rest did not run
        assert "FAIL (hung)" in run.failure_text(spec), spec
        assert re.search(rf"T\d+: the test with subject {re.escape(spec)} ran past --kinkcheck-timeout 3 s",
                         run.text), spec  # the theorem is named
        assert re.search(rf"{re.escape(spec)}\s+FAIL \d+", run.text), spec  # the table row
    assert {call for _, call in timed_out} == {"step 1"}, timed_out  # the call that hung is named
    assert wall < 60, wall  # collection, start-up and two 3 s limits (measured: about 16 s)


def _worker(uid: str):
    return types.SimpleNamespace(workerinput={"testrunuid": uid, "workerid": "gw0"}, stash=pytest.Stash())


def test_xdist_workers_share_the_registry_through_the_run_directory():
    """Two xdist workers of one run (same testrunuid, same controller) share no memory: a hang recorded
    by one is seen by the other through the marker file; another run (another testrunuid) sees nothing;
    the suite's own row is never registered."""
    uid = f"selftest-{time.time_ns()}"
    first, second, other_run = _worker(uid), _worker(uid), _worker(uid + "-other")
    try:
        assert verdicts.first_hang(second, "adam=x:Y") is None
        verdicts.record_hang(first, "adam=x:Y", "theorems/test_a.py::test_a[adam=x:Y]")
        verdicts.record_hang(second, "adam=x:Y", "theorems/test_b.py::test_b[adam=x:Y]")  # the first is kept
        assert verdicts.first_hang(second, "adam=x:Y") == "theorems/test_a.py::test_a[adam=x:Y]"
        assert verdicts.first_hang(_worker(uid), "adam=x:Y") == "theorems/test_a.py::test_a[adam=x:Y]"
        assert verdicts.first_hang(other_run, "adam=x:Y") is None
        assert verdicts.first_hang(second, "sgd=x:Z") is None
        verdicts.record_hang(first, verdicts.records.SUITE_ROW, "theorems/test_c.py::test_c")
        assert verdicts.first_hang(second, verdicts.records.SUITE_ROW) is None
    finally:
        folder = verdicts._hang_dir(first)
        for path in folder.glob("*"):
            path.unlink()
        folder.rmdir()


def test_a_running_test_ends_when_another_worker_saw_its_subject_hang(monkeypatch):
    """Under xdist a worker already inside a test of the subject polls the registry (SIGALRM every
    HANG_POLL_S): once another worker recorded the subject's timeout, the running test ends at the next
    poll, long before its own limit."""
    monkeypatch.setattr(verdicts, "HANG_POLL_S", 0.2)
    uid = f"selftest-{time.time_ns()}"
    config, other = _worker(uid), _worker(uid)
    item = types.SimpleNamespace(config=config, stash=pytest.Stash(), nodeid="theorems/test_b.py::test_b[adam=x:Y]")
    item.stash[verdicts.TIMEOUT] = 60.0
    started = time.monotonic()
    try:
        with pytest.raises(verdicts.SubjectHung, match=r"first in theorems/test_a.py::test_a\[adam=x:Y\]"):
            with verdicts.time_limit(item, "adam=x:Y", "T3"):
                verdicts.record_hang(other, "adam=x:Y", "theorems/test_a.py::test_a[adam=x:Y]")
                time.sleep(30)
        assert time.monotonic() - started < 5
        with pytest.raises(verdicts.SubjectHung):  # and the next test of the subject does not start
            with verdicts.time_limit(item, "adam=x:Y", "T3"):
                raise AssertionError("ran")
    finally:
        folder = verdicts._hang_dir(config)
        for path in folder.glob("*"):
            path.unlink()
        folder.rmdir()
