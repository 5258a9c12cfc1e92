"""Mutation self-tests for T5–T9: each broken component or subject must be rejected."""
from fractions import Fraction

import pytest

from kinkcheck.harness.core.device import placement as make_placement
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.oracles.inactivity import standard_normal, torch_default
from kinkcheck.strategies.initializations import InitCase
from tests.broken import nonconvergence as broken
from kinkcheck.theorems.test_nonconvergence_depth import check_sign_event_frequencies
from kinkcheck.theorems.test_nonconvergence_width import check_inactivity_frequencies
from tests.conftest import optimizer_args

PLACEMENT = make_placement()
F = Fraction


def _case(law, lo, hi):
    return InitCase(law, tuple(F(a) for a in lo), tuple(F(b) for b in hi))


CASES = [_case(torch_default(1), [-1], [1]), _case(torch_default(2), [0, -1], [1, 1]),
         _case(standard_normal(), [0], [1])]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_correct_components_pass(case):
    check_inactivity_frequencies(case, 4, PLACEMENT, seed=7)


@pytest.mark.parametrize("sampler", [broken.sampler_unsigned_bias, broken.sampler_fan_in_scale])
def test_t5_rejects_wrong_sampler(sampler):
    with pytest.raises(AssertionError, match="inconsistent"):
        check_inactivity_frequencies(_case(torch_default(2), [0, -1], [1, 1]), 4, PLACEMENT, seed=7, sampler=sampler)


@pytest.mark.parametrize("case", CASES[:2], ids=str)
def test_t5_rejects_inactivity_test_off_by_the_boundary(case):
    with pytest.raises(AssertionError, match="inconsistent"):
        check_inactivity_frequencies(case, 4, PLACEMENT, seed=7, inactive=broken.inactive_at_lower_corner)


def test_t5_rejects_wrong_exponent():
    with pytest.raises(AssertionError, match="networks with an inactive neuron"):
        check_inactivity_frequencies(CASES[0], 4, PLACEMENT, seed=7, any_inactive=broken.any_inactive_wrong_exponent)


def _deep(widths, seed=3):
    return Network.random(widths, 1 << 15, generator=PLACEMENT.generator(seed), dtype=PLACEMENT.dtype)


def test_t6_sign_event_formula_passes_and_wrong_exponent_rejected():
    net = _deep([1, 2, 2, 1, 2, 1])
    check_sign_event_frequencies(net)
    with pytest.raises(AssertionError, match="inconsistent"):
        check_sign_event_frequencies(net, sign_probability=broken.sign_probability_wrong_exponent)


T9 = ("test_adam_nonvanishing_lr.py",)


def test_t9_rejects_hidden_decay_adam_and_accepts_torch_adam(run_suite):
    """One run, one row per subject: the hidden-decay Adam FAILs T9, torch.optim.Adam has no FAIL or ERROR cell."""
    broken, correct = "adam=tests.broken.nonconvergence:HiddenDecayAdam", "adam=torch.optim:Adam"
    r = run_suite(*optimizer_args(broken, correct), "-k", "subject", modules=T9)
    assert r.ret == 1, r.text[-3000:]
    wrong = r.verdicts({broken: {"T9"}}, accepted=[correct])
    assert not wrong, "\n".join(wrong) + "\n" + r.text[-3000:]
