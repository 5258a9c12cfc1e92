"""Mutation self-tests for T14 (theorems/test_nonsmooth_rates.py): each broken subject is rejected by the
property written for it; torch.optim.SGD passes."""
import pytest

from tests.conftest import optimizer_args

B = "tests.broken.nonsmooth_rates"
MODULE = "test_nonsmooth_rates.py"

CASES = [
    ("SGDFloat32Update", "test_capture_after_a_late_starting_monotone_norm"),
    ("SGDCapsLr", "test_worst_case_family_needs_inverse_eps_squared"),
    ("SGDIgnoresLrChanges", "test_monotone_loss_without_capture"),
]


def test_broken_subjects_are_rejected_by_their_property_and_torch_sgd_passes(run_suite):
    """One run, one row per subject: each broken SGD FAILs T14 in the property written for it; torch.optim.SGD
    has no FAIL or ERROR cell."""
    broken = {f"sgd={B}:{attr}": test for attr, test in CASES}
    r = run_suite(*optimizer_args(*broken, "sgd=torch.optim:SGD"), "-m", "not slow", modules=(MODULE,))
    assert r.ret == 1, r.text[-3000:]
    wrong = r.verdicts({spec: {"T14"} for spec in broken}, accepted=["sgd=torch.optim:SGD"])
    wrong += [f"{spec}: escaped {test} (failing: {sorted(r.failing_tests(spec))})" for spec, test in broken.items()
              if test not in r.failing_tests(spec)]
    assert not wrong, "\n".join(wrong) + "\n" + r.text[-3000:]


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
