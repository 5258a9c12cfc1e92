"""An independent float64 reference of L-BFGS (the two-loop recursion, Nocedal & Wright, Numerical
Optimization, Alg. 7.4 and eq. (7.20)) as torch.optim.LBFGS documents it, with a running error bound.

The family has no closed-form per-coordinate recursion (the step depends on the whole history), so T4
compares it on its own cases: a quadratic objective f(x) = 1/2 x^T A x + b^T x (A symmetric positive
definite), whose gradient fl(A x + b) the suite computes and hands to the subject in ``p.grad``
(never through autograd, so that subject and reference see the same function of the iterate), and
``line_search_fn=None`` (fixed steps: t = min(1, 1/||g||_1) lr at the first iteration, lr after).

Every quantity the reference computes carries an absolute error bound against the exact-arithmetic
run from the same start (Higham, Accuracy and Stability of Numerical Algorithms, sec. 3.3, running
error analysis, first order): a dot product of n terms errs by at most gamma_n(u) sum |a_i b_i| plus
the propagated input errors, a product or sum of rounded inputs by u |result| plus the propagated
ones, a quotient a/b by (e_a + |a/b| e_b) / (|b| - e_b) + u |a/b|. A correct implementation that
orders its operations differently errs by the same bound, so subject and reference may differ by
twice the reference's bound (``Tracked.e``). The algorithm branches (a curvature pair is kept when
y^T s > 1e-10, iterations stop on tolerances): where a branch's value lies within its error bound of
the threshold, the exact run could take either side and the comparison ends there
(``Ambiguous``), counted by the test, never judged.

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
    """a > threshold in exact arithmetic, or Ambiguous."""
    value, err = float(a.v), float(a.e)
    if abs(value - threshold) <= err:
        raise Ambiguous(f"{what}: {value!r} is within its rounding bound {err:.3g} of {threshold!r}")
    return value > threshold


def max_abs_at_most(a: Tracked, threshold: float, what: str) -> bool:
    lo, hi = a.abs_max()
    if hi <= threshold:
        return True
    if lo > threshold:
        return False
    raise Ambiguous(f"{what}: max |.| in [{lo:.3g}, {hi:.3g}] straddles {threshold!r}")


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
    """torch.optim.LBFGS's documented algorithm with ``line_search_fn=None``, one step() call at a time."""

    objective: Quadratic
    x: Tracked
    lr: float = 1.0
    max_iter: int = 20
    max_eval: int | None = None
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    history_size: int = 100
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
            self.x = axpy(self.x, self.t, self.d)
            opt_cond = False
            if n_iter != self.max_iter:
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
