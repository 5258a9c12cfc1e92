"""Self-tests of kinkcheck.harness.core.stats: exactness of the tests, power, sample sizes."""
import numpy as np
import pytest
from scipy.stats import binom

from kinkcheck.harness.core.stats import (assert_at_least, assert_at_most, assert_binomial_consistent, clopper_pearson,
                           detectable_deviation, power, sample_size_for_power)


def test_consistent_accepts_the_mean_and_rejects_far_values():
    assert_binomial_consistent(5000, 10000, 0.5)
    with pytest.raises(AssertionError):
        assert_binomial_consistent(5300, 10000, 0.5)


def test_one_sided():
    assert_at_most(100, 1000, 0.1)
    assert_at_most(0, 1000, 0.1)
    with pytest.raises(AssertionError):
        assert_at_most(200, 1000, 0.1)
    assert_at_least(1000, 1000, 0.99)
    with pytest.raises(AssertionError):
        assert_at_least(900, 1000, 0.99)


@pytest.mark.parametrize("n,p", [(50, 0.3), (200, 0.01), (1000, 0.5)])
def test_false_alarm_rate_is_at_most_alpha(n, p):
    """Exact size: sum the null probability of every count the test rejects."""
    alpha = 1e-3
    rejected = 0.0
    for k in range(n + 1):
        try:
            assert_binomial_consistent(k, n, p, alpha)
        except AssertionError:
            rejected += binom.pmf(k, n, p)
    assert rejected <= alpha


def test_power_and_sample_size():
    n = sample_size_for_power(0.5, 0.52, alpha=1e-6, target=0.99)
    assert power(n, 0.5, 0.52, 1e-6) >= 0.99
    assert 25000 < n < 45000  # normal approximation: ((5.33 + 2.33) * 0.5 / 0.02)^2 ~ 36700
    assert 0.005 < detectable_deviation(1 << 17, 0.5) < 0.011


def test_clopper_pearson_covers():
    lo, hi = clopper_pearson(30, 100, 0.95)
    assert lo < 0.3 < hi and np.isclose(hi - lo, 0.18, atol=0.03)
