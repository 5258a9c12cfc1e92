"""Verdict integrity, the rest of issue #19: vacuity, withholding, hangs. Each part has correct subjects that
now pass and broken ones that are rejected (``tests/verdict_impls.py``); the gates run as two pytest
subprocesses in all (one for parts 1 and 2, one for part 3), the rest in process.

1. A case in which the subject moved nothing is counted, not judged; the test is vacuous only when no case
   moved (``harness/core/assertions.py``: MIN_MOVED_CASES), and T3 replays a float32 case that moved
   nothing in float64 -- checking the claim there too -- as it did for float16/bfloat16.
2. ``?rename={'nesterov': None}`` withholds an optional hyperparameter: the subject is treated as a
   constructor that lacks it; withholding a defining one is a usage error.
3. The time limit is a watchdog on progress: one call into the subject that does not return for the limit
   is a hang, a slow subject whose calls keep returning is not, and the suite's own time past the limit is
   the suite's ERROR.
"""
from __future__ import annotations

import time
import types

import pytest
import torch

from kinkcheck.harness.core import assertions, guard, records
from kinkcheck.harness.core.outcomes import NotSupported
from kinkcheck.harness.subjects.specs import SpecError, parse_optimizer_spec
from kinkcheck.plugin import blame, verdicts
from tests.conftest import optimizer_args
from tests.verdict_impls import SlowAdam

IMPLS = "tests.verdict_impls"
WITHHELD = f"muon={IMPLS}:ForwardingMuon?rename={{'nesterov': None}}&matrix_flag='use_muon'"
CORRECT = (
    f"adam={IMPLS}:RectifiedAdam?decay_law='none'",  # never moves with beta2 = 0.5 (rho_inf = 3)
    f"adam={IMPLS}:HarmonicAvaGrad?decay_law='decoupled'",  # its float32 steps round away
    WITHHELD,  # sets nesterov itself: withheld, it runs as family muon
)
BROKEN = {  # subject: what its failure says
    f"adam={IMPLS}:NeverMovingAdam": "FAIL (never reached the regime (vacuous))",
    f"adam={IMPLS}:LeakyRectifiedAdam?decay_law='none'": "frozen coordinates of",
    f"adam={IMPLS}:LeakyAvaGrad?decay_law='decoupled'": "(the case replayed in float64: nothing moved in float32)",
    f"muon={IMPLS}:LeakyForwardingMuon?rename={{'nesterov': None}}&matrix_flag='use_muon'": "frozen coordinates of",
    # the same correct ForwardingMuon without the rename: the drawn nesterov collides with its own
    f"muon={IMPLS}:ForwardingMuon?matrix_flag='use_muon'": "multiple values for keyword argument 'nesterov'",
}
OWN_VALUE = "hyperparameters at the subject's own value (constructor lacks them)"
ROUNDED = "cases whose every live update rounded away in float32 (moved in float64)"


def _figures(run, subject: str, test: str) -> dict:
    found = [t["figures"] for t in run.report["tests"] if t["subject"] == subject and f"::{test}[" in t["nodeid"]]
    assert found, (subject, test)
    return found[0]


# ----------------------------------------------------------------------------- 1 and 2: one gate
def test_vacuous_cases_are_counted_and_withheld_names_run_in_one_gate(run_suite):
    """T3 in float32 (every case float32, so the float64 replay is what decides a case whose updates all
    rounded away). The correct subjects pass with their still cases counted in the report; each broken one
    fails with its own message: a subject that never moves is vacuous, one that moves a zero-gradient
    coordinate in the cases where it moves at all (or only in the float64 replay) violates T3, and a
    withheld name does not shelter a leak."""
    run = run_suite(*optimizer_args(*CORRECT, *BROKEN), "--kinkcheck-dtype", "float32",
                    modules=("test_frozen_coordinates.py",))
    assert run.ret == 1, run.text[-3000:]
    wrong = run.verdicts({spec: {"T3"} for spec in BROKEN}, accepted=CORRECT)
    assert not wrong, "\n".join(wrong) + "\n" + run.text[-3000:]
    for spec, why in BROKEN.items():
        assert why in run.failure_text(spec), (spec, run.failure_text(spec)[-3000:])
    never = run.failure_text(f"adam={IMPLS}:NeverMovingAdam")
    assert "the subject moved in 0 of the test's" in never and "HORIZON_CAP" in never, never[-3000:]
    # the rule was exercised: cases that moved nothing were counted (beta2 = 0.5), and float32 cases whose
    # every update rounded away were decided in float64
    rectified = _figures(run, CORRECT[0], "test_zero_gradient_coordinates_never_move")
    assert rectified.get(assertions.STILL_FIGURE, 0) >= 1, rectified
    avagrad = _figures(run, CORRECT[1], "test_zero_gradient_coordinates_never_move")
    assert avagrad.get(ROUNDED, 0) >= 1, avagrad
    published = _figures(run, WITHHELD, "test_published_defaults_keep_zero_gradient_coordinates_bit_identical")
    assert published.get(OWN_VALUE) == "nesterov", published  # drawn True, run at its own (False), recorded


# ----------------------------------------------------------------------------- 1: the rule, in process
@pytest.fixture
def test_record():
    token = records.begin(records.TestRecord(f"selftest-{time.time_ns()}", "T3", "adam=x:Y"))
    yield records.current()
    records.end(token)


def test_a_test_is_vacuous_only_when_none_of_its_cases_moved(test_record):
    assert assertions.case_moved(False, "nothing moved", "beta2 = 0.5") is False
    assert assertions.case_moved(True, "nothing moved") is True
    assertions.close_cases(test_record.nodeid)  # one case moved: a check
    assert test_record.figures[assertions.STILL_FIGURE] == 1
    for _ in range(3):
        assertions.case_moved(False, "nothing moved", "beta2 = 0.5")
    with pytest.raises(AssertionError, match=r"non-vacuity \(T3\).*nothing moved \(beta2 = 0.5\); the subject moved "
                                             r"in 0 of the test's 3 cases") as failed:
        assertions.close_cases(test_record.nodeid)
    assert not blame.is_suite_error(failed.value)  # the subject's FAIL, raised where claims are stated
    assert blame.failure_kind(failed.value, "T3") == "never reached the regime (vacuous)"
    assertions.case_moved(False, "nothing moved")
    assertions.close_cases(test_record.nodeid, decide=False)  # a test that failed otherwise: no second verdict
    assertions.close_cases(test_record.nodeid)  # and its tally is gone


def test_outside_a_test_record_every_case_is_its_own_test():
    with pytest.raises(AssertionError, match="non-vacuity"):
        assertions.case_moved(False, "nothing moved")


# ----------------------------------------------------------------------------- 2: withholding, in process
def test_a_withheld_name_is_never_passed_and_a_defining_one_cannot_be_withheld(test_record):
    subject = parse_optimizer_spec(WITHHELD)
    assert subject.withheld == {"nesterov"} and subject.translate({"nesterov": True, "lr": 0.1}) == {"lr": 0.1}
    w = torch.zeros(3, 4, requires_grad=True)
    drawn = {"lr": 0.02, "momentum": 0.9, "ns_steps": 5}
    built = subject.build([w], **drawn, nesterov=True)  # T3: the claim holds for every nesterov
    assert built.param_groups[0]["nesterov"] is False and test_record.figures[OWN_VALUE] == "nesterov"
    token = records.begin(records.TestRecord("t4", "T4", subject.label))
    try:  # T4 compares a recursion: a value the subject was not given is not compared (n/s)
        with pytest.raises(NotSupported, match="nesterov"):
            subject.build([w], **drawn, nesterov=True)
        assert subject.build([w], **drawn, nesterov=False).param_groups[0]["nesterov"] is False  # the off position
    finally:
        records.end(token)
    with pytest.raises(SpecError, match=r"withhold 'momentum', which defines family 'muon'.*rename=\{'momentum': "):
        parse_optimizer_spec(f"muon={IMPLS}:ForwardingMuon?rename={{'momentum': None}}")
    with pytest.raises(SpecError, match="withhold 'lr'"):
        parse_optimizer_spec(f"adam={IMPLS}:RectifiedAdam?rename={{'lr': None}}")
    assert parse_optimizer_spec("amsgrad=torch.optim:Adam?rename={'amsgrad': None}").withheld == frozenset()  # built in


# ----------------------------------------------------------------------------- 3: slow is not hung
def test_a_slow_subject_passes_where_a_hanging_one_fails(run_suite):
    """Under --kinkcheck-timeout 1: SlowAdam's every step sleeps 0.4 s, so its published-defaults test (5
    steps) runs over 2 s, every call returning -- it passes; HangingAdam's first step never returns -- hung."""
    slow, hanging = f"adam={IMPLS}:SlowAdam", "adam=tests.broken.hang:HangingAdam"
    run = run_suite(*optimizer_args(slow, hanging), "--kinkcheck-timeout", "1", "-k", "published_defaults",
                    modules=("test_frozen_coordinates.py",))
    assert run.verdicts({hanging: {"T3"}}, accepted=(slow,)) == [], run.text[-3000:]
    seconds = [t["seconds"] for t in run.report["tests"] if t["subject"] == slow and t["outcome"] == "passed"]
    assert seconds and min(seconds) >= 5 * SlowAdam.STEP_S, seconds  # 2 s: twice the limit, and not hung
    text = run.failure_text(hanging)
    assert "FAIL (hung)" in text and "one call into the subject, step 1, has not returned" in text, text[-3000:]


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_watchdog_times_one_call_and_the_suites_own_stretches():
    clock = _Clock()
    watch = verdicts.Watchdog(1.0, clock=clock)
    for k in range(10):  # a slow subject: 10 steps of 0.6 s, each returning -- never overdue
        watch.enter(f"step {k}")
        clock.now += 0.6
        assert watch.overdue() is None
        watch.leave()
    watch.enter("step 10")  # a step that keeps calling the closure (each quickly) and never returns
    for _ in range(3):
        watch.enter_callback()
        watch.enter("zero_grad()")  # nested calls return: they do not re-arm the outer one
        clock.now += 0.3
        watch.leave()
        watch.leave_callback()
        clock.now += 0.1
    assert watch.overdue() == ("subject", "step 10", pytest.approx(1.2))
    watch.enter_callback()
    clock.now += 1.5  # the suite's closure itself runs past the limit
    assert watch.overdue()[0] == "suite"
    watch.leave_callback()
    watch.leave()
    clock.now += 0.9
    assert watch.overdue() is None
    clock.now += 0.2  # the suite ran 1.1 s between calls
    assert watch.overdue() == ("suite", "between calls into the subject", pytest.approx(1.1))


def _item(limit: float):
    config = types.SimpleNamespace(stash=pytest.Stash())
    item = types.SimpleNamespace(config=config, stash=pytest.Stash(), nodeid="theorems/test_x.py::test_x[adam=x:Y]",
                                 callspec=types.SimpleNamespace(params={"optimizer_subject": "adam=x:Y"}))
    item.stash[verdicts.TIMEOUT] = limit
    return item


def test_the_watchdog_under_sigalrm_blames_the_subject_or_the_suite():
    """The real timer, limit 0.5 s (ticks of 0.125 s): six calls of 0.15 s each, 0.9 s in all, pass; a call
    that does not return is the subject's hang (SubjectTimeout, registered); the suite's own time past the
    limit between calls is the suite's (SuiteTimeout: its ERROR, and the subject is not registered as hung)."""
    subject = types.SimpleNamespace(label="adam=x:Y", spec="x:Y")
    item = _item(0.5)
    with verdicts.time_limit(item, "adam=x:Y", "T3"):
        for k in range(6):
            guard.call(subject, f"step {k}", time.sleep, 0.15)
    started = time.monotonic()
    with pytest.raises(verdicts.SubjectTimeout, match="step 1, has not returned") as hung:
        with verdicts.time_limit(item, "adam=x:Y", "T3"):
            guard.call(subject, "step 1", time.sleep, 30)
    assert time.monotonic() - started < 5 and blame.failure_kind(hung.value, "T3") == "hung"
    assert verdicts.first_hang(item.config, "adam=x:Y") == item.nodeid
    other = _item(0.5)
    with pytest.raises(verdicts.SuiteTimeout, match="kinkcheck's own code ran .* between calls") as stalled:
        with verdicts.time_limit(other, "adam=x:Y", "T3"):
            guard.call(subject, "step 1", time.sleep, 0.05)
            time.sleep(30)  # the suite's own code, not the subject's
    assert blame.is_suite_error(stalled.value) and verdicts.first_hang(other.config, "adam=x:Y") is None
    assert guard.install_watch(None) is None  # the watch is removed with the test


def test_aliasing_inherited_from_torch_says_so_and_names_the_line_that_carries_it():
    """T4's aliasing FAIL stays a FAIL for a user's subject (it does change the user's tensor); where the class keeps
    torch.optim.Optimizer.add_param_group, the message says the behaviour is torch's and gives the expectation
    line; a class with its own add_param_group gets no such note."""
    import types

    import torch

    from tests import reference_impls
    from theorems.test_usage_contract import _inherited_aliasing

    inherited = _inherited_aliasing(types.SimpleNamespace(factory=torch.optim.Adam, label="adam=torch.optim:Adam"))
    assert "inherits torch.optim.Optimizer.add_param_group" in inherited
    assert "'T4::adam=torch.optim:Adam::test_user_tensors_are_not_aliased" in inherited
    own = types.SimpleNamespace(factory=reference_impls.Adam, label="adam=tests.reference_impls:Adam")
    assert _inherited_aliasing(own) == ""
