"""Exact oracles: closed-form probabilities of inactivity at initialization (sympy).

[GM] Thm 4.2 / Cor 4.3, THEOREMS.md T5: a first-layer neuron with weights W in R^d and bias B
is inactive on the box D = prod [a_i, b_i] when ``B + sum_i max(W_i a_i, W_i b_i) <= 0``. With
W_1..W_d, B independent, symmetric and continuous, split on the signs of the W_i: on the piece
sigma, ``max(W_i a_i, W_i b_i) = kappa_i |W_i|`` with ``kappa_i = b_i`` (W_i > 0) or ``-a_i``
(W_i < 0). So

    p = sum_sigma P(sigma W >= 0 coordinatewise, B + sum_i kappa_i(sigma) |W_i| <= 0).

* Uniform laws (W_i ~ U(-s, s), B ~ U(-t, t); PyTorch's nn.Linear default is s = t = 1/sqrt(d)):
  each piece is an integral of a clamped linear function over a box, done exactly with the
  truncated-power formula  int_[0,s]^m (c - kappa.u)_+ du
  = sum_J (-1)^|J| (c - s kappa_J)_+^(m+1) / ((m+1)! prod kappa_i)  (nonzero kappa_i; a zero
  kappa_i contributes a factor s). Exact for every d.
* Standard normal W_i, B: each piece is a Gaussian orthant probability in d + 1 variables,
  closed form for d <= 2: 1/4 + asin(rho)/(2 pi) (d = 1), Plackett's
  1/8 + sum asin(rho_jk)/(4 pi) (d = 2). (d = 3 needs a 4-variate orthant: no elementary form.)

Anchors (THEOREMS.md T5 (a)): d = 1, both laws: p = 3/8 on [0, 1] and 1/4 on [-1, 1].
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class InitLaw:
    """Law of one first-layer neuron's (W_1..W_d, B), all independent.

    ``kind``: "uniform" (W_i ~ U(-weight_scale, weight_scale), B ~ U(-bias_scale, bias_scale)) or
    "normal" (N(0, weight_scale^2), N(0, bias_scale^2)). Scales are exact sympy numbers.
    """

    name: str
    kind: str
    weight_scale: sp.Expr
    bias_scale: sp.Expr

    def __str__(self):
        return f"{self.name}(w={self.weight_scale}, b={self.bias_scale})"


def torch_default(d: int) -> InitLaw:
    """nn.Linear's default: U(+-1/sqrt(fan_in)) for weight and bias."""
    bound = 1 / sp.sqrt(sp.Integer(d))
    return InitLaw("torch", "uniform", bound, bound)


def standard_normal() -> InitLaw:
    return InitLaw("normal", "normal", sp.Integer(1), sp.Integer(1))


def uniform(weight_bound, bias_bound) -> InitLaw:
    return InitLaw("uniform", "uniform", sp.nsimplify(weight_bound), sp.nsimplify(bias_bound))


def _pos(x: sp.Expr) -> sp.Expr:
    """(x)_+ for an exact real number (sympy decides the sign exactly for algebraic numbers)."""
    return x if bool(x > 0) else sp.Integer(0)


def _ramp_box_integral(c: sp.Expr, kappas: list, s: sp.Expr) -> sp.Expr:
    """int_{[0,s]^m} (c - kappa.u)_+ du, exact (truncated-power formula; zero kappas factor out)."""
    nonzero = [k for k in kappas if k != 0]
    zero_factor = s ** (len(kappas) - len(nonzero))
    m = len(nonzero)
    if m == 0:
        return zero_factor * _pos(c)
    total = sp.Integer(0)
    for r in range(m + 1):
        for subset in itertools.combinations(nonzero, r):
            total += (-1) ** r * _pos(c - s * sum(subset, sp.Integer(0))) ** (m + 1)
    denom = sp.factorial(m + 1) * sp.prod(nonzero)
    return zero_factor * total / denom


def _piece_kappas(sigma, lo, hi):
    return [sp.nsimplify(b) if s > 0 else -sp.nsimplify(a) for s, a, b in zip(sigma, lo, hi)]


def _uniform_probability(law: InitLaw, lo, hi) -> sp.Expr:
    d, s, t = len(lo), law.weight_scale, law.bias_scale
    total = sp.Integer(0)
    for sigma in itertools.product((1, -1), repeat=d):
        kappas = _piece_kappas(sigma, lo, hi)
        # P(B <= -S) = E[clamp((t - S)/(2t), 0, 1)] = E[(t - S)_+ - (-t - S)_+] / (2t), S = kappa.U
        ramp = _ramp_box_integral(t, kappas, s) - _ramp_box_integral(-t, kappas, s)
        total += ramp / (2 * t) / s ** d
    return total / 2 ** d  # each sign piece has probability 2^-d


def _normal_probability(law: InitLaw, lo, hi) -> sp.Expr:
    d = len(lo)
    if d > 2:
        raise NotImplementedError("standard normal: exact orthant formula only for d <= 2")
    ratio = law.weight_scale / law.bias_scale  # B + kappa.|W| <= 0  <=>  B' + (ratio kappa).|W'| <= 0
    total = sp.Integer(0)
    for sigma in itertools.product((1, -1), repeat=d):
        kappas = [ratio * k for k in _piece_kappas(sigma, lo, hi)]
        norm = sp.sqrt(1 + sum(k ** 2 for k in kappas))
        rhos = [-k / norm for k in kappas]  # corr(-V_i, B + kappa.V); corr(-V_i, -V_j) = 0
        if d == 1:
            total += sp.Rational(1, 4) + sp.asin(rhos[0]) / (2 * sp.pi)
        else:
            total += sp.Rational(1, 8) + (sp.asin(rhos[0]) + sp.asin(rhos[1])) / (4 * sp.pi)
    return total


@functools.lru_cache(maxsize=512)
def _inactivity_probability(law: InitLaw, lo: tuple, hi: tuple) -> sp.Expr:
    if law.kind == "uniform":
        value = _uniform_probability(law, lo, hi)
    elif law.kind == "normal":
        value = _normal_probability(law, lo, hi)
    else:
        raise ValueError(f"unknown law kind {law.kind!r}")
    return sp.nsimplify(sp.simplify(value)) if len(lo) == 1 else sp.simplify(value)


def inactivity_probability(law: InitLaw, lo, hi) -> sp.Expr:
    """Exact p = P(B + sum_i max(W_i a_i, W_i b_i) <= 0) for box [lo, hi] (rational corners)."""
    lo = tuple(sp.nsimplify(a) for a in lo)
    hi = tuple(sp.nsimplify(b) for b in hi)
    if len(lo) != len(hi) or not all(bool(a <= b) for a, b in zip(lo, hi)):
        raise ValueError(f"not a box: lo={lo}, hi={hi}")
    return _inactivity_probability(law, lo, hi)


def any_inactive_probability(p, hidden: int):
    """P(I != {}) = 1 - (1 - p)^H for H i.i.d. neurons ([GM] Cor 4.3)."""
    return 1 - (1 - p) ** hidden


def convergence_bound(p, hidden: int):
    """[GM] Thm 4.2 / Cor 4.5-4.7: P(convergence to a global minimizer) <= (1 - p)^H."""
    return (1 - p) ** hidden


def sign_event_probability(width: int, fan_in: int) -> sp.Rational:
    """[OR] Thm 1.2 mechanism (THEOREMS.md T6): P(W_k <= 0 entrywise, B_k < 0) = 2^-(l_k (l_{k-1}+1))
    for independent symmetric continuous entries."""
    return sp.Rational(1, 2 ** (width * (fan_in + 1)))


def dead_layer_lower_bound(widths) -> sp.Rational:
    """P(some hidden layer k >= 2 is entirely inactive) >= 1 - prod_{k=2..L} (1 - q_k), widths =
    (l_1, ..., l_L) of the hidden layers (the sign events of distinct layers are independent)."""
    prod = sp.Integer(1)
    for fan_in, width in zip(widths[:-1], widths[1:]):
        prod *= 1 - sign_event_probability(width, fan_in)
    return 1 - prod


# ----------------------------------------------------------------------------- born-dead reference
# [LSSK20] / THEOREMS.md T6 (c): P(the last hidden layer of a depth-L, width-w ReLU net with N(0,1)
# weights and biases is constant on D = [-1, 1]). No closed form; this is an independent computation
# (numpy only, its own random numbers, nothing from the harness's networks or interval bounds) that
# decides "constant on D" *exactly* for each sampled network: a 1-D ReLU network is piecewise linear,
# so each layer is carried as its values at the breakpoints (every zero crossing of every neuron is
# inserted, by linear interpolation), and a layer is constant on D iff its values at all breakpoints
# coincide (relative 1e-12: float64 interpolation). BORN_DEAD_REFERENCE stores its counts.


def _constant_by_depth(weights, biases, rtol=1e-12):
    import numpy as np

    xs = np.array([-1.0, 1.0])
    values = xs[:, None]  # (points, 1): the input x at the breakpoints
    out = []
    for w, b in zip(weights, biases):
        z = values @ w.T + b  # (points, width): linear between consecutive breakpoints
        new_x = [xs]
        for j in range(z.shape[1]):
            zj = z[:, j]
            cross = np.nonzero(zj[:-1] * zj[1:] < 0)[0]
            if cross.size:
                t = zj[cross] / (zj[cross] - zj[cross + 1])
                new_x.append(xs[cross] + t * (xs[cross + 1] - xs[cross]))
        if len(new_x) > 1:
            nx = np.unique(np.concatenate(new_x))
            values = np.stack([np.interp(nx, xs, values[:, k]) for k in range(values.shape[1])], axis=1)
            xs = nx
            z = values @ w.T + b
        values = np.maximum(z, 0.0)
        spread = values.max(axis=0) - values.min(axis=0)
        out.append(bool((spread <= rtol * (1 + np.abs(values).max(axis=0))).all()))
    return out


def born_dead_reference_counts(width: int, depths, networks: int, seed: int) -> dict:
    """Counts of networks whose hidden layer L is constant on [-1, 1], for L in ``depths`` (one
    depth-max(depths) network per sample; its first L layers are a depth-L network)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    depth = max(depths)
    counts = {L: 0 for L in depths}
    for _ in range(networks):
        fan_ins = [1] + [width] * (depth - 1)
        weights = [rng.standard_normal((width, f)) for f in fan_ins]
        biases = [rng.standard_normal(width) for _ in fan_ins]
        constant = _constant_by_depth(weights, biases)
        for L in depths:
            counts[L] += constant[L - 1]
    return counts


# Computed once by born_dead_reference_counts(w, (2, 5, 10, 20), 20000, seed=1000 + w) (numpy
# default_rng; about 100 s on one core): (width, depth) -> (networks constant on D, networks).
BORN_DEAD_REFERENCE_NETWORKS = 20000
BORN_DEAD_REFERENCE = {
    (1, 2): 10988, (1, 5): 18644, (1, 10): 19950, (1, 20): 20000,
    (2, 2): 3947, (2, 5): 11747, (2, 10): 17855, (2, 20): 19849,
    (3, 2): 1268, (3, 5): 5368, (3, 10): 11574, (3, 20): 17600,
    (4, 2): 382, (4, 5): 2057, (4, 10): 5509, (4, 20): 11378,
}
