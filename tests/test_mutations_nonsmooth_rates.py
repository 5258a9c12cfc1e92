"""Mutation self-tests for T14 (theorems/test_nonsmooth_rates.py): each broken subject is rejected by the
property written for it; torch.optim.SGD passes."""
import re

import pytest

B = "tests.broken.nonsmooth_rates"
MODULE = "test_nonsmooth_rates.py"

CASES = [
    ("SGDFloat32Update", "test_capture_after_a_late_starting_monotone_norm"),
    ("SGDCapsLr", "test_worst_case_family_needs_inverse_eps_squared"),
    ("SGDIgnoresLrChanges", "test_monotone_loss_without_capture"),
]


def _failed_tests(text):
    return set(re.findall(r"FAILED \S*::(\w+)", text))


@pytest.mark.parametrize("attr,test", CASES, ids=[c[0] for c in CASES])
def test_broken_subject_is_rejected(run_suite, attr, test):
    r = run_suite("--optimizer", f"sgd={B}:{attr}", "-m", "not slow", "-rf", modules=(MODULE,))
    assert r.ret != 0 and "T14" in r.failed_theorems(), r.text[-3000:]
    assert test in _failed_tests(r.text), (sorted(_failed_tests(r.text)), r.text[-3000:])


def test_torch_sgd_passes(run_suite):
    r = run_suite("--optimizer", "sgd=torch.optim:SGD", "-m", "not slow", modules=(MODULE,))
    assert r.ret == 0, r.text[-3000:]


def test_paper_experiment_check_rejects_an_sgd_that_ignores_lr_changes():
    """The slow [CUT] Sec A.1.3 regression is suite-level (the paper's own optim.SGD); its check rejects the
    same experiment run with an SGD that ignores the appendix's lr decay (it diverges: stopped at the first
    non-finite loss)."""
    from kinkcheck.harness.experiments.cut_regression import run_paper
    from kinkcheck.theorems.test_nonsmooth_rates import _check_paper_run
    from tests.broken.nonsmooth_rates import SGDIgnoresLrChanges

    run = run_paper(SGDIgnoresLrChanges)
    assert len(run.losses) < 6000
    with pytest.raises(AssertionError, match="T14"):
        _check_paper_run(run)
