"""Mutation self-tests of T1 (d) (theorems/test_relu_precision.py) and its harness."""
import pytest
import torch

from kinkcheck.harness.experiments.relu_precision import PrecisionCase, differing_fractions, plot_fractions
from kinkcheck.theorems.test_relu_precision import NETWORKS, check_precision_claims


@pytest.fixture(scope="module")
def case():
    return PrecisionCase.draw(7, 196, 64, 2, 60, 32)


def test_no_difference_when_both_derivatives_at_zero_are_equal(case):
    """The measurement is not an artefact: equal ReLU'(0) choices never differ, in any dtype."""
    for d in (0.0, 1.0):
        assert not any(bool(v.any()) for v in differing_fractions(case, d, d).values())


def test_difference_detected_in_float16(case):
    """ReLU'(0) = 0 vs 1 differ on some float16 case (the measurement sees the effect)."""
    assert bool(differing_fractions(case, 0.0, 1.0, (torch.float16,))[torch.float16].any())


@pytest.mark.parametrize("activation", ["clamp_relu", "ge_relu"])
def test_broken_activation_is_rejected_by_t1d(run_suite, activation):
    run = run_suite("--activation", f"tests.broken.activations:{activation}", modules=("test_relu_precision.py",))
    assert run.ret != 0 and "T1" in run.failed_theorems(), run.text[-3000:]


def test_torch_relu_passes_t1d(run_suite):
    run = run_suite(modules=("test_relu_precision.py",))
    assert run.ret == 0, run.text[-3000:]


def test_plot_is_written_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "p.png"
    assert plot_fractions({(32, 1): {"float16": 0.1, "float32": 0.0, "float64": 0.0}}, path)
    assert path.stat().st_size > 0


@pytest.fixture(scope="module")
def full_case():
    return PrecisionCase.draw(11, 196, 128, 2, NETWORKS, 32)


def test_t1d_claims_hold_for_the_measured_fractions(full_case):
    check_precision_claims(differing_fractions(full_case), "self-test")


def test_t1d_rejects_float32_not_honoured(full_case):
    """Perturbed measurement: the "float32" cases computed in float16 (a dtype not honoured). The
    ordering tests cannot see it (float16 = float32); the "about 0 in float32" assertion does."""
    differ = differing_fractions(full_case)
    differ[torch.float32] = differ[torch.float16].clone()
    with pytest.raises(AssertionError, match="float32 gradient depends on ReLU'\\(0\\)"):
        check_precision_claims(differ, "self-test")


def test_t1d_rejects_reversed_ordering(full_case):
    """Perturbed measurement: float16 and float64 swapped; the McNemar ordering test rejects."""
    differ = differing_fractions(full_case)
    differ[torch.float16], differ[torch.float64] = differ[torch.float64], differ[torch.float16]
    with pytest.raises(AssertionError, match="more frequent in the finer precision"):
        check_precision_claims(differ, "self-test")


def test_shortcut_matches_full_backprop(case):
    """differing_fractions backprops only where an exact zero occurs; full backprop agrees."""
    from kinkcheck.harness.experiments.relu_precision import relu_with_derivative_at_zero
    a, b = relu_with_derivative_at_zero(0.0), relu_with_derivative_at_zero(1.0)
    for dt in (torch.float16, torch.float32):
        assert bool((case.differ(dt, a, b) == case.differ(dt, a, b, only_at_zeros=True)).all())
