"""Exact oracles for T14 ([CUT] Sec 3, eqs. (5)-(6); Sec A.1.2-A.1.3): never call the subject.

- NDGM on a weighted l1 objective ``f(b) = sum_i w_i |b_i|`` in Fractions, and the exact number of steps
  it needs to reach, and stay within, accuracy eps (``steps_within``);
- the Theta(1/eps^2) family ``f_eps(b) = g |b_1| + kappa eps |b_2|`` (the subgradient method's worst case
  with a constant step, in two dimensions) and the lower bound on NDGM's steps that holds for EVERY
  constant step alpha whose step g*alpha does not divide b_1(0) (``worst_case_lower_bound``);
- gradient descent on a convex quadratic ``1/2 x^T A x`` with a rational orthogonal eigenbasis (Householder
  reflection of an integer vector): exact iterates, and the step ``k_bar`` from which the infinity norm of
  the iterates decreases strictly for ever (``capture_index``), derived from the eigen-expansion.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence


def sign(x) -> int:
    return (x > 0) - (x < 0)


def weighted_l1(b: Sequence[Fraction], w: Sequence[Fraction]) -> Fraction:
    return sum((wi * abs(bi) for wi, bi in zip(w, b)), Fraction(0))


def ndgm_weighted_l1(b0: Sequence[Fraction], w: Sequence[Fraction], alpha: Fraction, steps: int
                     ) -> list[list[Fraction]]:
    """Exact NDGM (sign(0) = 0) on sum_i w_i |b_i|: b_{k+1,i} = b_{k,i} - alpha w_i sign(b_{k,i})."""
    out = [list(b0)]
    for _ in range(steps):
        out.append([b - alpha * wi * sign(b) for b, wi in zip(out[-1], w)])
    return out


def entry_step(b0: Fraction, s: Fraction) -> int:
    """[CUT] Prop B.2: the step K = floor(|b0|/s) from which the coordinate is in its 2-cycle (or at 0)."""
    return int(abs(b0) // s)


def steps_within(b0: Sequence[Fraction], w: Sequence[Fraction], alpha: Fraction, eps: Fraction) -> int | None:
    """The exact smallest N with f(b_k) <= eps for every k >= N (None: never), f = sum w_i |b_i|.

    From step max_i K_i on every coordinate is in its 2-cycle (Prop B.2), so f is 2-periodic there:
    checking the steps up to max K_i + 2 decides every later step."""
    horizon = max(entry_step(b, a * alpha) for b, a in zip(b0, w)) + 2
    traj = ndgm_weighted_l1(b0, w, alpha, horizon)
    values = [weighted_l1(b, w) for b in traj]
    if values[-1] > eps or values[-2] > eps:
        return None
    n = len(values) - 1
    while n > 0 and values[n - 1] <= eps:
        n -= 1
    return n


def worst_case_lower_bound(r1: Fraction, r2: Fraction, g: Fraction, delta: Fraction, alpha: Fraction,
                           eps: Fraction) -> Fraction:
    """Steps NDGM needs on g|b_1| + delta|b_2| from (r1, r2) to stay within eps, for ANY constant step alpha
    such that |r1| is not a multiple of s = g alpha (then b_1 never reaches 0, Prop B.1):

    b_1's 2-cycle (c, c - s), |c| in (0, s), has max(|c|, s - |c|) >= s/2, so staying within eps needs
    g s / 2 < eps... precisely g * max(...) <= eps, hence alpha <= 2 eps / g^2; b_2 moves by delta*alpha per
    step and must reach |b_2| <= eps / delta, hence N >= (|r2| - eps/delta) / (delta alpha) >=
    (|r2| - eps/delta) g^2 / (2 eps delta). With delta = kappa eps this is (|r2| - 1/kappa) g^2/(2 kappa eps^2):
    Theta(1/eps^2) for every admissible alpha. Returns the bound for the given alpha (the larger of the
    two: the alpha-specific travel bound, and +inf when alpha > 2 eps / g^2)."""
    s = g * alpha
    assert (abs(r1) / s).denominator != 1, "the bound assumes |r1| is not a multiple of g*alpha"
    if g * s / 2 > eps:
        return Fraction(10 ** 30)  # never within eps: b_1's cycle alone exceeds it
    return max(Fraction(0), (abs(r2) - eps / delta) / (delta * alpha))


def householder(v: Sequence[int]) -> list[list[Fraction]]:
    """The rational orthogonal symmetric matrix I - 2 v v^T / (v^T v)."""
    n = sum(x * x for x in v)
    d = len(v)
    return [[Fraction(int(i == j)) - Fraction(2 * v[i] * v[j], n) for j in range(d)] for i in range(d)]


def matvec(m, x):
    return [sum((a * b for a, b in zip(row, x)), Fraction(0)) for row in m]


def quadratic(eigs: Sequence[Fraction], v: Sequence[int]) -> list[list[Fraction]]:
    """A = Q diag(eigs) Q with Q = householder(v) (Q = Q^T = Q^-1): exact rational symmetric matrix."""
    q = householder(v)
    d = len(eigs)
    return [[sum((q[i][k] * eigs[k] * q[k][j] for k in range(d)), Fraction(0)) for j in range(d)] for i in range(d)]


def gd_quadratic(a, x0: Sequence[Fraction], alpha: Fraction, steps: int) -> list[list[Fraction]]:
    """Exact gradient descent x_{k+1} = x_k - alpha A x_k."""
    out = [list(x0)]
    for _ in range(steps):
        x = out[-1]
        ax = matvec(a, x)
        out.append([xi - alpha * gi for xi, gi in zip(x, ax)])
    return out


def quad_value(a, x) -> Fraction:
    return sum((xi * gi for xi, gi in zip(x, matvec(a, x))), Fraction(0)) / 2


def inf_norm(x) -> Fraction:
    return max(abs(v) for v in x)


def capture_index(eigs: Sequence[Fraction], v: Sequence[int], x0: Sequence[Fraction], alpha: Fraction,
                  slack: Fraction = Fraction(1)) -> int:
    """The first k_bar such that ||x_{k+1}||_inf < ||x_k||_inf for every k >= k_bar, by the eigen-expansion
    x_k = sum_j c_j rho_j^k q_j (q_j = column j of Q, rho_j = 1 - alpha eig_j in [0, 1), c = Q x0):
    with j = 0 the slowest mode (rho_0 > rho_j for j > 0, c_0 != 0), A_k = |c_0| rho_0^k ||q_0||_inf and
    B_k = sum_{j>0} (1 + rho_j) |c_j| rho_j^k ||q_j||_inf, the triangle inequality gives
    ||x_{k+1}|| <= rho_0 A_k + sum rho_j (...) and ||x_k|| >= A_k - sum (...), so ||x_{k+1}|| < ||x_k|| once
    B_k < (1 - rho_0) A_k; B_k / A_k decreases in k, so this holds for every later k.
    ``slack`` > 1 asks for B_k * slack < (1 - rho_0) A_k (room for rounding)."""
    q = householder(v)
    c = matvec(q, x0)
    rho = [1 - alpha * e for e in eigs]
    assert all(0 <= r < 1 for r in rho) and c[0] != 0 and all(rho[0] > r for r in rho[1:]), "slowest mode not unique"
    cols = [[q[i][j] for i in range(len(eigs))] for j in range(len(eigs))]
    a0 = abs(c[0]) * inf_norm(cols[0])
    k = 0
    while True:
        bk = sum(((1 + rho[j]) * abs(c[j]) * rho[j] ** k * inf_norm(cols[j]) for j in range(1, len(eigs))),
                 Fraction(0))
        if bk * slack < (1 - rho[0]) * a0 * rho[0] ** k:
            return k
        k += 1
