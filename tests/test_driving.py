"""#19 items 5 and 6(a): the driving rules (harness/core/training.py's driving comment) let correct optimizers that
follow a library convention reach a verdict, and give no broken twin a pass.

Measured before the rules (the same gate with the four rules reverted in-process): ClearsGradSGD FAILed
T2 and T3 (never extended past its warm-up: "no live coordinate moved"), LookaheadAdam FAILed T3 ("built
no optimizer state": its wrapper's state is empty), HutchinsonSGD FAILed T2 and T3 (it raised: no
create_graph), ScheduleFreeSGD FAILed T2 and T3 (it raised: step() in eval mode).

Item 6(a), the regime rule: on a degree-3 RePU network whose output is 64 on the data, correct SGD,
SGD-Nesterov, RAdam and ASGD (torch.optim) go to inf within 30 steps at lr 0.01 -- the case #19 saw
replayed -- and so does their family's float64 reference: the example is rejected (outside the
theorem's regime), not their FAIL. OverflowingSGD goes to inf where the reference stays finite: FAIL."""
from __future__ import annotations

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import UnsatisfiedAssumption

from kinkcheck.harness.core import driving, training
from kinkcheck.harness.core.activations import RELU, repu
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.outcomes import NonFiniteError
from kinkcheck.harness.core.training import needs_second_order
from kinkcheck.harness.subjects.specs import builtin_subjects, parse_optimizer_spec
from tests import driving_impls
from tests.conftest import optimizer_args

T2_T3 = ("test_inactive_neuron_invariance.py", "test_frozen_coordinates.py")
CORRECT = [
    "generic=tests.driving_impls:ClearsGradSGD",
    "adam=tests.driving_impls:LookaheadAdam",
    "generic=tests.driving_impls:HutchinsonSGD",
    "generic=tests.driving_impls:ScheduleFreeSGD",
]
BROKEN = {
    "generic=tests.broken.driving:NeverMovesClearsGrad": "no live coordinate moved",
    "adam=tests.broken.driving:LeakyLookahead": "frozen coordinates of",
    "generic=tests.broken.driving:LeakyHutchinsonSGD": "frozen coordinates of",
    "generic=tests.broken.driving:ShiftingScheduleFreeSGD": "frozen coordinates of",
    "sgd=tests.broken.driving:OverflowingSGD": "produced non-finite parameters",
}
# a colleague's new T3 test (published defaults, not under @given) records a Hypothesis event outside a test
# in this checkout (an ERROR of the suite for every subject): not part of the driving rules, left out here.
NOT_DRIVING = ("-k", "not test_published_defaults_keep_zero_gradient_coordinates_bit_identical")


def test_convention_following_optimizers_pass_and_their_broken_twins_fail(run_suite):
    run = run_suite(*optimizer_args(*CORRECT, *BROKEN), *NOT_DRIVING, modules=T2_T3)
    assert run.ret == 1, run.text[-3000:]
    wrong = run.verdicts({spec: {"T2", "T3"} for spec in BROKEN}, accepted=CORRECT)
    assert not wrong, "\n".join(wrong) + "\n" + run.text[-3000:]
    for spec, why in BROKEN.items():
        text = run.failure_text(spec)
        assert why in text, (spec, text[-3000:])
        assert f"({spec.split('=', 1)[1]}) raised" not in text, (spec, text[-3000:])  # rejected, not crashed
    assert "HORIZON_CAP" in run.failure_text("generic=tests.broken.driving:NeverMovesClearsGrad")


def _params():
    return [torch.zeros(3, requires_grad=True)]


def test_optimizer_state_reads_the_wrapped_optimizer():
    params = _params()
    wrapper = driving_impls.LookaheadAdam(params, lr=0.1)
    params[0].grad = torch.ones(3)
    wrapper.step()
    assert len(wrapper.state) == 0 and len(wrapper.optimizer.state) == 1
    assert driving.optimizer_chain(wrapper) == [wrapper, wrapper.optimizer]
    assert set(driving.optimizer_state(wrapper)[params[0]]) >= {"m", "v", "step"}
    plain = torch.optim.Adam(_params())
    assert driving.optimizer_chain(plain) == [plain] and driving.optimizer_state(plain) == {}


def test_is_second_order_is_read_along_the_chain():
    assert needs_second_order(driving_impls.HutchinsonSGD(_params()))
    assert needs_second_order(driving_impls.Lookahead(driving_impls.HutchinsonSGD(_params())))
    assert not needs_second_order(driving_impls.LookaheadSGD(_params()))
    assert not needs_second_order(torch.optim.SGD(_params(), lr=0.1))


def test_train_mode_only_for_optimizers_that_have_one():
    class Subject:
        label, spec = "generic=x:Y", "x:Y"

    assert not driving.enter_train_mode(torch.optim.Adam(_params()), Subject())
    schedule_free = driving_impls.ScheduleFreeSGD(_params())
    assert driving.enter_train_mode(schedule_free, Subject())
    assert all(group["train_mode"] for group in schedule_free.param_groups)


# ----------------------------------------------------------------------------- item 6(a): the regime
def _exploding_network() -> Network:
    """Degree-3 RePU, one network: neuron 1 active (output 64 at x = 2), neuron 2 inactive on the data."""
    d = torch.float64
    return Network([torch.tensor([[[2.0], [1.0]]], dtype=d), torch.tensor([[[1.0, 1.0]]], dtype=d)],
                   [torch.tensor([[0.0, -10.0]], dtype=d), torch.tensor([[0.0]], dtype=d)]).trainable()


X = torch.tensor([[-1.0], [2.0], [1.0]], dtype=torch.float64)
Y = torch.tensor([[-1.0], [1.0], [0.0]], dtype=torch.float64)
BUILTIN = {s.label: s for s in builtin_subjects(torch.device("cpu"), torch.float64)}


def _in_hypothesis(fn):
    """``fn()`` as the body of a one-example Hypothesis test: "rejected" when it rejected the example,
    else what it returned (an exception other than the rejection propagates)."""
    out = {}

    @settings(max_examples=1, database=None, phases=[Phase.generate], deadline=None)
    @given(st.just(0))
    def body(_):
        try:
            out["value"] = fn()
        except UnsatisfiedAssumption:
            out["value"] = "rejected"
            raise

    try:
        body()
    except Exception as exc:  # Unsatisfiable: the one example was rejected
        if out.get("value") != "rejected":
            raise
        assert type(exc).__name__ == "Unsatisfiable", exc
    return out["value"]


@pytest.mark.parametrize("label, hp", [
    ("sgd[forloop]", {"lr": 0.01}),
    ("nesterov[forloop]", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("radam[forloop]", {"lr": 0.01}),
    ("asgd[forloop]", {"lr": 0.01}),
])
def test_a_case_on_which_the_reference_diverges_is_rejected_not_failed(label, hp):
    subject = BUILTIN[label]
    with pytest.raises(NonFiniteError):  # outside Hypothesis: the subject's error, as before
        training.train(_exploding_network(), X, Y, subject, hp, 30, activation=repu(3))
    initial = [p.detach().clone() for p in _exploding_network().parameters()]
    network = training._NetworkReference(X, Y, repu(3), training.mse, None)
    assert training.reference_leaves_regime(subject, hp, initial, network.gradients, 30, torch.float64) >= 1
    outcome = _in_hypothesis(lambda: training.train(_exploding_network(), X, Y, subject, hp, 30, activation=repu(3)))
    assert outcome == "rejected", outcome


def test_non_finite_where_the_reference_stays_finite_is_the_subjects_failure():
    broken = parse_optimizer_spec("sgd=tests.broken.driving:OverflowingSGD")

    def run():
        net = _exploding_network()
        return training.train(net, X, Y, broken, {"lr": 1e-6}, 3, activation=RELU)

    with pytest.raises(NonFiniteError, match="produced non-finite parameters"):
        _in_hypothesis(run)
    initial = [p.detach().clone() for p in _exploding_network().parameters()]
    network = training._NetworkReference(X, Y, RELU, training.mse, None)
    assert training.reference_leaves_regime(broken, {"lr": 1e-6}, initial, network.gradients, 3, torch.float64) == 0


def test_injection_judges_with_the_same_stream():
    broken = parse_optimizer_spec("sgd=tests.broken.driving:OverflowingSGD")

    def stream(k):
        return [torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64) * k]

    def run():
        params = [torch.zeros(3, dtype=torch.float64, requires_grad=True)]
        return training.inject_gradients(params, stream, broken, {"lr": 0.1}, 4)

    with pytest.raises(NonFiniteError):
        _in_hypothesis(run)


def test_a_family_without_reference_keeps_the_failure():
    """generic (and lbfgs) have no reference recursion: no evidence that the case left the regime, so
    the non-finite parameters stay the subject's failure (the decision in training.py's driving comment)."""
    generic = parse_optimizer_spec("generic=torch.optim:SGD")
    with pytest.raises(NonFiniteError):
        _in_hypothesis(lambda: training.train(_exploding_network(), X, Y, generic, {"lr": 0.01}, 30,
                                              activation=repu(3)))
    assert training.reference_leaves_regime(generic, {"lr": 0.01}, [], lambda k, t: [], 1, torch.float64) is None
