"""Mutation self-tests for T4's usage axes (theorems/test_usage_contract.py, issue #20 items 1 and 5): each
deliberately wrong optimizer of tests/broken/contract_axes.py is rejected with T4 named, and the correct
from-scratch optimizers of tests/reference_impls.py are accepted -- all in one run, one row per subject."""
from tests.conftest import optimizer_args

MODULES = ("test_usage_contract.py", "test_reference_recursions.py")
BROKEN = "tests.broken.contract_axes"
WRONG = [f"{fam}={BROKEN}:{cls}" for fam, cls in [
    ("adam", "RealOnlyComplexAdam"),  # complex parameters
    ("adam", "AliasingTensorAdam"),  # tensor hyperparameters: the user's tensor changes
    ("adam", "LrReadOnceAdam"),  # tensor hyperparameters: lr read once
    ("adagrad", "LateGroupDefaultAccumulatorAdagrad"),  # add_param_group + constructor-only value
    ("adam", "FlattenedGroupAdam"),  # a whole group without gradients at a step
    ("adam", "StaleEpsAndDecayAdam"),  # eps / weight_decay rewritten in param_groups
    ("asgd", "AveragesFromTheStartASGD"),  # public state: ASGD's ax
    ("adam", "DetachedDifferentiableAdam"),  # differentiable=True
    ("adam", "BetasReadOnceAdam"),  # tensor betas: read once, an in-place rewrite never seen
    ("adam", "TensorDecayIgnoredAdam"),  # tensor weight_decay ignored
    ("asgd", "UndecayedPublicEtaASGD"),  # public state: ASGD's eta
    ("adam", "LateGroupGlobalStepAdam"),  # step count of a group added by add_param_group
    ("momentum", "FirstBufferDetachedMomentum"),  # differentiable=True through every step
    ("nesterov", "FirstBufferDetachedNesterov"),  # differentiable=True: the derivative's value
]]
CORRECT = [f"{fam}=tests.reference_impls:{cls}" for fam, cls in [("adam", "Adam"), ("adagrad", "Adagrad"),
                                                                   ("asgd", "ASGD"), ("nesterov", "SGD"),
                                                                   ("momentum", "SGD")]]


def test_t4_rejects_a_bug_on_each_usage_axis_and_accepts_the_correct_ones(run_suite):
    r = run_suite(*optimizer_args(*WRONG, *CORRECT), "-k", "usage or aliased or differentiable or follow_the_family",
                  modules=MODULES)
    assert r.ret == 1, r.text[-3000:]
    wrong = r.verdicts({spec: {"T4"} for spec in WRONG}, accepted=CORRECT)
    assert not wrong, "\n".join(wrong) + "\n" + r.text[-3000:]
    for spec in WRONG:
        text = r.failure_text(spec)
        assert "T4" in text, f"{spec}: its failure does not name T4:\n{text[-1500:]}"


def test_t4_rejects_state_kept_in_the_first_parameters_dtype(run_suite):
    """The mixed-dtype tooth shows only on the draws that put a float32 parameter before a float64 one without
    tensor hyperparameters (the two are drawn apart): the thorough budget, on the one test that can see it."""
    spec = f"adam={BROKEN}:FirstDtypeStateAdam"
    r = run_suite("--optimizer", spec, "-k", "usage_axes", modules=MODULES[:1], profile="kinkcheck-selftest-thorough")
    assert r.ret == 1, r.text[-3000:]
    assert "T4" in r.failed_theorems(spec), r.text[-3000:]
