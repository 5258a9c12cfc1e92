"""Statistical decisions with a stated false-alarm rate: exact binomial tests and bounds.

Every assertion here is an *exact* test (binomial tail probabilities from ``scipy.stats.binom``,
no normal approximation): under the null hypothesis it raises with probability at most
``alpha`` (default ``ALPHA = 1e-6``). The two-sided test is equal-tailed (``alpha/2`` per tail),
so that its power can be computed exactly by ``power``/``sample_size_for_power``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom, binomtest

ALPHA = 1e-6  # the suite's false-alarm rate per statistical assertion (DESIGN.md)


def _check(successes: int, n: int, p: float) -> None:
    if not (0 <= successes <= n and n > 0):
        raise ValueError(f"need 0 <= successes <= n, n > 0; got {successes}, {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} outside [0, 1]")


def lower_tail(successes: int, n: int, p: float) -> float:
    """P(X <= successes), X ~ Bin(n, p)."""
    return float(binom.cdf(successes, n, p))


def upper_tail(successes: int, n: int, p: float) -> float:
    """P(X >= successes), X ~ Bin(n, p)."""
    return float(binom.sf(successes - 1, n, p))


def clopper_pearson(successes: int, n: int, confidence: float = 1 - ALPHA) -> tuple[float, float]:
    """Exact (Clopper–Pearson) two-sided confidence interval for a binomial proportion."""
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def _describe(successes, n, what):
    lo, hi = clopper_pearson(successes, n, 0.999)
    return (f"{what}: {successes}/{n} = {successes / n:.6g} "
            f"(99.9% Clopper–Pearson [{lo:.6g}, {hi:.6g}])")


def assert_binomial_consistent(successes: int, n: int, p: float, alpha: float = ALPHA,
                               what: str = "frequency") -> float:
    """Exact equal-tailed test of H0: the success probability is ``p``. Raises AssertionError
    (false alarm <= alpha under H0) when either tail probability is below alpha/2. Returns the
    two-sided p-value (2 * smaller tail, capped at 1)."""
    _check(successes, n, p)
    tail = min(lower_tail(successes, n, p), upper_tail(successes, n, p))
    pvalue = min(1.0, 2 * tail)
    assert tail >= alpha / 2, (f"{_describe(successes, n, what)} is inconsistent with the exact "
                               f"probability {p:.6g} (exact binomial test, p-value {pvalue:.3g} "
                               f"< false-alarm rate {alpha:g})")
    return pvalue


def assert_at_most(successes: int, n: int, p_bound: float, alpha: float = ALPHA,
                   what: str = "frequency") -> float:
    """One-sided exact test of H0: probability <= p_bound. Raises when P(X >= k | p_bound) < alpha
    (false alarm <= alpha for every probability <= p_bound). Returns that tail."""
    _check(successes, n, p_bound)
    tail = upper_tail(successes, n, p_bound)
    assert tail >= alpha, (f"{_describe(successes, n, what)} exceeds the bound {p_bound:.6g} "
                           f"(one-sided exact binomial test, p-value {tail:.3g} < {alpha:g})")
    return tail


def assert_at_least(successes: int, n: int, p_bound: float, alpha: float = ALPHA,
                    what: str = "frequency") -> float:
    """One-sided exact test of H0: probability >= p_bound. Raises when P(X <= k | p_bound) < alpha."""
    _check(successes, n, p_bound)
    tail = lower_tail(successes, n, p_bound)
    assert tail >= alpha, (f"{_describe(successes, n, what)} falls below the bound {p_bound:.6g} "
                           f"(one-sided exact binomial test, p-value {tail:.3g} < {alpha:g})")
    return tail


# ----------------------------------------------------------------------------- power

def _critical(n, p0, alpha, alternative):
    """Rejection thresholds of the exact test at sample sizes n (numpy array)."""
    n = np.asarray(n)
    if alternative == "greater":  # reject when X >= k_hi: smallest k with P(X >= k | p0) <= alpha
        return binom.isf(alpha, n, p0) + 1, None
    if alternative == "less":  # reject when X <= k_lo: largest k with P(X <= k | p0) <= alpha
        return None, binom.ppf(alpha, n, p0) - 1
    if alternative == "two-sided":
        return binom.isf(alpha / 2, n, p0) + 1, binom.ppf(alpha / 2, n, p0) - 1
    raise ValueError(alternative)


def _fix_lo(k_lo, n, p0, alpha):
    # binom.ppf returns the smallest k with cdf >= q; the largest k with cdf <= q may be that one
    k_lo = np.asarray(k_lo, dtype=float)
    ok = binom.cdf(k_lo + 1, n, p0) <= alpha
    return np.where(ok, k_lo + 1, k_lo)


def power(n, p0: float, p1: float, alpha: float = ALPHA, alternative: str = "two-sided"):
    """Exact probability that the test of H0: p = p0 (as in the assert_* functions) rejects when
    the true probability is p1, at sample size(s) n."""
    n = np.asarray(n)
    k_hi, k_lo = _critical(n, p0, alpha, alternative)
    total = np.zeros(np.shape(n))
    a = alpha if alternative != "two-sided" else alpha / 2
    if k_hi is not None:
        total = total + binom.sf(k_hi - 1, n, p1)
    if k_lo is not None:
        total = total + binom.cdf(_fix_lo(k_lo, n, p0, a), n, p1)
    return total


def sample_size_for_power(p0: float, p1: float, alpha: float = ALPHA, target: float = 0.99,
                          alternative: str = "two-sided", n_max: int = 10**8) -> int:
    """Smallest n at which the exact test of H0: p = p0 rejects with probability >= target when the
    truth is p1 (the power of an exact test saw-tooths in n; this is the first n that reaches it)."""
    if p0 == p1:
        raise ValueError("p1 must differ from p0")
    n = 8
    while float(power(n, p0, p1, alpha, alternative)) < target:
        n *= 2
        if n > n_max:
            raise ValueError(f"no n <= {n_max} gives power {target}")
    lo = max(1, n // 2)
    grid = np.arange(lo, n + 1)
    ok = power(grid, p0, p1, alpha, alternative) >= target
    return int(grid[np.argmax(ok)])


def detectable_deviation(n: int, p0: float, alpha: float = ALPHA, target: float = 0.99) -> float:
    """Smallest |p1 - p0| (over both sides, 1e-4 resolution) that the two-sided test at sample size
    n detects with probability >= target: the sensitivity a property states for its sample size."""
    best = math.inf
    for sign in (+1, -1):
        lo, hi = 0.0, (1 - p0) if sign > 0 else p0
        if hi <= 0 or float(power(n, p0, p0 + sign * hi, alpha)) < target:
            continue
        for _ in range(40):
            mid = (lo + hi) / 2
            if float(power(n, p0, p0 + sign * mid, alpha)) >= target:
                hi = mid
            else:
                lo = mid
        best = min(best, hi)
    return best
