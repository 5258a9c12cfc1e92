"""Mutation self-tests for T10-T14: each broken subject is rejected, torch.optim passes."""
import pytest

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


@pytest.mark.parametrize("family,attr,module,theorem", CASES, ids=[f"{c[1]}-{c[3]}" for c in CASES])
def test_broken_subject_is_rejected(run_suite, family, attr, module, theorem):
    r = run_suite("--optimizer", f"{family}={B}:{attr}", modules=(module,))
    assert r.ret != 0 and theorem in r.failed_theorems(), r.text[-3000:]


# the new claims, one property each: the broken subject fails that property (not only its module)
TARGETED = [
    ("rmsprop", "RMSpropSnapToZero", "test_rmsprop_lambda_invariance.py", "test_phase_transition_ndgm_vs_rmsprop"),
    ("rmsprop", "RMSpropSnapToZero", "test_rmsprop_lambda_invariance.py", "test_rmsprop_closed_form"),
    ("sgd", "SGDTripleStep", "test_edge_of_stability.py", "test_sharpness_along_the_trajectory"),
    ("sgd", "SGDRidgeDrift", "test_lasso_ndgm_oscillation.py", "test_ridge_variant"),
    ("momentum", "MomentumResetAtZero", "test_lasso_variants.py", "test_momentum_jumps_off_zero"),
]


@pytest.mark.parametrize("family,attr,module,test", TARGETED, ids=[f"{c[1]}-{c[3]}" for c in TARGETED])
def test_broken_subject_fails_the_new_property(run_suite, family, attr, module, test):
    r = run_suite("--optimizer", f"{family}={B}:{attr}", "-k", test, modules=(module,))
    assert r.ret != 0 and test in r.text, r.text[-3000:]


@pytest.mark.parametrize("family,cls,module", [
    ("sgd", "SGD", "test_lasso_ndgm_oscillation.py"),
    ("momentum", "SGD", "test_lasso_variants.py"),
    ("adam", "Adam", "test_lasso_variants.py"),
    ("rmsprop", "RMSprop", "test_rmsprop_lambda_invariance.py"),
    ("sgd", "SGD", "test_edge_of_stability.py"),
    ("sgd", "SGD", "test_nonsmooth_rates.py"),
])
def test_torch_optim_passes(run_suite, family, cls, module):
    r = run_suite("--optimizer", f"{family}=torch.optim:{cls}", modules=(module,))
    assert r.ret == 0, r.text[-3000:]
