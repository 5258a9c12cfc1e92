"""Dyadic LASSO problems for [CUT]'s exact regime (THEOREMS.md T10-T12).

Every number drawn here is a dyadic rational with few significant bits, so that float64
NDGM (``b - alpha * (lam * sign b)``) performs no rounding at all and equals the Fraction
recursion bit for bit: alpha = a 2^-i, lam = l 2^-j with small odd a, l; b_0 = n 2^-30, |b_0| < 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import math

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

ODD = st.sampled_from([1, 3, 5, 7])


def dyadic(odd=ODD, exponents=st.integers(0, 8)):
    return st.builds(lambda m, e: Fraction(m, 2 ** e), odd, exponents)


@dataclass
class LassoCase:
    beta0: list[Fraction]
    alpha: Fraction
    lam: Fraction
    steps: int

    @property
    def s(self) -> Fraction:
        return self.alpha * self.lam

    def floats(self):
        return [float(b) for b in self.beta0]

    def in_precision(self, bits: int) -> "LassoCase":
        """The same case with b_0 on the grid 2^-bits (``bits`` < 30: a dtype with ``bits`` significant
        bits, where every |v| < 1 on that grid is exact): each coordinate rounded toward 0, then moved
        by 2^-bits away from 0 if that made it 0 or (for a non-multiple) a multiple of s. s = alpha lam
        is on the 2^-7 grid, so multiples of s stay multiples and non-multiples stay non-multiples
        (bits >= 8). With bits >= 30 the case is returned unchanged."""
        if bits >= 30:
            return self
        g = Fraction(1, 2 ** bits)
        out = []
        for b in self.beta0:
            multiple = (b / self.s).denominator == 1
            q = (abs(b) // g) * g
            if q == 0 or (not multiple and (q / self.s).denominator == 1):
                q += g
            out.append(q if b > 0 else -q)
        return LassoCase(out, self.alpha, self.lam, self.steps)


@st.composite
def beta0s(draw, d: int, s: Fraction, multiples: bool | None = None):
    """d coordinates in (-1, 1), multiples of 2^-30. ``multiples``: True -> integer multiples of
    s (absorbed at 0, Prop B.1's exceptional set); False -> never a multiple; None -> mixed."""
    out = []
    kmax = max(1, int(1 / s) - 1)
    for i in range(d):
        make_multiple = draw(st.booleans()) if multiples is None else multiples
        sg = draw(st.sampled_from([-1, 1]))
        if make_multiple:
            out.append(sg * draw(st.integers(1, kmax)) * s)
        else:
            b = Fraction(draw(st.integers(1, 2 ** 30 - 1)), 2 ** 30)
            if (b / s).denominator == 1:
                b += Fraction(1, 2 ** 30)
            out.append(sg * b)
    return out


@st.composite
def lasso_cases(draw, multiples: bool | None = None, max_d: int = 6, min_s_exp: int = 7,
                extra_steps=st.integers(2, 40)):
    """alpha, lam dyadic with s = alpha lam in [2^-min_s_exp, 1/2]; steps run past every
    coordinate's K = floor(|b_0|/s) (so the 2-cycle phase is always reached)."""
    i = draw(st.integers(0, min_s_exp))
    alpha = Fraction(draw(ODD), 2 ** i)
    lam = Fraction(draw(ODD), 2 ** (min_s_exp - i))  # s = a l 2^-min_s_exp, a l <= 49
    s = alpha * lam
    d = draw(st.integers(1, max_d))
    beta0 = draw(beta0s(d, s, multiples))
    K = max(int(abs(b) // s) for b in beta0)
    steps = K + draw(extra_steps)
    case = LassoCase(beta0, alpha, lam, steps)
    note(f"LASSO case: alpha={alpha}, lam={lam}, s={s}, beta0={[str(b) for b in beta0]}, steps={steps}")
    return case


floats_beta0 = st.lists(st.floats(-1, 1, allow_subnormal=False).filter(lambda v: abs(v) > 1e-3),
                        min_size=1, max_size=6)


@st.composite
def eps_free_hyperparameters(draw, family: str):
    """Adaptive-family configurations with eps = 0 ([CUT] eq. (22)-(25) with eps = 0) and nothing
    that breaks scale invariance (Adagrad's initial accumulator 0, no decay, no centering)."""
    lr = draw(st.sampled_from([2.0 ** -4, 2.0 ** -5, 2.0 ** -6, 0.01, 0.03]))
    if family == "rmsprop":
        hp = dict(lr=lr, alpha=draw(st.sampled_from([0.5, 0.9, 0.99])), eps=0.0,
                  momentum=draw(st.sampled_from([0.0, 0.5])), centered=False)
    elif family in ("adam", "amsgrad"):
        hp = dict(lr=lr, betas=(draw(st.sampled_from([0.0, 0.5, 0.9])), draw(st.sampled_from([0.9, 0.99, 0.999]))),
                  eps=0.0, amsgrad=family == "amsgrad")
    elif family == "adagrad":
        hp = dict(lr=lr, lr_decay=draw(st.sampled_from([0.0, 0.01])), initial_accumulator_value=0.0, eps=0.0)
    else:
        raise ValueError(family)
    hp["weight_decay"] = 0.0
    note(f"hyperparameters ({family}, eps=0): {hp}")
    return hp


# The smallest factor multiplying g^2 in the eps-free recursions eps_free_hyperparameters draws: 1 - beta2 >= 1 - 0.999
# (Adam), 1 - alpha >= 0.01 (RMSprop), 1 (Adagrad), and the rounded product beta2 (1 - beta2) g^2 of Adam's next
# step, 0.999 * 0.001 = 0.000999; 2^-10 = 0.000977 is below all of them.
SMALLEST_SQUARE_COEFFICIENT = 2.0 ** -10


def square_safe_band(dtype, steps: int) -> tuple[float, float]:
    """(lo, hi): the gradient magnitudes g for which every g-proportional quantity of the eps-free
    recursions (g, c g^2 with c >= 2^-10, a sum of steps + 1 squares, their square roots) is a normal
    number of ``dtype``: c g^2 >= its smallest normal and (steps + 1) g^2 <= half its largest finite value.
    Scaling g by 2^j inside this band multiplies every rounding by an exact power of two."""
    import torch

    fi = torch.finfo(dtype)
    return math.sqrt(fi.tiny / SMALLEST_SQUARE_COEFFICIENT), math.sqrt(fi.max / (2 * (steps + 1)))


@st.composite
def lambda_pairs(draw, *, dtype, steps: int, lam_range=(2.0 ** -10, 2.0 ** 10), max_j: int = 12):
    """(lam, j): lam in ``lam_range`` and j != 0, |j| <= ``max_j``, with lam and lam 2^j both inside
    ``square_safe_band(dtype, steps)`` (on the LASSO the gradient is lam sign(b), |g| = lam); lam 2^j may
    leave ``lam_range`` (2^-22..2^22 in float64 and float32, where the band holds all of it); in float16
    the band is about [0.25, 25] for 50 steps."""
    band_lo, band_hi = square_safe_band(dtype, steps)
    lo, hi = max(band_lo, lam_range[0]), min(band_hi, lam_range[1])  # where lam itself is drawn
    if hi < lo or band_hi < 2 * band_lo:
        raise InvalidArgument(f"no lam and lam*2^j with j != 0 fit {dtype}'s square-safe band for {steps} steps")
    lam = draw(st.floats(lo, hi), label="lam")
    down = -math.floor(math.log2(lam / band_lo))  # lam 2^j >= band_lo (lam 2^j may leave lam_range)
    up = math.floor(math.log2(band_hi / lam))  # lam 2^j <= band_hi
    choices = [j for j in range(max(down, -max_j), min(up, max_j) + 1) if j != 0]
    if not choices:  # lam sits where one doubling or halving leaves the band: start from its bottom
        lam, choices = band_lo, [1]
    j = draw(st.sampled_from(choices), label="j")
    note(f"lam = {lam!r}, j = {j} ({dtype} square-safe band [{lo:.3g}, {hi:.3g}])")
    return lam, j
