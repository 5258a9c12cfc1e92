"""T1 (d) — the precision effect of [BBGP21]: how often does the choice of ReLU'(0) matter?

[BBGP21] Sec. 3-4: in exact arithmetic backprop with ReLU'(0) = 0 and with ReLU'(0) = 1 agree
almost surely, but in floating point rounding produces exact zero pre-activations, and the
fraction of (network, batch) cases whose gradients differ grows as the precision drops:
float16 >= float32 >= float64 (about 0 in float64). Networks: random MLPs (nn.Linear's default
initialisation) on MNIST-like sparse dyadic inputs generated locally (kinkcheck.harness.experiments.relu_precision).

Set KINKCHECK_FIGURES=DIR to also write the bar chart DIR/t1d_relu_precision.png (matplotlib).
"""
import os
from pathlib import Path

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.experiments.relu_precision import PRECISION_DTYPES, PrecisionCase, differing_fractions, \
    plot_fractions, relu_with_derivative_at_zero
from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.core.stats import ALPHA, assert_at_most, sample_size_for_power, upper_tail

# "About 0 in float32/float64" (README, [BBGP21] Sec. 3-4) is asserted as: at most NEAR_ZERO of the
# (network, batch) cases differ (one-sided exact binomial test, false alarm 1e-6). The sample size is
# the smallest at which that test rejects a true rate of 0.10 (float16 measures 0.07-0.56 on these
# configurations) with power 0.99: 223 cases per configuration.
NEAR_ZERO = 0.01
DIM, SAMPLES = 196, 32  # 14x14 "images"; each network has its own batch of 32
NETWORKS = sample_size_for_power(NEAR_ZERO, 0.10, ALPHA, target=0.99, alternative="greater")
# Power of each McNemar ordering test at NETWORKS pairs: it rejects for certain once the finer
# precision differs on >= 20 cases where the coarser does not and never the reverse (2^-20 < 1e-6);
# against a finer precision that differs on an extra 15% of cases that is P(Bin(223, 0.15) >= 20) = 0.997.
ACTIVATION_NETWORKS = 100  # the activation-under-test property (value for value, no statistics)
CONFIGS = [(32, 1), (32, 3), (128, 1), (128, 2)]  # (hidden width, hidden layers)
_MEASURED: dict = {}


def _name(dtype):
    return str(dtype).removeprefix("torch.")


def assert_not_more_often(coarse: torch.Tensor, fine: torch.Tensor, what: str) -> None:
    """One-sided exact McNemar test on paired cases of H0: P(differ in fine) <= P(differ in coarse).
    Conditional on the n discordant pairs, the count b of (fine differs, coarse does not) is
    Bin(n, q) with q <= 1/2 under H0, so rejecting when P(Bin(n, 1/2) >= b) < ALPHA has false-alarm
    rate <= ALPHA = 1e-6."""
    b = int((fine & ~coarse).sum())
    c = int((coarse & ~fine).sum())
    if b + c == 0:
        return
    p = upper_tail(b, b + c, 0.5)
    assert p >= ALPHA, (f"T1(d) {what}: differing cases are more frequent in the finer precision "
                        f"({b} pairs only there vs {c} only in the coarser; exact McNemar p = {p:.3g} < {ALPHA:g})")


def check_precision_claims(differ: dict, where: str) -> None:
    """The ordering float16 >= float32 >= float64 (McNemar) and float32, float64 about 0 (binomial)."""
    f16, f32, f64 = (differ[dt] for dt in PRECISION_DTYPES)
    assert_not_more_often(f16, f32, "float32 vs float16")
    assert_not_more_often(f32, f64, "float64 vs float32")
    assert_not_more_often(f16, f64, "float64 vs float16")
    for dt in PRECISION_DTYPES[1:]:
        assert_at_most(int(differ[dt].sum()), differ[dt].numel(), NEAR_ZERO, ALPHA,
                       what=f"T1(d): cases whose {_name(dt)} gradient depends on ReLU'(0) ({where})")


@pytest.mark.theorem("T1")
@pytest.mark.parametrize("width,depth", CONFIGS, ids=lambda v: str(v))
@settings(max_examples=scaled(1))
@given(seed=st.integers(0, 2**32 - 1))
def test_relu_derivative_at_zero_matters_more_in_lower_precision(placement, width, depth, seed):
    """[BBGP21] Sec. 3-4 (THEOREMS.md T1 (d)): the fraction of (network, batch) cases whose backprop
    gradients differ between ReLU'(0) = 0 and ReLU'(0) = 1 is ordered float16 >= float32 >= float64
    (paired cases, one-sided exact McNemar tests at false-alarm rate 1e-6 each, power 0.997 against a
    finer precision differing on an extra 15% of cases), and about 0 in float32 and float64: at most
    1% of the cases differ (one-sided exact binomial tests, false alarm 1e-6, power 0.99 against 10%;
    223 cases)."""
    case = PrecisionCase.draw(seed, DIM, width, depth, NETWORKS, SAMPLES, placement.device)
    differ = differing_fractions(case)
    check_precision_claims(differ, f"width {width}, depth {depth}")
    f16 = differ[torch.float16]
    fractions = {_name(dt): float(differ[dt].float().mean()) for dt in PRECISION_DTYPES}
    for dt, frac in fractions.items():
        figure(f"fraction differing {dt} (width {width}, depth {depth})", frac, keep="max")
    _MEASURED[(width, depth)] = fractions
    event(f"float16 cases differing: {'some' if bool(f16.any()) else 'none'}")
    # Non-vacuity: the regime of the theorem was reached -- in float16 some case does differ.
    assert bool(f16.any()), "no case differed even in float16: the precision effect was not exercised"
    out = os.environ.get("KINKCHECK_FIGURES")
    if out and len(_MEASURED) == len(CONFIGS):
        Path(out).mkdir(parents=True, exist_ok=True)
        plot_fractions(_MEASURED, Path(out) / "t1d_relu_precision.png")


@pytest.mark.theorem("T1")
@pytest.mark.parametrize("dtype", PRECISION_DTYPES, ids=_name)
@settings(max_examples=scaled(1))
@given(seed=st.integers(0, 2**32 - 1))
def test_activation_under_test_backprops_like_relu_prime_zero_equal_0(activation, placement, dtype, seed):
    """[GM] Lemma 4.11; [BBGP21] Sec. 2: on the precision-prone networks of T1 (d), where exact zero
    pre-activations occur (in float16), backprop through the activation under test equals backprop
    with ReLU'(0) = 0 (custom autograd.Function) for every network, value for value."""
    case = PrecisionCase.draw(seed, DIM, 64, 2, ACTIVATION_NETWORKS, SAMPLES, placement.device)
    reference = relu_with_derivative_at_zero(0.0)
    differ = case.differ(dtype, activation, reference)
    assert not bool(differ.any()), (f"T1(d): {int(differ.sum())}/{ACTIVATION_NETWORKS} networks get a different "
                                    f"{_name(dtype)} "
                                    f"gradient with {activation.name} than with ReLU'(0) = 0")
    zeros = case.exact_zeros(dtype)
    event(f"exact zero pre-activations in {_name(dtype)}: {'yes' if zeros else 'no'}")
    if dtype == torch.float16:
        assert_reached(zeros > 0, "no pre-activation was exactly 0 in float16")
