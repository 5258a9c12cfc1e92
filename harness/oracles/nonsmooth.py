"""Exact oracles for the non-smooth dynamics of [CUT] (THEOREMS.md T10-T14).

Written from the papers' recursions with ``fractions.Fraction`` (and mpmath for square roots);
never by calling torch.optim.

- NDGM on the toy LASSO ([CUT] eq. (15)), with the ridge term of eq. (3):
  ``b_{k+1} = (1 - 2 a l2) b_k - a l1 sign(b_k)``, sign(0) = 0;
- its 2-cycle in closed form ([CUT] Prop B.2, eq. (18));
- momentum buffers (heavy ball, [CUT] eq. (20); torch's convention buf_1 = g_1) and Adam's first
  moment ([CUT] eq. (29)) fed the subgradient signs of an observed trajectory;
- RMSProp on l1 with eps = 0, v_0 = 0 in closed form ([CUT] eq. (25)), in mpmath;
- gradient descent on the 1-D Huber loss ([CUT] eq. (10)).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import mpmath


def sign(x) -> int:
    return (x > 0) - (x < 0)


def ndgm_lasso(beta0: Sequence[Fraction], alpha: Fraction, lam: Fraction, steps: int,
               ridge: Fraction = Fraction(0)) -> list[list[Fraction]]:
    """Exact NDGM trajectory [b_0, ..., b_steps] on lam*||b||_1 + ridge*||b||_2^2."""
    q = 1 - 2 * alpha * ridge
    s = alpha * lam
    out = [list(beta0)]
    for _ in range(steps):
        out.append([q * b - s * sign(b) for b in out[-1]])
    return out


def ndgm_cycle(b0: Fraction, s: Fraction) -> tuple[int, Fraction, Fraction]:
    """[CUT] Prop B.2 / eq. (18): (K, c, c - sign(b0) s) with K = floor(|b0|/s),
    c = sign(b0)(|b0| - K s); for k >= K the coordinate alternates c, c - sign(b0) s, c, ...
    (when |b0| is a multiple of s, c = 0 and the coordinate is absorbed at 0: both entries 0)."""
    K = int(abs(b0) // s)
    c = sign(b0) * (abs(b0) - K * s)
    return K, c, (c - sign(b0) * s if c != 0 else Fraction(0))


def first_zero(b0: Fraction, s: Fraction) -> int | None:
    """The step at which NDGM's coordinate hits 0 (Prop B.1: only when |b0| is a multiple of s)."""
    K, c, _ = ndgm_cycle(b0, s)
    return K if c == 0 else None


def momentum_buffers(signs: Sequence[int], lam: Fraction, mu: Fraction, dampening: Fraction
                     ) -> list[Fraction]:
    """Heavy-ball buffers b_1..b_n fed g_k = lam * signs[k-1] (torch convention b_1 = g_1)."""
    out, buf = [], None
    for sg in signs:
        g = lam * sg
        buf = g if buf is None else mu * buf + (1 - dampening) * g
        out.append(buf)
    return out


def adam_first_moments(signs: Sequence[int], lam: Fraction, beta1: Fraction) -> list[Fraction]:
    """[CUT] eq. (29): m_k = beta1 m_{k-1} + (1 - beta1) lam sign_k, m_0 = 0; returns m_1..m_n."""
    out, m = [], Fraction(0)
    for sg in signs:
        m = beta1 * m + (1 - beta1) * lam * sg
        out.append(m)
    return out


def adam_run_formula(m_k0: Fraction, r: int, lam: Fraction, beta1: Fraction, s: int) -> Fraction:
    """[CUT] Prop B.10, eq. (34): m_{k0+r} = beta1^r m_{k0} + (1 - beta1^r) lam s."""
    return beta1 ** r * m_k0 + (1 - beta1 ** r) * lam * s


def rmsprop_l1_closed_form(beta0: Sequence[float], alpha, rho, steps: int, dps: int = 50):
    """[CUT] eq. (25) with eps = 0, v_0 = 0: b_{k+1} = b_k - alpha sign(b_k)/sqrt(1 - rho^{k+1}),
    in mpmath at ``dps`` digits (inputs converted exactly from their float values)."""
    with mpmath.workdps(dps):
        a, r = mpmath.mpf(alpha), mpmath.mpf(rho)
        cur = [mpmath.mpf(b) for b in beta0]
        out = [list(cur)]
        for k in range(steps):
            step = a / mpmath.sqrt(1 - r ** (k + 1))
            cur = [b - step * sign(b) for b in cur]
            out.append(list(cur))
    return out


def huber_grad(x: Fraction, delta: Fraction) -> Fraction:
    """h_delta'(x) = clip(x, -delta, delta) for h_delta(x) = x^2/2 (|x| <= delta), delta(|x| - delta/2)."""
    return max(-delta, min(delta, x))


def huber_orbit(x0: Fraction, delta: Fraction, eta: Fraction, steps: int) -> list[Fraction]:
    """Gradient descent x_{k+1} = x_k - eta h_delta'(x_k) on the 1-D Huber loss ([CUT] eq. (10))."""
    out = [x0]
    for _ in range(steps):
        out.append(out[-1] - eta * huber_grad(out[-1], delta))
    return out


def representable(x: Fraction) -> bool:
    """Whether x is exactly a (normal-range) float64: a dyadic with a <= 53-bit odd numerator."""
    if x == 0:
        return True
    den = x.denominator
    if den & (den - 1):
        return False
    num = abs(x.numerator)
    while num % 2 == 0:
        num //= 2
    return num.bit_length() <= 53 and Fraction(float(x)) == x
