"""Exact (rational) oracle for shallow networks: [GM] Setting 3.1 on a finite data set.

A shallow network of width h is ``c + sum_j v_j a(<w_j, x> + b_j)``; its empirical risk on data
``(x_i, y_i)_{i<n}`` is ``(1/n) sum_i (N(x_i) - y_i)^2`` (the suite's ``mse``). Everything here is in
``fractions.Fraction``: realizations, risks and gradients are exact, so equalities are asserted as
equalities. Never calls a subject.

Contents
- activations ``RELU``, ``clipped(cap)``, ``repu(p)`` with their (one-sided, PyTorch-convention)
  derivatives: ``a'(0) = 0``;
- ``embed``/``delete``: append a neuron (incoming 0, bias < 0, outgoing 0) / remove a neuron;
- ``exact_gradient``: the gradient of the risk (exact, where the pattern is locally constant it is
  the gradient; at a kink it is PyTorch's choice of generalized gradient);
- ``certify_local_minimum``: an exact *sufficient* certificate that a ReLU/clipped-ReLU network is a
  local minimum of its risk (see its docstring);
- ``best_risks``: the per-width best risks ``m_h = inf_theta L_h(theta)`` of a ReLU network with
  1-dimensional input, exactly, by enumerating the finitely many activation patterns on the data
  (each a least-squares problem over a union of polyhedral cones, see ``_pieces``);
- ``least_squares``: exact least squares with rank detection.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

F = Fraction
ZERO, ONE = F(0), F(1)


# ---------------------------------------------------------------------- activations
@dataclass(frozen=True)
class ExactActivation:
    name: str
    value: Callable[[Fraction], Fraction]
    derivative: Callable[[Fraction], Fraction]
    # breakpoints of the piecewise-affine activations (for the local-minimum certificate); None:
    # not piecewise affine (RePU), the certificate does not apply
    breakpoints: tuple[Fraction, ...] | None = None

    def __repr__(self):
        return self.name


RELU = ExactActivation("relu", lambda t: t if t > 0 else ZERO, lambda t: ONE if t > 0 else ZERO, (ZERO,))


def clipped(cap) -> ExactActivation:
    """[GM] Cor 3.15 with p = 1, c < inf: a(t) = min(max(t, 0), cap)."""
    cap = F(cap)
    return ExactActivation(f"clipped({cap})", lambda t: min(max(t, ZERO), cap),
                           lambda t: ONE if ZERO < t < cap else ZERO, (ZERO, cap))


def repu(p: int) -> ExactActivation:
    """[GM] Cor 3.15 with c = inf: a(t) = max(t, 0)^p."""
    return ExactActivation(f"repu({p})", lambda t: t ** p if t > 0 else ZERO,
                           lambda t: p * t ** (p - 1) if t > 0 else ZERO)


# ---------------------------------------------------------------------- networks
Vector = tuple  # tuple[Fraction, ...]


@dataclass(frozen=True)
class Neuron:
    w: Vector
    b: Fraction
    v: Fraction

    def pre(self, x: Vector) -> Fraction:
        return sum((wi * xi for wi, xi in zip(self.w, x)), self.b)


@dataclass(frozen=True)
class Shallow:
    c: Fraction
    neurons: tuple[Neuron, ...] = field(default_factory=tuple)

    @property
    def width(self) -> int:
        return len(self.neurons)

    def __call__(self, x: Vector, act: ExactActivation = RELU) -> Fraction:
        return self.c + sum((n.v * act.value(n.pre(x)) for n in self.neurons), ZERO)


def as_points(xs) -> list[Vector]:
    """Numbers or tuples -> list of tuples of Fractions."""
    return [tuple(F(t) for t in x) if isinstance(x, (tuple, list)) else (F(x),) for x in xs]


def realization(net: Shallow, xs, act: ExactActivation = RELU) -> list[Fraction]:
    return [net(x, act) for x in as_points(xs)]


def risk(net: Shallow, xs, ys, act: ExactActivation = RELU) -> Fraction:
    out = realization(net, xs, act)
    return sum(((o - F(y)) ** 2 for o, y in zip(out, ys)), ZERO) / len(out)


def variance(ys) -> Fraction:
    """c* = inf over constants of the risk = the (population over the data) variance of Y."""
    ys = [F(y) for y in ys]
    mean = sum(ys, ZERO) / len(ys)
    return sum(((y - mean) ** 2 for y in ys), ZERO) / len(ys)


@dataclass(frozen=True)
class Gradient:
    c: Fraction
    neurons: tuple[tuple[Vector, Fraction, Fraction], ...]  # (dL/dw_j, dL/db_j, dL/dv_j)

    def entries(self) -> list[Fraction]:
        return [self.c] + [e for dw, db, dv in self.neurons for e in (*dw, db, dv)]

    def is_zero(self) -> bool:
        return all(e == 0 for e in self.entries())


def exact_gradient(net: Shallow, xs, ys, act: ExactActivation = RELU) -> Gradient:
    """Gradient of the risk, with a'(t) from ``act.derivative`` (PyTorch's a'(0) = 0 at kinks)."""
    pts = as_points(xs)
    n = len(pts)
    r = [2 * (net(x, act) - F(y)) / n for x, y in zip(pts, ys)]
    grads = []
    for neu in net.neurons:
        pres = [neu.pre(x) for x in pts]
        dv = sum((ri * act.value(p) for ri, p in zip(r, pres)), ZERO)
        s = [ri * neu.v * act.derivative(p) for ri, p in zip(r, pres)]
        db = sum(s, ZERO)
        dw = tuple(sum((si * x[k] for si, x in zip(s, pts)), ZERO) for k in range(len(neu.w)))
        grads.append((dw, db, dv))
    return Gradient(sum(r, ZERO), tuple(grads))


def embed(net: Shallow, at: int | None = None, bias=-1) -> Shallow:
    """[GM] Lemma 2.11 / Prop 3.3: insert at position ``at`` (default: last) a neuron with incoming
    weights 0, bias ``bias`` (< 0 for the lemma) and outgoing weight 0."""
    d = len(net.neurons[0].w) if net.neurons else 1
    new = Neuron(tuple(ZERO for _ in range(d)), F(bias), ZERO)
    neurons = list(net.neurons)
    neurons.insert(len(neurons) if at is None else at, new)
    return Shallow(net.c, tuple(neurons))


def delete(net: Shallow, j: int) -> Shallow:
    """[GM] Prop 3.18's step: the width-(H-1) network without neuron j."""
    return Shallow(net.c, net.neurons[:j] + net.neurons[j + 1:])


def inactive_neurons(net: Shallow, xs, act: ExactActivation = RELU) -> list[int]:
    """[GM] Setting 3.1's inactive set on the data: neurons whose output is 0 at every point."""
    pts = as_points(xs)
    return [j for j, n in enumerate(net.neurons) if all(act.value(n.pre(x)) == 0 for x in pts)]


# ---------------------------------------------------------------------- exact least squares
@dataclass(frozen=True)
class LeastSquares:
    coefficients: tuple[Fraction, ...]  # a solution (free variables set to 0 when rank-deficient)
    risk: Fraction  # (1/n) * squared residual: unique
    fitted: tuple[Fraction, ...]
    null_space: tuple[tuple[Fraction, ...], ...]  # basis of {beta : A beta = 0}

    @property
    def full_rank(self) -> bool:
        return not self.null_space


def least_squares(columns: Sequence[Sequence[Fraction]], y: Sequence[Fraction]) -> LeastSquares:
    """min_beta (1/n) |A beta - y|^2 exactly, A = columns side by side, by Gauss-Jordan elimination
    of the normal equations (rank and null space of A = null space of A^T A, exactly)."""
    n, m = len(y), len(columns)
    gram = [[sum((a * b for a, b in zip(ci, cj)), ZERO) for cj in columns] + [sum((a * b for a, b in zip(ci, y)), ZERO)]
            for ci in columns]
    pivots, row = [], 0
    for col in range(m):
        piv = next((r for r in range(row, m) if gram[r][col] != 0), None)
        if piv is None:
            continue
        gram[row], gram[piv] = gram[piv], gram[row]
        p = gram[row][col]
        gram[row] = [e / p for e in gram[row]]
        for r in range(m):
            if r != row and gram[r][col] != 0:
                f = gram[r][col]
                gram[r] = [a - f * b for a, b in zip(gram[r], gram[row])]
        pivots.append(col)
        row += 1
    beta = [ZERO] * m
    for r, col in enumerate(pivots):
        beta[col] = gram[r][m]
    null = []
    for free in (c for c in range(m) if c not in pivots):
        vec = [ZERO] * m
        vec[free] = ONE
        for r, col in enumerate(pivots):
            vec[col] = -gram[r][free]
        null.append(tuple(vec))
    fitted = tuple(sum((b * c[i] for b, c in zip(beta, columns)), ZERO) for i in range(n))
    res = sum(((f - F(t)) ** 2 for f, t in zip(fitted, y)), ZERO) / n
    return LeastSquares(tuple(beta), res, fitted, tuple(null))


# ---------------------------------------------------------------------- local-minimum certificate
def local_design(net: Shallow, xs, act: ExactActivation = RELU):
    """The columns spanning the realizations near ``net`` when its pattern is locally constant.

    Returns None when some pre-activation sits on a breakpoint of ``act`` (pattern not locally
    constant) or ``act`` is not piecewise affine. Otherwise: near ``net`` each neuron j with v_j != 0
    contributes on the data ``v_j (<w_j, x> + b_j) 1[A_j] + v_j a_flat 1[C_j]`` (A_j: points on an
    affine piece of slope 1, C_j: points on a constant piece of value a_flat != 0), so every nearby
    realization lies in c + span of the columns x 1[A_j], 1[A_j], a_flat 1[C_j] (also when v_j = 0).
    """
    if act.breakpoints is None:
        return None
    pts = as_points(xs)
    d = len(pts[0])
    cols = [[ONE] * len(pts)]
    for neu in net.neurons:
        pres = [neu.pre(x) for x in pts]
        if any(p == bp for p in pres for bp in act.breakpoints):
            return None
        slope = [act.derivative(p) for p in pres]  # 0 or 1, constant near the point
        values = [act.value(p) for p in pres]
        on_affine = [s != 0 for s in slope]
        cols += [[x[k] if a else ZERO for x, a in zip(pts, on_affine)] for k in range(d)]
        cols.append([ONE if a else ZERO for a in on_affine])
        flat = [val if not a else ZERO for val, a in zip(values, on_affine)]
        if any(flat):
            cols.append(flat)
    return cols


def certify_local_minimum(net: Shallow, xs, ys, act: ExactActivation = RELU) -> bool:
    """Exact sufficient certificate that ``net`` is a local minimum of the risk ([GM] Def. 2.4).

    If no pre-activation is on a breakpoint, the pattern is constant near ``net``, and there
    L(theta') = (1/n)|D z(theta') - y|^2 with D = ``local_design`` and z a smooth reparametrization;
    so L(theta') >= min_z (1/n)|Dz - y|^2 = L(theta) as soon as the residual is orthogonal to every
    column of D (the normal equations, checked exactly). Returns False when the certificate does not
    apply or fails (a saddle fails it; so may a local minimum with a kink on a data point)."""
    cols = local_design(net, xs, act)
    if cols is None:
        return False
    r = [o - F(y) for o, y in zip(realization(net, xs, act), ys)]
    return all(sum((a * b for a, b in zip(col, r)), ZERO) == 0 for col in cols)


# ---------------------------------------------------------------------- best risks m_h (ReLU, d = 1)
@dataclass(frozen=True)
class Piece:
    """One neuron's possible behaviour on sorted 1-d data (see ``_pieces``)."""
    kind: str  # "dead" | "affine" | "kink" | "interior" | "single"
    index: int = -1  # data index of the kink ("kink") or of the gap (x_k, x_{k+1}) ("interior")
    side: int = 1  # +1: active right of the kink (w > 0), -1: left (w < 0)


def _pieces(xs: list[Fraction]) -> list[Piece]:
    """Every neuron ``v relu(w x + b)`` contributes on the data an element of one of these closed
    sets, and every element of each is such a contribution (c absorbing constants):
    dead: 0; affine: a x (kink outside the data, plus a constant); kink at x_j: a (s(x - x_j))_+;
    interior of (x_k, x_{k+1}) with A the points right (s=+1) or left (s=-1) of the gap:
    l(x) 1[A] with l affine and its root in [x_k, x_{k+1}] (a union of two polyhedral cones whose
    faces are the kink/dead pieces); single: the interior piece when |A| = 1 (any multiple of e_i).
    """
    n = len(xs)
    pieces = [Piece("dead"), Piece("affine")]
    for j in range(n):
        if j < n - 1:
            pieces.append(Piece("kink", j, +1))
        if j > 0:
            pieces.append(Piece("kink", j, -1))
    for k in range(n - 1):
        for side in (+1, -1):
            size = n - 1 - k if side > 0 else k + 1
            pieces.append(Piece("single" if size == 1 else "interior", k, side))
    return pieces


def _columns(piece: Piece, xs):
    n = len(xs)
    if piece.kind == "dead":
        return []
    if piece.kind == "affine":
        return [list(xs)]
    if piece.kind == "kink":
        return [[max(piece.side * (x - xs[piece.index]), ZERO) for x in xs]]
    active = [i > piece.index if piece.side > 0 else i <= piece.index for i in range(n)]
    if piece.kind == "single":
        return [[ONE if a else ZERO for a in active]]
    return [[x if a else ZERO for x, a in zip(xs, active)], [ONE if a else ZERO for a in active]]


def _neuron(piece: Piece, coef, xs) -> tuple[Neuron, Fraction] | None:
    """(neuron realizing the piece's contribution with these coefficients, constant to add to c), or
    None if the coefficients are outside the piece's set (root of l outside the gap)."""
    dead = Neuron((ZERO,), -ONE, ZERO)
    if piece.kind == "dead":
        return dead, ZERO
    if piece.kind == "affine":
        (a,) = coef  # a (x - x_0 + 1) with x - x_0 + 1 >= 1 > 0 on the data
        return Neuron((ONE,), 1 - xs[0], a), -a * (1 - xs[0])
    if piece.kind == "kink":
        (a,) = coef
        s = piece.side
        return Neuron((F(s),), -s * xs[piece.index], a), ZERO
    lo, hi = xs[piece.index], xs[piece.index + 1]
    if piece.kind == "single":
        (a,) = coef
        t, x = (lo + hi) / 2, (hi if piece.side > 0 else lo)
        p = a / (x - t)  # l = p (x - t): l(x_i) = a at the single point, root at the midpoint
    else:
        p, q = coef
        if p == 0:
            return (dead, ZERO) if q == 0 else None
        t = -q / p
        if not lo <= t <= hi:
            return None
    s = piece.side
    return Neuron((F(s),), -s * t, s * p), ZERO


@dataclass(frozen=True)
class Level:
    """m_h bracketed exactly: lower <= m_h <= upper, with an exact network attaining ``upper``."""
    width: int
    lower: Fraction
    upper: Fraction
    minimizer: Shallow
    candidates: int

    @property
    def exact(self) -> bool:
        return self.lower == self.upper


def critical_points(xs, ys, width: int) -> list:
    """Cached list of ``_critical_points``' triples (the enumeration is the expensive part)."""
    return _critical_points_cached(tuple(F(x) for x in xs), tuple(F(y) for y in ys), width)


@functools.lru_cache(maxsize=64)
def _critical_points_cached(xs, ys, width):
    return list(_critical_points(xs, ys, width))


def _critical_points(xs, ys, width: int):
    """Yield (pattern, LeastSquares, network or None) for every activation pattern of ``width``
    ReLU neurons on the sorted 1-d data; the network (exact, width ``width``) attains the
    pattern's least-squares risk when its solution lies in the pattern's set."""
    xs = [F(x) for x in xs]
    if any(a >= b for a, b in zip(xs, xs[1:])):
        raise ValueError("best_risks needs strictly increasing 1-d inputs")
    ys = [F(y) for y in ys]
    pieces = _pieces(xs)
    for pattern in itertools.combinations_with_replacement(range(len(pieces)), width):
        chosen = [pieces[i] for i in pattern]
        cols, spans = [[ONE] * len(xs)], []
        for i, pc in enumerate(chosen):
            if pc.kind == "interior" and pc in chosen[:i]:
                spans.append(None)  # a repeated interior piece: see _build
                continue
            c = _columns(pc, xs)
            spans.append((len(cols), len(cols) + len(c)))
            cols += c
        ls = least_squares(cols, ys)
        net = _build(chosen, spans, ls.coefficients, xs)
        if net is None and len(ls.null_space) == 1:
            # one free direction beta + u e: the pieces' sets are unions of intervals in u whose
            # endpoints are roots of the affine functions l(x_k)(u), l(x_{k+1})(u); try them all
            e = ls.null_space[0]
            roots = set()
            for pc, span in zip(chosen, spans):
                if pc.kind == "interior" and span is not None:
                    a = span[0]
                    for x in (xs[pc.index], xs[pc.index + 1]):
                        slope = e[a] * x + e[a + 1]
                        if slope != 0:
                            roots.add(-(ls.coefficients[a] * x + ls.coefficients[a + 1]) / slope)
            roots = sorted(roots)
            trial = roots + [(u + w) / 2 for u, w in zip(roots, roots[1:])] + \
                ([roots[0] - 1, roots[-1] + 1] if roots else [ZERO])
            for u in trial:
                net = _build(chosen, spans, tuple(c + u * ei for c, ei in zip(ls.coefficients, e)), xs)
                if net is not None:
                    ls = LeastSquares(tuple(c + u * ei for c, ei in zip(ls.coefficients, e)), ls.risk, ls.fitted,
                                      ls.null_space)
                    break
        yield chosen, ls, net


def _build(chosen, spans, coefficients, xs) -> Shallow | None:
    """The exact network for a pattern's coefficients, or None if they are outside its set. An
    interior piece chosen twice has one copy of its columns: any affine l on A is the sum of two
    neurons with distinct roots t1 < t2 inside the gap (l = alpha (x - t1) + beta (x - t2)), so the
    pair's set is the whole (unconstrained) 2-dimensional span; further copies are dead."""
    built, shift = [], ZERO
    for i, (pc, span) in enumerate(zip(chosen, spans)):
        if span is None:
            continue
        coef = coefficients[span[0]:span[1]]
        copies = sum(1 for other in chosen if other == pc)
        if pc.kind == "interior" and copies > 1:
            lo, hi = xs[pc.index], xs[pc.index + 1]
            t1, t2 = lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3
            p, q = coef
            beta = (-q - p * t1) / (t2 - t1)
            alpha = p - beta
            parts = [(alpha, -alpha * t1), (beta, -beta * t2)] + [(ZERO, ZERO)] * (copies - 2)
        else:
            parts = [coef]
        for part in parts:
            got = _neuron(pc, part, xs)
            if got is None:
                return None
            built.append(got[0])
            shift += got[1]
    return Shallow(coefficients[0] + shift, tuple(built))


def best_risks(xs, ys, max_width: int) -> list[Level]:
    """m_0, ..., m_max_width of ReLU networks with 1-d input on the data, exactly.

    For each pattern (one closed set per neuron, ``_pieces``) the realizations form a union of
    polyhedral cones; the minimum over a union of cones is attained on a face, and each face is a
    pattern of lower kinds (kink, dead). So m_h = min over patterns whose least-squares solution lies
    in the pattern's set. When a pattern's system is rank-deficient and the particular solution
    found is outside the set, the solutions along a one-dimensional null space are searched exactly;
    with a larger null space another solution might lie inside: that pattern's least-squares risk is
    kept as a lower bound only, and ``Level.lower < Level.upper`` reports the bracket."""
    levels = []
    for h in range(max_width + 1):
        upper, lower, best, count = None, None, None, 0
        for _pattern, ls, net in critical_points(xs, ys, h):
            count += 1
            if net is not None:
                if upper is None or ls.risk < upper:
                    upper, best = ls.risk, net
            elif len(ls.null_space) > 1:
                lower = ls.risk if lower is None else min(lower, ls.risk)
        lo = upper if lower is None else min(lower, upper)
        levels.append(Level(h, lo, upper, best, count))
    return levels


def residual_correlating_neuron(net: Shallow, xs, ys, act: ExactActivation = RELU, scale=1):
    """[GM] Prop 3.11's step, constructively: a neuron (w, b) with <r, a(<w, x> + b)> != 0 for the
    residual r = y - N(x) (exists when r != 0 and a is discriminatory), and the exact outgoing weight
    v = <r, phi> / |phi|^2 that minimizes the risk along it. Candidates: w = scale * (1, s, s^2, ...)
    for a few s (a direction separating the points), kinks at the points and between them.
    Returns (Neuron, risk decrease) or None if no candidate correlates."""
    pts = as_points(xs)
    r = [F(y) - net(x, act) for x, y in zip(pts, ys)]
    d = len(pts[0])
    for s in (F(1, 1000), F(1, 7), F(3, 1001), ONE):
        w = tuple(F(scale) * s ** k for k in range(d))
        proj = sorted({sum((wi * xi for wi, xi in zip(w, x)), ZERO) for x in pts})
        if len(proj) < len(set(pts)):
            continue  # this direction does not separate the points
        cuts = [proj[0] - 1] + [(a + b) / 2 for a, b in zip(proj, proj[1:])] + proj
        for t in cuts:
            phi = [act.value(sum((wi * xi for wi, xi in zip(w, x)), ZERO) - t) for x in pts]
            corr = sum((a * b for a, b in zip(r, phi)), ZERO)
            if corr != 0:
                norm = sum((p * p for p in phi), ZERO)
                v = corr / norm
                return Neuron(w, -t, v), corr * corr / norm / len(pts)
    return None


def certify_by_reduction(net: Shallow, xs, ys, levels: Sequence[Fraction], act: ExactActivation = RELU) -> bool:
    """Exact certificate ([GM] proof of Lemma 2.11(ii)) that ``net`` is a local minimum, given the
    exact best risks ``levels[h] = m_h``: every neuron whose pre-activation is < 0 at every data
    point stays inactive in a neighbourhood (a = 0 on (-inf, 0]), so there L_H(theta') =
    L_h(theta' without them) >= m_h, h the number of the other neurons; True iff L_H(net) = m_h,
    i.e. the lower bound is attained at ``net``."""
    pts = as_points(xs)
    if act.value(-ONE) != 0 or act.value(ZERO) != 0:
        return False
    live = [n for n in net.neurons if not all(n.pre(x) < 0 for x in pts)]
    if len(live) >= len(levels):
        return False
    return risk(net, xs, ys, act) == levels[len(live)]


def hessian_descent(net: Shallow, xs, ys, act: ExactActivation = RELU):
    """Second-order test: the float64 Hessian of the risk in (c, w_j, b_j, v_j) at ``net`` (on the
    piece containing it), its most negative eigenvalue lambda and eigenvector e; returns
    (lambda, eps) for the first eps = 2^-k, k = 2..40, with L(net + eps e) < L(net) evaluated
    exactly (e rounded to a rational), or None if lambda >= 0 or no such eps: a saddle is certified
    by an exact decrease, never by a float comparison."""
    import torch

    pts = as_points(xs)
    d = len(pts[0])
    x = torch.tensor([[float(t) for t in p] for p in pts], dtype=torch.float64)
    y = torch.tensor([float(t) for t in ys], dtype=torch.float64)
    flat = [net.c] + [e for n in net.neurons for e in (*n.w, n.b, n.v)]

    def unflat(vec):
        blocks = [vec[1 + k * (d + 2): 1 + (k + 1) * (d + 2)] for k in range(net.width)]
        return vec[0], [(blk[:d], blk[d], blk[d + 1]) for blk in blocks]

    if act is not RELU:
        raise ValueError("hessian_descent is implemented for ReLU")
    torch_act = torch.relu

    def f(vec):
        c, neurons = unflat(vec)
        out = c + sum((v * torch_act(x @ w + b) for w, b, v in neurons), torch.zeros_like(y))
        return ((out - y) ** 2).mean()

    theta = torch.tensor([float(e) for e in flat], dtype=torch.float64)
    hess = torch.autograd.functional.hessian(f, theta)
    vals, vecs = torch.linalg.eigh(hess)
    lam = float(vals[0])
    if lam >= 0:
        return None
    e = [F(float(t)) for t in vecs[:, 0]]
    base = risk(net, xs, ys, act)
    for k in range(2, 41):
        eps = F(1, 2 ** k)
        moved = [a + eps * b for a, b in zip(flat, e)]
        c, neurons = moved[0], []
        for j in range(net.width):
            chunk = moved[1 + j * (d + 2): 1 + (j + 1) * (d + 2)]
            neurons.append(Neuron(tuple(chunk[:d]), chunk[d], chunk[d + 1]))
        if risk(Shallow(c, tuple(neurons)), xs, ys, act) < base:
            return lam, eps
    return None


def with_neuron(net: Shallow, neuron: Neuron) -> Shallow:
    return Shallow(net.c, net.neurons + (neuron,))


# ---------------------------------------------------------------------- deep networks, exactly
@dataclass(frozen=True)
class Deep:
    """A fully-connected ReLU network in Fractions: ``weights[k][i][j]`` maps unit j of layer k to
    unit i of layer k+1; hidden layers are followed by ReLU (relu'(0) = 0, PyTorch's choice)."""
    weights: tuple  # tuple of matrices (tuples of tuples of Fractions)
    biases: tuple  # tuple of vectors

    @staticmethod
    def from_torch(net, index: int = 0) -> "Deep":
        """Network ``index`` of a batched ``kinkcheck.harness.core.networks.Network``, exactly (every
        float is a dyadic rational)."""
        ws = tuple(tuple(tuple(F(float(e)) for e in row) for row in w[index].tolist()) for w in net.weights)
        bs = tuple(tuple(F(float(e)) for e in b[index].tolist()) for b in net.biases)
        return Deep(ws, bs)

    def forward(self, x):
        """(pre-activations of every hidden layer, activations incl. input, output vector)."""
        a, pres, acts = list(x), [], [list(x)]
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = [sum((wij * aj for wij, aj in zip(row, a)), ZERO) + bi for row, bi in zip(w, b)]
            if k < len(self.weights) - 1:
                pres.append(z)
                a = [t if t > 0 else ZERO for t in z]
                acts.append(a)
            else:
                a = z
        return pres, acts, a


def deep_risk_and_gradient(net: Deep, xs, ys):
    """Exact MSE risk (mean over points and outputs) and its gradient, as
    (risk, outputs, [dW_1, dB_1, dW_2, dB_2, ...]) with nested tuples shaped like the parameters."""
    pts = [tuple(F(t) for t in x) for x in xs]
    targets = [tuple(F(t) for t in (y if isinstance(y, (tuple, list)) else (y,))) for y in ys]
    n_out = len(net.biases[-1])
    total = len(pts) * n_out
    gw = [[[ZERO] * len(w[0]) for _ in w] for w in net.weights]
    gb = [[ZERO] * len(b) for b in net.biases]
    risk, outs = ZERO, []
    for x, y in zip(pts, targets):
        pres, acts, out = net.forward(x)
        outs.append(tuple(out))
        risk += sum(((o - t) ** 2 for o, t in zip(out, y)), ZERO)
        delta = [2 * (o - t) / total for o, t in zip(out, y)]
        for k in range(len(net.weights) - 1, -1, -1):
            a = acts[k]
            for i, di in enumerate(delta):
                gb[k][i] += di
                if di:
                    for j, aj in enumerate(a):
                        gw[k][i][j] += di * aj
            if k == 0:
                break
            w = net.weights[k]
            delta = [sum((w[i][j] * delta[i] for i in range(len(delta))), ZERO) if pres[k - 1][j] > 0 else ZERO
                     for j in range(len(a))]
    grads = []
    for w, b in zip(gw, gb):
        grads += [tuple(tuple(r) for r in w), tuple(b)]
    return risk / total, outs, grads
