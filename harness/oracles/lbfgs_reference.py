"""An independent float64 reference of L-BFGS (the two-loop recursion, Nocedal & Wright, Numerical
Optimization, Alg. 7.4 and eq. (7.20)) as torch.optim.LBFGS documents it, with a running error bound.

The family has no closed-form per-coordinate recursion (the step depends on the whole history), so T4
compares it on its own cases: a quadratic objective f(x) = 1/2 x^T A x + b^T x (A symmetric positive
definite), whose gradient fl(A x + b) the suite computes and hands to the subject in ``p.grad``
(never through autograd, so that subject and reference see the same function of the iterate), and
``line_search_fn=None`` (fixed steps: t = min(1, 1/||g||_1) lr at the first iteration, lr after) or
``"strong_wolfe"`` (a line search for a step satisfying the strong Wolfe conditions, Nocedal & Wright
Alg. 3.5 (bracketing) and Alg. 3.6 (zoom) with cubic interpolation, eq. (3.59), as torch.optim documents it
and as minFunc / torch7's lswolfe.lua specify it: Armijo constant c1 = 1e-4, curvature constant c2 = 0.9,
extrapolation into [t + 0.01 (t - t_prev), 10 t], a zoom trial moved 0.1 of the bracket away from a bracket
end it comes too close to, at most max_eval - (evaluations so far) evaluations).

Every quantity the reference computes carries an absolute error bound against the exact-arithmetic
run from the same start (Higham, Accuracy and Stability of Numerical Algorithms, sec. 3.3, running
error analysis, first order): a dot product of n terms errs by at most gamma_n(u) sum |a_i b_i| plus
the propagated input errors, a product or sum of rounded inputs by u |result| plus the propagated
ones, a quotient a/b by (e_a + |a/b| e_b) / (|b| - e_b) + u |a/b|. A correct implementation that
orders its operations differently errs by the same bound, so subject and reference may differ by
twice the reference's bound (``Tracked.e``). The algorithm branches (a curvature pair is kept when
y^T s > 1e-10, iterations stop on tolerances, the line search tests the Wolfe conditions and orders its
bracket): where a branch's value lies within twice its error bound of the threshold (the exact value is
within the bound of the reference's, and a correct subject's within the bound of the exact one), a correct
subject could take either side and the comparison ends there (``Ambiguous``), counted by the test, never
judged.

Never calls torch.optim.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

U = 2.0 ** -53  # float64's unit roundoff


def gamma(n: int) -> float:
    return n * U / (1 - n * U)


class Ambiguous(Exception):
    """A branch of the algorithm is decided within the rounding bound: the comparison stops here."""


@dataclass
class Tracked:
    """A float64 value (scalar or vector) and its absolute error bound (same shape, non-negative)."""

    v: torch.Tensor
    e: torch.Tensor

    @staticmethod
    def exact(v) -> "Tracked":
        v = torch.as_tensor(v, dtype=torch.float64).clone()
        return Tracked(v, torch.zeros_like(v))

    def neg(self) -> "Tracked":
        return Tracked(-self.v, self.e.clone())

    def abs_max(self) -> tuple[float, float]:
        """(lower, upper) bounds of max |v_i| in exact arithmetic."""
        return float((self.v.abs() - self.e).clamp_min(0).max()), float((self.v.abs() + self.e).max())


def dot(a: Tracked, b: Tracked) -> Tracked:
    v = torch.dot(a.v, b.v)
    e = gamma(a.v.numel()) * (a.v.abs() * b.v.abs()).sum() + (a.e * b.v.abs() + a.v.abs() * b.e + a.e * b.e).sum()
    return Tracked(v, e)


def mul(a: Tracked, b: Tracked) -> Tracked:
    """Scalar times scalar, or scalar times vector (one rounding per entry)."""
    v = a.v * b.v
    return Tracked(v, a.v.abs() * b.e + a.e * b.v.abs() + a.e * b.e + U * v.abs())


def div(a: Tracked, b: Tracked) -> Tracked:
    if float(b.v.abs()) <= float(b.e):
        raise Ambiguous("a divisor within its rounding bound of 0")
    v = a.v / b.v
    return Tracked(v, (a.e + v.abs() * b.e) / (b.v.abs() - b.e) + U * v.abs())


def add(a: Tracked, b: Tracked) -> Tracked:
    v = a.v + b.v
    return Tracked(v, a.e + b.e + U * v.abs())


def axpy(x: Tracked, alpha: Tracked, y: Tracked) -> Tracked:
    """x + alpha y (alpha a scalar): two roundings per entry."""
    return add(x, mul(alpha, y))


def greater(a: Tracked, threshold: float, what: str) -> bool:
    """a > threshold for the exact run and every correct subject (each within a.e of the exact value, so
    within 2 a.e of the reference's), or Ambiguous."""
    value, err = float(a.v), float(a.e)
    if abs(value - threshold) <= 2 * err:
        raise Ambiguous(f"{what}: {value!r} is within twice its rounding bound {err:.3g} of {threshold!r}")
    return value > threshold


def max_abs_at_most(a: Tracked, threshold: float, what: str) -> bool:
    """max |a_i| <= threshold, decided as ``greater``: a correct subject's max lies in [lo - e, hi + e]."""
    lo, hi = a.abs_max()
    err = float(a.e.max()) if a.e.numel() else 0.0
    if hi + err <= threshold:
        return True
    if lo - err > threshold:
        return False
    raise Ambiguous(f"{what}: max |.| in [{lo:.3g}, {hi:.3g}] (+- {err:.3g}) straddles {threshold!r}")


def sub(a: Tracked, b: Tracked) -> Tracked:
    return add(a, b.neg())


def const(c: float) -> Tracked:
    """A float64 constant both sides use as written (c1 = 1e-4, 0.9, 10, ...): exact."""
    return Tracked.exact(float(c))


def tsqrt(a: Tracked) -> Tracked:
    """sqrt, rounded: |sqrt(a') - sqrt(a)| <= e / (sqrt(a) + sqrt(max(a - e, 0))), and <= sqrt(e)."""
    v = a.v.clamp_min(0).sqrt()
    den = v + (a.v - a.e).clamp_min(0).sqrt()
    e = a.e.sqrt() if float(den) == 0 else torch.minimum(a.e.sqrt(), a.e / den)
    return Tracked(v, e + U * v)


def tmax(a: Tracked, b: Tracked) -> Tracked:
    """max and min are 1-Lipschitz in each argument: the larger bound, whichever side wins."""
    return Tracked(torch.maximum(a.v, b.v), torch.maximum(a.e, b.e))


def tmin(a: Tracked, b: Tracked) -> Tracked:
    return Tracked(torch.minimum(a.v, b.v), torch.maximum(a.e, b.e))


def tabs(a: Tracked) -> Tracked:
    return Tracked(a.v.abs(), a.e)


def less_equal(a: Tracked, b: Tracked, what: str) -> bool:
    """a <= b for the exact run and every correct subject, or Ambiguous."""
    diff, err = float(a.v - b.v), float(a.e + b.e)
    if abs(diff) <= 2 * err:
        raise Ambiguous(f"{what}: {float(a.v)!r} and {float(b.v)!r} are within twice their rounding bounds "
                        f"{err:.3g}")
    return diff <= 0


def cubic_minimizer(x1: Tracked, f1: Tracked, g1: Tracked, x2: Tracked, f2: Tracked, g2: Tracked,
                    bounds=None) -> Tracked:
    """The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2) (Nocedal & Wright eq. (3.59), written
    from the point farther along), clamped into ``bounds`` (default: the interval between x1 and x2); the
    interval's midpoint when the cubic has no real critical point (d1^2 - g1 g2 < 0)."""
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if less_equal(x1, x2, "interpolation interval") else (x2, x1)
    d1 = sub(add(g1, g2), mul(const(3.0), div(sub(f1, f2), sub(x1, x2))))
    d2_square = sub(mul(d1, d1), mul(g1, g2))
    if not greater(d2_square, 0.0, "cubic interpolation: d1^2 - g1 g2 >= 0"):
        return mul(add(lo, hi), const(0.5))
    d2 = tsqrt(d2_square)
    if less_equal(x1, x2, "interpolation orientation"):
        a, ga, b, gb = x1, g1, x2, g2
    else:
        a, ga, b, gb = x2, g2, x1, g1
    ratio = div(sub(add(gb, d2), d1), add(sub(gb, ga), mul(const(2.0), d2)))
    min_pos = sub(b, mul(sub(b, a), ratio))
    return tmin(tmax(min_pos, lo), hi)


@dataclass
class Quadratic:
    """f(x) = 1/2 x^T A x + b^T x, evaluated as the suite hands it to the subject: g = fl(A x + b)."""

    A: torch.Tensor
    b: torch.Tensor

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.dot(x, self.A @ x) + torch.dot(self.b, x)

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        return self.A @ x + self.b

    def tracked_gradient(self, x: Tracked) -> Tracked:
        n = x.v.numel()
        v = self.gradient(x.v)
        e = self.A.abs() @ x.e + gamma(n + 1) * (self.A.abs() @ x.v.abs() + self.b.abs())
        return Tracked(v, e)

    def tracked_value(self, x: Tracked, g: Tracked) -> Tracked:
        n = x.v.numel()
        v = self.value(x.v)
        magnitude = 0.5 * torch.dot(x.v.abs(), self.A.abs() @ x.v.abs()) + torch.dot(self.b.abs(), x.v.abs())
        e = torch.dot(g.v.abs() + g.e, x.e) + gamma(n + 2) * magnitude
        return Tracked(v, e)


@dataclass
class LBFGSReference:
    """torch.optim.LBFGS's documented algorithm (``line_search_fn`` None or "strong_wolfe"), one step()
    call at a time."""

    objective: Quadratic
    x: Tracked
    lr: float = 1.0
    max_iter: int = 20
    max_eval: int | None = None
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    history_size: int = 100
    line_search_fn: str | None = None
    n_iter: int = 0
    func_evals: int = 0
    d: Tracked | None = None
    t: Tracked | None = None
    old_dirs: list = field(default_factory=list)
    old_stps: list = field(default_factory=list)
    ro: list = field(default_factory=list)
    H_diag: Tracked = field(default_factory=lambda: Tracked.exact(1.0))
    prev_flat_grad: Tracked | None = None
    prev_loss: Tracked | None = None

    def __post_init__(self):
        if self.max_eval is None:
            self.max_eval = self.max_iter * 5 // 4

    def step(self) -> Tracked:
        """One ``step(closure)``: the iterate after it (Ambiguous where a branch is within rounding)."""
        f = self.objective
        flat_grad = f.tracked_gradient(self.x)
        loss = f.tracked_value(self.x, flat_grad)
        current_evals = 1
        self.func_evals += 1
        if max_abs_at_most(flat_grad, self.tolerance_grad, "initial optimality (max |g| <= tolerance_grad)"):
            return self.x
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            self.n_iter += 1
            if self.n_iter == 1:
                self.d = flat_grad.neg()
                self.old_dirs, self.old_stps, self.ro = [], [], []
                self.H_diag = Tracked.exact(1.0)
            else:
                y = add(flat_grad, self.prev_flat_grad.neg())
                s = mul(self.t, self.d)
                ys = dot(y, s)
                if greater(ys, 1e-10, "curvature test y^T s > 1e-10"):
                    if len(self.old_dirs) == self.history_size:
                        self.old_dirs.pop(0)
                        self.old_stps.pop(0)
                        self.ro.pop(0)
                    self.old_dirs.append(y)
                    self.old_stps.append(s)
                    self.ro.append(div(Tracked.exact(1.0), ys))
                    self.H_diag = div(ys, dot(y, y))
                self.d = self._two_loop(flat_grad)
            self.prev_flat_grad = flat_grad
            self.prev_loss = loss
            if self.n_iter == 1:
                l1 = Tracked(flat_grad.v.abs().sum(), flat_grad.e.sum() + gamma(flat_grad.v.numel())
                             * flat_grad.v.abs().sum())
                inv = div(Tracked.exact(1.0), l1)
                # min(1, 1/|g|_1) is 1-Lipschitz in 1/|g|_1: its error bound is inv's, whichever side it takes
                first = Tracked(torch.minimum(inv.v, torch.ones_like(inv.v)), inv.e)
                self.t = mul(first, Tracked.exact(self.lr))
            else:
                self.t = Tracked.exact(self.lr)
            gtd = dot(flat_grad, self.d)
            if greater(gtd, -self.tolerance_change, "directional derivative g^T d > -tolerance_change"):
                break
            ls_func_evals = 0
            opt_cond = False
            if self.line_search_fn == "strong_wolfe":
                loss, flat_grad, self.t, ls_func_evals = self._strong_wolfe(
                    self.x, self.t, self.d, loss, flat_grad, gtd, max_ls=self.max_eval - current_evals)
                self.x = axpy(self.x, self.t, self.d)
                opt_cond = max_abs_at_most(flat_grad, self.tolerance_grad, "optimality (max |g| <= tolerance_grad)")
            elif self.line_search_fn is not None:
                raise ValueError(f"line_search_fn={self.line_search_fn!r}: only None and 'strong_wolfe'")
            else:
                self.x = axpy(self.x, self.t, self.d)
            if self.line_search_fn is None and n_iter != self.max_iter:
                flat_grad = f.tracked_gradient(self.x)
                loss = f.tracked_value(self.x, flat_grad)
                opt_cond = max_abs_at_most(flat_grad, self.tolerance_grad, "optimality (max |g| <= tolerance_grad)")
                ls_func_evals = 1
            current_evals += ls_func_evals
            self.func_evals += ls_func_evals
            if n_iter == self.max_iter:
                break
            if current_evals >= self.max_eval:
                break
            if opt_cond:
                break
            if max_abs_at_most(mul(self.t, self.d), self.tolerance_change, "step below tolerance_change"):
                break
            change = add(loss, self.prev_loss.neg())
            if not greater(Tracked(change.v.abs(), change.e), self.tolerance_change, "|loss change|"):
                break
        return self.x

    def _evaluate(self, x: Tracked, t: Tracked, d: Tracked) -> tuple[Tracked, Tracked, Tracked]:
        """f, g and g^T d at the trial point x + t d (as the subject forms it: one axpy into its parameters)."""
        trial = axpy(x, t, d)
        g = self.objective.tracked_gradient(trial)
        return self.objective.tracked_value(trial, g), g, dot(g, d)

    def _strong_wolfe(self, x, t, d, f, g, gtd, max_ls, c1=1e-4, c2=0.9):
        """A step t along d satisfying the strong Wolfe conditions f(x + t d) <= f + c1 t g^T d and
        |g(x + t d)^T d| <= c2 |g^T d| (Nocedal & Wright Alg. 3.5 and 3.6), as torch.optim.LBFGS documents
        it: bracketing by extrapolation (cubic interpolation clamped into [t + 0.01 (t - t_prev), 10 t]), then
        zoom (cubic interpolation inside the bracket, a trial within 0.1 of the bracket's length of an end
        moved to that distance when the previous trial was also that close or it lies at or beyond an end),
        at most ``max_ls`` evaluations, the bracket abandoned once |bracket| max|d| < tolerance_change.
        Returns (f, g, t, evaluations) at the accepted point (the bracket's lower end)."""
        C1, C2 = const(c1), const(c2)
        d_norm = Tracked(d.v.abs().max(), d.e.max())  # max |d_i|: 1-Lipschitz

        def armijo_fails(f_new, t_):
            return greater(sub(f_new, add(f, mul(mul(C1, t_), gtd))), 0.0, "Armijo condition f_new > f + c1 t g^T d")

        def curvature_holds(gtd_new):
            return not greater(sub(tabs(gtd_new), mul(C2, gtd).neg()), 0.0,
                               "strong Wolfe curvature |g_new^T d| <= -c2 g^T d")

        f_new, g_new, gtd_new = self._evaluate(x, t, d)
        evals = 1
        t_prev, f_prev, g_prev, gtd_prev = const(0.0), f, g, gtd
        done = False
        ls_iter = 0
        bracket = bracket_f = bracket_g = bracket_gtd = None
        while ls_iter < max_ls:
            if armijo_fails(f_new, t) or (ls_iter > 1 and not greater(sub(f_prev, f_new), 0.0,
                                                                      "no decrease f_new >= f_prev")):
                bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], \
                    [gtd_prev, gtd_new]
                break
            if curvature_holds(gtd_new):
                bracket, bracket_f, bracket_g, done = [t], [f_new], [g_new], True
                break
            if not greater(gtd_new.neg(), 0.0, "g_new^T d >= 0"):
                bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], \
                    [gtd_prev, gtd_new]
                break
            min_step = add(t, mul(const(0.01), sub(t, t_prev)))
            max_step = mul(t, const(10.0))
            previous = t
            t = cubic_minimizer(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
            t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new, gtd_new
            f_new, g_new, gtd_new = self._evaluate(x, t, d)
            evals += 1
            ls_iter += 1
        if ls_iter == max_ls:
            bracket, bracket_f, bracket_g = [const(0.0), t], [f, f_new], [g, g_new]

        def low_high():
            return (0, 1) if less_equal(bracket_f[0], bracket_f[-1], "bracket order f_0 <= f_1") else (1, 0)

        low_pos, high_pos = low_high() if len(bracket) > 1 else (0, 1)
        insufficient = False
        while not done and ls_iter < max_ls:
            if not greater(sub(mul(tabs(sub(bracket[1], bracket[0])), d_norm), const(self.tolerance_change)), 0.0,
                           "bracket |t_1 - t_0| max|d| below tolerance_change"):
                break
            t = cubic_minimizer(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
            top, bottom = tmax(bracket[0], bracket[1]), tmin(bracket[0], bracket[1])
            eps = mul(const(0.1), sub(top, bottom))
            if greater(sub(eps, tmin(sub(top, t), sub(t, bottom))), 0.0, "zoom trial within 0.1 of an end"):
                if (insufficient or not greater(sub(top, t), 0.0, "zoom trial at or beyond the upper end")
                        or not greater(sub(t, bottom), 0.0, "zoom trial at or beyond the lower end")):
                    if greater(sub(tabs(sub(t, bottom)), tabs(sub(t, top))), 0.0, "zoom trial nearer the upper end"):
                        t = sub(top, eps)
                    else:
                        t = add(bottom, eps)
                    insufficient = False
                else:
                    insufficient = True
            else:
                insufficient = False
            f_new, g_new, gtd_new = self._evaluate(x, t, d)
            evals += 1
            ls_iter += 1
            if armijo_fails(f_new, t) or not greater(sub(bracket_f[low_pos], f_new), 0.0,
                                                     "f_new >= f at the bracket's low end"):
                bracket[high_pos], bracket_f[high_pos], bracket_g[high_pos], bracket_gtd[high_pos] = \
                    t, f_new, g_new, gtd_new
                low_pos, high_pos = low_high()
            else:
                if curvature_holds(gtd_new):
                    done = True
                elif not greater(mul(gtd_new, sub(bracket[high_pos], bracket[low_pos])).neg(), 0.0,
                                 "g_new^T d (high - low) >= 0"):
                    bracket[high_pos], bracket_f[high_pos], bracket_g[high_pos], bracket_gtd[high_pos] = \
                        bracket[low_pos], bracket_f[low_pos], bracket_g[low_pos], bracket_gtd[low_pos]
                bracket[low_pos], bracket_f[low_pos], bracket_g[low_pos], bracket_gtd[low_pos] = \
                    t, f_new, g_new, gtd_new
        return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], evals

    def _two_loop(self, flat_grad: Tracked) -> Tracked:
        """H_k g by the two-loop recursion (Nocedal & Wright Alg. 7.4), initial scaling H_diag once."""
        q = flat_grad.neg()
        al = [None] * len(self.old_dirs)
        for i in range(len(self.old_dirs) - 1, -1, -1):
            al[i] = mul(dot(self.old_stps[i], q), self.ro[i])
            q = axpy(q, al[i].neg(), self.old_dirs[i])
        r = mul(self.H_diag, q)
        for i in range(len(self.old_dirs)):
            be_i = mul(dot(self.old_dirs[i], r), self.ro[i])
            r = axpy(r, add(al[i], be_i.neg()), self.old_stps[i])
        return r


def spd_quadratic(n: int, *, seed: int, low: float = 1.0, high: float = 10.0) -> Quadratic:
    """A symmetric positive definite A with eigenvalues near [low, high] and a b, from ``seed``.
    Well conditioned on purpose: the running error bound stays informative for the steps compared."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    eig = low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)
    a = q @ torch.diag(eig) @ q.T
    a = (a + a.T) / 2  # exactly symmetric as stored
    b = torch.randn(n, generator=gen, dtype=torch.float64) * 2
    return Quadratic(a, b)


def relative_informative(x: Tracked) -> float:
    """The largest error bound relative to the iterate's scale (a bound near 1 says nothing)."""
    scale = float(x.v.abs().max()) or 1.0
    return float(x.e.max()) / scale if math.isfinite(float(x.e.max())) else math.inf
