"""Mutation self-tests for T1-T3: broken subjects are rejected with the right theorem named,
correct subjects pass. Each case runs the theorem modules in a fresh interpreter (ci profile)."""
import pytest

from tests.conftest import optimizer_args

T1 = ("test_relu_convention.py",)
T2 = ("test_inactive_neuron_invariance.py",)
T3 = ("test_frozen_coordinates.py",)


@pytest.mark.parametrize("activation", ["clamp_relu", "maximum_relu", "ge_relu", "leaky_relu_1e6"])
def test_broken_activation_is_rejected_by_t1_and_t2(run_suite, activation):
    """Each is wrong at the kink on contiguous eager tensors. Its compiled form is left out (about 10 s of
    compilation per run): the compile axis has its own broken activation below."""
    run = run_suite("--activation", f"tests.broken.activations:{activation}", "-k", "not under_torch_compile",
                    "--optimizer", "sgd=torch.optim:SGD", modules=T1 + T2)
    assert run.ret == 1, run.text[-3000:]
    assert {"T1", "T2"} <= run.failed_theorems(), run.text[-3000:]


def test_clamp_relu_is_rejected_by_the_smooth_limit_alone(run_suite):
    """T1(b) on its own (not only the pointwise check) catches derivative 1 at the kink."""
    run = run_suite("--activation", "tests.broken.activations:clamp_relu",
                    "-k", "limit_of_smooth_gradients", modules=T1)
    assert run.ret == 1 and "T1" in run.failed_theorems(), run.text[-3000:]


BROKEN_OPTIMIZERS = [
    "sgd=tests.broken.optimizers:HiddenDecaySGD",
    "adam=tests.broken.optimizers:NoisyAdam",
    "momentum=tests.broken.optimizers:OnesBufferMomentum",
    "generic=tests.broken.optimizers:SignPlusOneSGD",
    "sgd=tests.broken.optimizers:CenteredSGD",
    "adam=tests.broken.optimizers:ZeroOverZeroAdam",
]
CORRECT_OPTIMIZERS = ["sgd=tests.broken.optimizers:CorrectSGD", "adam=torch.optim:Adam", "generic=torch.optim:Rprop",
                      "momentum=torch.optim:SGD", "nesterov=torch.optim:SGD", "amsgrad=torch.optim:Adam"]


def test_broken_optimizers_are_rejected_by_t2_and_t3_and_correct_ones_pass(run_suite):
    """One run, one row per subject: each broken optimizer FAILs both T2 and T3, each correct one has no
    FAIL or ERROR cell, and the non-finite parameters of ZeroOverZeroAdam are reported with its label and T3."""
    run = run_suite(*optimizer_args(*BROKEN_OPTIMIZERS, *CORRECT_OPTIMIZERS), modules=T2 + T3)
    assert run.ret == 1, run.text[-3000:]
    wrong = run.verdicts({spec: {"T2", "T3"} for spec in BROKEN_OPTIMIZERS}, accepted=CORRECT_OPTIMIZERS)
    assert not wrong, "\n".join(wrong) + "\n" + run.text[-3000:]
    zero_over_zero = run.failure_text("adam=tests.broken.optimizers:ZeroOverZeroAdam")
    assert "optimizer adam=tests.broken.optimizers:ZeroOverZeroAdam" in zero_over_zero, run.text[-3000:]
    assert "produced non-finite parameters" in zero_over_zero and "in T3" in zero_over_zero, zero_over_zero[-3000:]


# --- the activation contract's axes (#11 items 2 and 5): each broken activation is right on contiguous eager
# tensors, so the pointwise and smooth-limit checks pass it; only the axis it names rejects it.
EAGER_CONTIGUOUS = "indicator_of_x_positive or limit_of_smooth_gradients"


@pytest.mark.parametrize("activation, axis", [
    ("strided_fallback_relu", "every_memory_layout_and_size"),
    ("autocast_fused_relu", "inside_autocast"),
    ("compile_friendly_relu", "under_torch_compile"),
])
def test_activation_wrong_on_one_axis_is_rejected_by_that_axis_only(run_suite, activation, axis):
    spec = f"tests.broken.activations:{activation}"
    caught = run_suite("--activation", spec, "-k", axis, modules=T1)
    assert caught.ret == 1 and caught.failed_theorems() == {"T1"}, caught.text[-3000:]
    assert "T1 (" in caught.text, caught.text[-3000:]  # the axis's own assertion message
    missed = run_suite("--activation", spec, "-k", EAGER_CONTIGUOUS, modules=T1)
    assert missed.ret == 0, missed.text[-3000:]


def test_kink_in_a_block_tail_is_rejected_by_the_size_axis(run_suite):
    """A kernel whose scalar remainder loop differs is caught by the sizes around 8/16/32/64 (the
    pointwise test may catch it too when Hypothesis puts a zero in the tail)."""
    run = run_suite("--activation", "tests.broken.activations:blocked_tail_relu",
                    "-k", "every_memory_layout_and_size", modules=T1)
    assert run.ret == 1 and run.failed_theorems() == {"T1"}, run.text[-3000:]


def test_correct_from_scratch_activation_passes_every_axis(run_suite):
    run = run_suite("--activation", "tests.broken.activations:where_relu", modules=T1)
    assert run.ret == 0, run.text[-3000:]
