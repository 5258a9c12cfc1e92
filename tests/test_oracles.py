"""Self-tests of kinkcheck.harness.oracles.inactivity: anchors, an independent sympy integration, and mpmath
quadrature."""
from scipy.integrate import dblquad, nquad
from scipy.stats import norm
import pytest
import sympy as sp

from kinkcheck.harness.oracles.inactivity import (dead_layer_lower_bound, inactivity_probability,
                                                  sign_event_probability, standard_normal, torch_default, uniform)


@pytest.mark.parametrize("law", [standard_normal(), torch_default(1)], ids=str)
def test_anchors(law):
    assert inactivity_probability(law, [0], [1]) == sp.Rational(3, 8)
    assert inactivity_probability(law, [-1], [1]) == sp.Rational(1, 4)


@pytest.mark.parametrize("lo,hi", [(-1, 1), (0, 1), (sp.Rational(-1, 4), sp.Rational(3, 4)), (sp.Rational(1, 2), 1)])
@pytest.mark.parametrize("s,t", [(1, 1), (sp.Rational(1, 2), 2), (2, sp.Rational(1, 2))])
def test_uniform_d1_against_direct_integration(lo, hi, s, t):
    """Independent derivation: integrate the bias CDF over the weight density with sympy."""
    w = sp.Symbol("w", real=True)
    s, t = sp.nsimplify(s), sp.nsimplify(t)
    m = sp.Max(w * lo, w * hi)
    cdf = sp.Min(sp.Max((t - m) / (2 * t), 0), 1)  # P(B <= -m), B ~ U(-t, t)
    direct = sp.integrate(sp.piecewise_fold(cdf.rewrite(sp.Piecewise)), (w, -s, s)) / (2 * s)
    assert sp.simplify(direct - inactivity_probability(uniform(s, t), [lo], [hi])) == 0


@pytest.mark.parametrize("lo,hi", [([0, -1], [1, 1]), ([-1, sp.Rational(1, 4)], [sp.Rational(1, 2), 1])])
def test_normal_d2_against_quadrature(lo, hi):
    """Independent numeric check (scipy quadrature, 1e-8) of the orthant closed form."""
    lo_f, hi_f = [float(a) for a in lo], [float(b) for b in hi]

    def f(w2, w1):
        m = max(w1 * lo_f[0], w1 * hi_f[0]) + max(w2 * lo_f[1], w2 * hi_f[1])
        return norm.pdf(w1) * norm.pdf(w2) * norm.cdf(-m)
    numeric = sum(dblquad(f, a, b, c, e, epsabs=1e-11)[0]
                  for a, b in ((-9, 0), (0, 9)) for c, e in ((-9, 0), (0, 9)))
    assert abs(numeric - float(inactivity_probability(standard_normal(), lo, hi))) < 1e-8


def test_uniform_d3_against_quadrature():
    law, lo, hi = torch_default(3), [0, -1, sp.Rational(1, 2)], [1, 1, 1]
    s = float(law.weight_scale)

    def f(w3, w2, w1):
        m = sum(max(w * float(a), w * float(b)) for w, a, b in zip((w1, w2, w3), lo, hi))
        return min(max((s - m) / (2 * s), 0.0), 1.0)
    numeric = nquad(f, [[-s, s]] * 3, opts={"points": [0.0], "epsabs": 1e-7})[0] / (2 * s) ** 3
    assert abs(numeric - float(inactivity_probability(law, lo, hi))) < 1e-5


def test_sign_event_and_depth_bound():
    assert sign_event_probability(2, 2) == sp.Rational(1, 64)
    assert dead_layer_lower_bound([2, 2]) == sp.Rational(1, 64)
    assert dead_layer_lower_bound([2, 2, 2]) == 1 - sp.Rational(63, 64) ** 2
