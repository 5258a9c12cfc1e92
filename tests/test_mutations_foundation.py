"""Mutation self-tests for T1-T3: broken subjects are rejected with the right theorem named,
correct subjects pass. Each case runs the theorem modules in a fresh interpreter (ci profile)."""
import pytest

T1 = ("test_relu_convention.py",)
T2 = ("test_inactive_neuron_invariance.py",)
T3 = ("test_frozen_coordinates.py",)


@pytest.mark.parametrize("activation", ["clamp_relu", "maximum_relu", "ge_relu", "leaky_relu_1e6"])
def test_broken_activation_is_rejected_by_t1_and_t2(run_suite, activation):
    run = run_suite("--activation", f"tests.broken.activations:{activation}",
                    "--optimizer", "sgd=torch.optim:SGD", modules=T1 + T2)
    assert run.ret == 1, run.text[-3000:]
    assert {"T1", "T2"} <= run.failed_theorems(), run.text[-3000:]


def test_clamp_relu_is_rejected_by_the_smooth_limit_alone(run_suite):
    """T1(b) on its own (not only the pointwise check) catches derivative 1 at the kink."""
    run = run_suite("--activation", "tests.broken.activations:clamp_relu",
                    "-k", "limit_of_smooth_gradients", modules=T1)
    assert run.ret == 1 and "T1" in run.failed_theorems(), run.text[-3000:]


@pytest.mark.parametrize("spec", [
    "sgd=tests.broken.optimizers:HiddenDecaySGD",
    "adam=tests.broken.optimizers:NoisyAdam",
    "momentum=tests.broken.optimizers:OnesBufferMomentum",
    "generic=tests.broken.optimizers:SignPlusOneSGD",
    "sgd=tests.broken.optimizers:CenteredSGD",
    "adam=tests.broken.optimizers:ZeroOverZeroAdam",
])
def test_broken_optimizer_is_rejected_by_t2_and_t3(run_suite, spec):
    run = run_suite("--optimizer", spec, modules=T2 + T3)
    assert run.ret == 1, run.text[-3000:]
    assert {"T2", "T3"} <= run.failed_theorems(), run.text[-3000:]


def test_non_finite_parameters_name_the_subject_and_theorem(run_suite):
    run = run_suite("--optimizer", "adam=tests.broken.optimizers:ZeroOverZeroAdam", modules=T3)
    assert "optimizer adam=tests.broken.optimizers:ZeroOverZeroAdam" in run.text
    assert "produced non-finite parameters" in run.text and "in T3" in run.text


@pytest.mark.parametrize("specs", [
    ("sgd=tests.broken.optimizers:CorrectSGD",),
    ("adam=torch.optim:Adam", "generic=torch.optim:Rprop"),
    ("momentum=torch.optim:SGD", "nesterov=torch.optim:SGD", "amsgrad=torch.optim:Adam"),
])
def test_correct_optimizers_pass(run_suite, specs):
    args = [a for s in specs for a in ("--optimizer", s)]
    run = run_suite(*args, modules=T2 + T3)
    assert run.ret == 0, run.text[-3000:]
    assert not run.failed_theorems()
