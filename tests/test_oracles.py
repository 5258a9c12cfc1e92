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

    (a1, a2, a3), (b1, b2, b3) = map(float, lo), map(float, hi)  # floats once: nquad calls f ~10^6 times

    def f(w3, w2, w1):
        m = max(w1 * a1, w1 * b1) + max(w2 * a2, w2 * b2) + max(w3 * a3, w3 * b3)
        return min(max((s - m) / (2 * s), 0.0), 1.0)
    numeric = nquad(f, [[-s, s]] * 3, opts={"points": [0.0], "epsabs": 1e-7})[0] / (2 * s) ** 3
    assert abs(numeric - float(inactivity_probability(law, lo, hi))) < 1e-5


def test_sign_event_and_depth_bound():
    assert sign_event_probability(2, 2) == sp.Rational(1, 64)
    assert dead_layer_lower_bound([2, 2]) == sp.Rational(1, 64)
    assert dead_layer_lower_bound([2, 2, 2]) == 1 - sp.Rational(63, 64) ** 2


# ---------------------------------------------------------------------- T4's per-step rounding bounds
@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16", "float32"])
def test_bounded_covers_an_adam_step_evaluated_in_the_dtype(dtype_name):
    """``recursions.Bounded`` (running error analysis) bounds the deviation of an Adam step evaluated
    operation by operation in a low precision (every intermediate rounded to the dtype, scalars too) from
    the exact step, on every coordinate of 20 random cases -- including momentum buffers that cancel to
    near 0 and float16 quantities in the subnormal range."""
    import torch

    from kinkcheck.harness.oracles.recursions import Bounded, rounding

    dtype = getattr(torch, dtype_name)
    info = torch.finfo(dtype)
    u, eta = info.eps / 2, info.tiny * info.eps / 2
    gen = torch.Generator().manual_seed(20)
    for _ in range(20):
        theta, m, g = ((torch.randn(257, generator=gen, dtype=torch.float64) * s).to(dtype) for s in (0.01, 1, 2))
        v = (torch.rand(257, generator=gen, dtype=torch.float64) * 4).to(dtype)
        g[::7] = (-0.9 / 0.1 * m[::7].double()).to(dtype)  # b1 m + (1 - b1) g cancels to about 0
        b1, b2, lr, eps, t = 0.9, 0.999, 1e-2, 1e-3, 3

        def r(x):
            return torch.as_tensor(x, dtype=torch.float64).to(dtype)

        def step(theta, m, v, g, dt):  # each operation rounded to dt (scalars as well)
            c = (lambda x: x) if dt is None else r
            m2 = c(c(c(b1) * m) + c(c(1 - b1) * g))
            v2 = c(c(c(b2) * v) + c(c(c(1 - b2) * g) * g))
            m_hat = c(m2 / c(1 - b1 ** t))
            den = c(c(torch.sqrt(c(v2 / c(1 - b2 ** t)))) + c(eps))
            return c(theta - c(c(c(lr) * m_hat) / den))

        sub = step(theta, m, v, g, dtype).double()
        with rounding(u, u, eta):
            b = step(Bounded(theta.double()), Bounded(m.double()), Bounded(v.double()), Bounded(g.double()), None)
        assert bool(((sub - b.x).abs() <= b.e).all()), float(((sub - b.x).abs() / b.e).max())
