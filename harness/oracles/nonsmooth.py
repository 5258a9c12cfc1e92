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

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
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


def representable(x: Fraction, dtype=None) -> bool:
    """Whether x is exactly a normal-range float of ``dtype`` (default float64): a dyadic whose odd
    numerator has at most p bits (p = 1 - log2 ``torch.finfo(dtype).eps``: 53, 24, 11, 8) and whose
    exponent lies between the dtype's smallest normal and its largest finite value."""
    if x == 0:
        return True
    den = x.denominator
    if den & (den - 1):
        return False
    num = abs(x.numerator)
    while num % 2 == 0:
        num //= 2
    if dtype is None or str(dtype) == "torch.float64":
        return num.bit_length() <= 53 and Fraction(float(x)) == x
    import torch  # only for finfo; the oracles stay free of tensors
    fi = torch.finfo(dtype)
    bits = Fraction(fi.eps).denominator.bit_length()  # eps = 2^(1 - p): denominator 2^(p - 1)
    return num.bit_length() <= bits and Fraction(fi.tiny) <= abs(x) <= Fraction(fi.max)


# --- RMSProp on l1 in exact arithmetic, certified (Prop B.4 at paper-scale horizons) -------------
#
# With eps = 0 and v_0 = 0 the step of [CUT] eq. (25) is a_k = alpha / sqrt(1 - rho^{k+1}) whatever
# lam and whatever the coordinate, so the exact orbit is b_k = b_0 - sum_{j<k} sign(b_j) a_j: an
# integer combination of the a_j fixed by the sign pattern (eq. (26)). The a_j are irrational, so
# the orbit is represented by rigorous integer intervals at scale 2^prec (lo <= 2^prec b <= hi):
# a_j's bounds come from mpmath's interval arithmetic, the sums are exact integer arithmetic, and
# a sign is "certified" when the interval excludes 0. A coordinate whose interval contains 0 is
# recomputed at twice the precision (up to ``max_prec``); still undecided -> ExactTieUndecided.


class ExactTieUndecided(ArithmeticError):
    """The exact RMSProp orbit came within 2^-max_prec of 0: its sign is not certified."""


def _scaled_floor(raw, prec: int) -> int:
    """floor(2^prec x) for x given as a raw mpmath mpf tuple (sign, mantissa, exponent, bits), exactly
    (integer shifts of the mantissa)."""
    sign, man, exp, _ = raw
    man = -man if sign else man
    if man == 0:
        return 0
    shift = exp + prec
    return man << shift if shift >= 0 else man >> -shift  # >> floors negative mantissas too


def rmsprop_l1_step_bounds(alpha: float, rho: float, steps: int, prec: int) -> tuple[tuple[int, int], ...]:
    """((lo_k, hi_k) for k < steps) with lo_k <= 2^prec alpha / sqrt(1 - rho^{k+1}) <= hi_k, rigorous
    (mpmath.iv at prec + 32 bits; alpha, rho taken exactly from their float values).

    The bounds of step k do not depend on ``steps`` (the same interval operations in the same order),
    so they are computed once per (alpha, rho, prec) for a horizon rounded up to a power of two and
    sliced: T12's tests draw 5-2000 steps, and recomputing per horizon cost ~0.2 s a call."""
    horizon = 64
    while horizon < steps:
        horizon *= 2
    return _step_bounds_prefix(alpha, rho, horizon, prec)[:steps]


@lru_cache(maxsize=64)
def _step_bounds_prefix(alpha: float, rho: float, steps: int, prec: int) -> tuple[tuple[int, int], ...]:
    iv = mpmath.iv
    old = iv.prec
    iv.prec = prec + 32
    try:
        a, r = iv.mpf(alpha), iv.mpf(rho)
        power, out = r, []
        for _ in range(steps):
            x = a / iv.sqrt(1 - power)
            lo_raw, hi_raw = x._mpi_
            out.append((_scaled_floor(lo_raw, prec), -_scaled_floor(mpmath.libmp.mpf_neg(hi_raw), prec)))
            power = power * r
    finally:
        iv.prec = old
    return tuple(out)


@dataclass
class CertifiedOrbit:
    """b_0..b_steps of one coordinate: lo[k] <= 2^prec b_k <= hi[k]; signs[k] its certified sign
    (the driving sign pattern when the orbit was computed under a given one)."""
    prec: int
    lo: list[int]
    hi: list[int]
    signs: list[int]

    def bounds(self, k: int) -> tuple[Fraction, Fraction]:
        return Fraction(self.lo[k], 2 ** self.prec), Fraction(self.hi[k], 2 ** self.prec)

    def abs_upper(self, k: int) -> Fraction:
        return Fraction(max(abs(self.lo[k]), abs(self.hi[k])), 2 ** self.prec)

    def abs_lower(self, k: int) -> Fraction:
        """A lower bound of |b_k| (0 when the interval contains 0)."""
        if self.lo[k] > 0 or self.hi[k] < 0:
            return Fraction(min(abs(self.lo[k]), abs(self.hi[k])), 2 ** self.prec)
        return Fraction(0)


def _orbit_at(b0: float, alpha: float, rho: float, steps: int, prec: int, signs) -> CertifiedOrbit | None:
    a = rmsprop_l1_step_bounds(alpha, rho, steps, prec)
    x = Fraction(b0) * 2 ** prec
    if x.denominator != 1:
        raise ValueError(f"b0 = {b0!r} is not a multiple of 2^-{prec}")
    lo = hi = int(x)
    los, his, sg = [lo], [hi], []
    for k in range(steps):
        if signs is not None:
            s = signs[k]
        elif lo > 0:
            s = 1
        elif hi < 0:
            s = -1
        else:
            return None  # the interval contains 0: not certified at this precision
        sg.append(s)
        if s > 0:
            lo, hi = lo - a[k][1], hi - a[k][0]
        elif s < 0:
            lo, hi = lo + a[k][0], hi + a[k][1]
        los.append(lo)
        his.append(hi)
    if signs is None:
        if not (lo > 0 or hi < 0):
            return None
        sg.append(1 if lo > 0 else -1)
    else:
        sg.append(0)
    return CertifiedOrbit(prec, los, his, sg)


def rmsprop_l1_exact_orbit(b0: float, alpha: float, rho: float, steps: int, *, signs=None,
                           prec: int = 192, max_prec: int = 4096) -> CertifiedOrbit:
    """The exact RMSProp orbit of one coordinate ([CUT] eq. (25), eps = 0, v_0 = 0) for ``steps``
    steps, every sign certified (Prop B.4: never 0), at the least precision >= ``prec`` that
    certifies them. ``signs``: drive the recursion by this sign pattern instead of the orbit's own
    (sign 0 = no step) -- the "shadow" of a float64 run, whose own signs it is given.
    Cached per arguments (T12 computes the same orbits for every rmsprop subject): the returned
    orbit is shared, read it only."""
    return _exact_orbit(b0, alpha, rho, steps, None if signs is None else tuple(signs), prec, max_prec)


@lru_cache(maxsize=256)
def _exact_orbit(b0: float, alpha: float, rho: float, steps: int, signs, prec: int, max_prec: int) -> CertifiedOrbit:
    p = prec
    while p <= max_prec:
        orbit = _orbit_at(b0, alpha, rho, steps, p, signs)
        if orbit is not None:
            return orbit
        p *= 2
    raise ExactTieUndecided(f"RMSProp exact orbit from b0={b0!r} (alpha={alpha}, rho={rho}) within 2^-{max_prec} "
                            f"of 0 within {steps} steps")


UNIT_ROUNDOFF = 2.0 ** -53


def rmsprop_float_drift_bound(alpha: float, rho: float, steps: int, bmax: float, u: float = UNIT_ROUNDOFF
                              ) -> list[float]:
    """A priori bound T_k on |float b_k - e_k| for a float RMSProp run (eps = 0, no momentum) on
    lam*||b||_1, where e_k is the exact recursion driven by the float run's own sign pattern.

    Derivation (u = unit roundoff, every float operation one rounding of relative size <= u):
    v_k = fl(fl(rho v_{k-1}) + fl((1 - rho) fl(g^2))) (1 - rho exact for rho in [1/2, 1], Sterbenz)
    has relative error E_k <= w (E_{k-1} + u) + (1 - w) 2u + u with w in [0, 1], so
    E_k <= min(3(k+1)u, 3u/(1 - rho) + 3u); the step fl(lr fl(g / fl(sqrt v))) (any order of the
    three operations) has relative error <= E_k/2 + 4u (+ second order, covered by rounding 4 up
    to 5); the update fl(b - step) adds <= u |b_{k+1}| <= u bmax. Summing over steps:
    T_k = sum_{j<k} a_j (E_j/2 + 5u) + u bmax, with a_j <= alpha/sqrt(1 - rho^{j+1})."""
    out, total = [0.0], 0.0
    for j in range(steps):
        E = min(3 * (j + 2) * u, 3 * u / (1 - rho) + 3 * u)
        a = alpha / math.sqrt(1 - rho ** (j + 1))
        total += a * (E / 2 + 5 * u) * (1 + 1e-6) + u * bmax
        out.append(total)
    return out


def ridge_cycle(s: Fraction, q: Fraction) -> Fraction:
    """The 2-cycle of b_{k+1} = q b_k - s sign(b_k), 0 < q < 1: x > 0, y = q x - s < 0, x = q y + s
    give x (1 - q^2) = s (1 - q), so the cycle is +-s/(1 + q)."""
    return s / (1 + q)
