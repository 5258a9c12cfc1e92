"""Mutation self-tests of T1 (d) (theorems/test_relu_precision.py) and its harness."""
import pytest
import torch

from kinkcheck.harness.experiments.relu_precision import PrecisionCase, differing_fractions, plot_fractions


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
