"""Mutation self-tests for T10-T14: each broken subject is rejected, torch.optim passes.

The subjects of one theorem module run in one suite run (one row of the table each): each broken subject must
FAIL its theorem's cell, and the property written for it where it has one; torch.optim must have no FAIL or
ERROR cell."""
import pytest

from tests.conftest import optimizer_args

B = "tests.broken.nonsmooth"

CASES = [
    ("sgd", "SGDWrongStep", "test_lasso_ndgm_oscillation.py", "T10"),
    ("sgd", "SGDSignZeroPlus", "test_lasso_ndgm_oscillation.py", "T10"),
    ("sgd", "SGDWrongStep", "test_edge_of_stability.py", "T13"),
    ("sgd", "SGDWrongStep", "test_nonsmooth_rates.py", "T14"),
    ("momentum", "MomentumResetAtZero", "test_lasso_variants.py", "T11"),
    ("adam", "AdamNoSecondBiasCorrection", "test_lasso_variants.py", "T11"),
    ("rmsprop", "RMSpropHiddenMomentum", "test_lasso_variants.py", "T11"),
    ("rmsprop", "RMSpropBiasCorrected", "test_rmsprop_lambda_invariance.py", "T12"),
    ("rmsprop", "RMSpropHiddenEps", "test_rmsprop_lambda_invariance.py", "T12"),
    ("rmsprop", "RMSpropSnapToZero", "test_rmsprop_lambda_invariance.py", "T12"),
    ("sgd", "SGDTripleStep", "test_edge_of_stability.py", "T13"),
    ("sgd", "SGDRidgeDrift", "test_lasso_ndgm_oscillation.py", "T10"),
]

# the new claims, one property each: the broken subject fails that property (not only its module). The
# snap-to-zero sparsifier's property is the closed form (every case reaches |b| < lr/64 there); the phase
# transition's 3 derandomized examples reach it only on some draws (they did before examples were keyed per
# subject, and did not after), so it is not listed as that bug's tooth.
TARGETED = [
    ("rmsprop", "RMSpropSnapToZero", "test_rmsprop_lambda_invariance.py", "test_rmsprop_closed_form"),
    ("sgd", "SGDTripleStep", "test_edge_of_stability.py", "test_sharpness_along_the_trajectory"),
    ("sgd", "SGDRidgeDrift", "test_lasso_ndgm_oscillation.py", "test_ridge_variant"),
    ("momentum", "MomentumResetAtZero", "test_lasso_variants.py", "test_momentum_jumps_off_zero"),
]

CORRECT = [
    ("sgd", "SGD", "test_lasso_ndgm_oscillation.py"),
    ("momentum", "SGD", "test_lasso_variants.py"),
    ("adam", "Adam", "test_lasso_variants.py"),
    ("rmsprop", "RMSprop", "test_rmsprop_lambda_invariance.py"),
    ("sgd", "SGD", "test_edge_of_stability.py"),
    ("sgd", "SGD", "test_nonsmooth_rates.py"),
]

MODULES = sorted({c[2] for c in CASES + TARGETED + CORRECT})


@pytest.mark.parametrize("module", MODULES)
def test_broken_subjects_are_rejected_and_torch_optim_passes(run_suite, module):
    rejected = {}
    for family, attr, m, theorem in CASES:
        if m == module:
            rejected.setdefault(f"{family}={B}:{attr}", set()).add(theorem)
    accepted = [f"{family}=torch.optim:{cls}" for family, cls, m in CORRECT if m == module]
    r = run_suite(*optimizer_args(*rejected, *accepted), modules=(module,))
    assert r.ret == 1, r.text[-3000:]
    wrong = r.verdicts(rejected, accepted=accepted)
    for family, attr, m, test in TARGETED:
        spec = f"{family}={B}:{attr}"
        if m == module and test not in r.failing_tests(spec):
            wrong.append(f"{spec}: escaped {test} (failing: {sorted(r.failing_tests(spec))})")
    assert not wrong, "\n".join(wrong) + "\n" + r.text[-3000:]


def test_every_targeted_subject_is_run_with_its_module():
    """TARGETED is checked inside the run of its module, so each of its subjects must be one of CASES there."""
    assert {(f, a, m) for f, a, m, _ in TARGETED} <= {(f, a, m) for f, a, m, _ in CASES}
