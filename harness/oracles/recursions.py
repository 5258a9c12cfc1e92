"""Reference recursions (T4): independent float64 implementations of each family's update rule.

Written from the papers' equations ([GM] Lemmas 4.8, 4.9; [CUT] eqs. (22)-(23) RMSProp,
(28)-(30) Adam; Kingma & Ba; Chen et al. 2023 Alg. 2 for Lion) and from the algorithms *documented*
in torch.optim's docstrings (the LaTeX pseudo-code) -- never by calling torch.optim.

One reference follows one parameter (a torch.optim optimizer keeps its state, step counter included,
per parameter): it starts from zero state, its state is created at its first step (as torch.optim
creates it at the first step where the parameter has a gradient), and ``step(grad, hp)`` reads the
hyperparameters of the parameter's group *at that step* (an LR scheduler writes them into
``param_groups`` between steps). A parameter whose gradient is None takes no step: its reference is
not called. Hyperparameters use torch.optim's names and defaults; ``maximize`` negates the gradient
first, as torch.optim does. The Adam-like and Adagrad/RMSprop/Adadelta references live in
``adaptive_recursions``, the matrix-shaped ones (Adafactor, Muon) in ``matrix_recursions``; the
driver that runs a subject beside them is ``contract_runs``.
"""
from __future__ import annotations

import contextlib
import math

import torch

from kinkcheck.harness.subjects.families import FAMILIES

# --- one-step rounding error bounds (T4 in float32, bfloat16, float16) ---------------------------------

_ROUNDING = {"u": 0.0, "u_acc": 0.0, "eta": 0.0}


@contextlib.contextmanager
def rounding(u: float, u_acc: float, eta: float = 0.0):
    """Inside: every operation on a ``Bounded`` value is charged the unit roundoff ``u`` of the
    subject's dtype and the absolute underflow error ``eta`` (half its smallest subnormal), a
    reduction's accumulation ``u_acc`` per term (see ``Bounded``)."""
    old = dict(_ROUNDING)
    _ROUNDING.update(u=u, u_acc=u_acc, eta=eta)
    try:
        yield
    finally:
        _ROUNDING.update(old)


def _gamma(n: int, u: float) -> float:
    """gamma_n(u) = n u / (1 - n u) (Higham, Lemma 3.1)."""
    return n * u / (1 - n * u) if n * u < 1 else math.inf


class Bounded:
    """A quantity of the recursion as a subject computes it in a low precision: ``x`` its exact value
    (float64), ``e`` an elementwise bound on |x_subject - x|, where x_subject is the value an
    implementation of the same formula obtains when every operation it performs is correctly rounded
    to unit roundoff u (``rounding``) -- a running error analysis (Higham, Accuracy and Stability of
    Numerical Algorithms, Sec. 3.3), rigorous to all orders:

    * inputs read from the subject (its iterate, its stored state, the gradient it was given) are exact:
      e = 0; a Python number met by a tensor operation is rounded to the dtype first: e = u |c|;
    * every rounding of a result x is |fl(x) - x| <= u |x| + eta with eta half the dtype's smallest
      subnormal (Higham, Sec. 2.1, eq. (2.8): gradual underflow; float16 state such as (1 - beta2) g^2
      of a decayed coordinate reaches its subnormals, 6e-8);
    * a + b: e = e_a + e_b, then the rounding of the result: e <- e + u (|x| + e) (the subject rounds
      its own value, which lies within e of x);
    * a b: e = |a| e_b + |b| e_a + e_a e_b, then rounded;
    * a / b: |a'/b' - a/b| <= (e_a + |a/b| e_b) / (|b| - e_b) when |b| > e_b (else unbounded), rounded;
    * sqrt(a): |sqrt(a') - sqrt(a)| <= min(sqrt(e_a), e_a / (sqrt(a) + sqrt(max(a - e_a, 0)))), rounded;
    * max, min, clamp, abs, negation: e carries over (1-Lipschitz, exact on representable values);
    * sign(a): exact where |a| > e_a; within e_a of 0 either sign or 0 may be right: e = 1 + |sign(a)|;
    * a sum or mean of n terms (a reduction; also a norm and a matrix product) accumulates in at least
      float32, as torch's CPU/CUDA reductions do for bfloat16/float16: e = sum e_i + gamma_n(u_acc) sum
      |x_i|, then rounded to the dtype (u); a subject that accumulates a long sum in bfloat16 is outside.

    Charging u to every operation, including the ones an implementation fuses or runs in float32
    ("opmath") and rounds once, makes the bound an upper bound for for-loop, foreach and fused paths
    alike. The reference runs its unchanged update on Bounded values (``Reference.step_from``)."""

    __slots__ = ("x", "e")

    def __init__(self, x, e=None):
        self.x = x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=torch.float64)
        self.e = torch.zeros_like(self.x) if e is None else e

    # --- construction
    @staticmethod
    def lift(v) -> "Bounded":
        if isinstance(v, Bounded):
            return v
        if isinstance(v, torch.Tensor):
            return Bounded(v.to(torch.float64))
        x = torch.tensor(float(v), dtype=torch.float64)
        return Bounded(x, _ROUNDING["u"] * x.abs())

    @staticmethod
    def _rounded(x, e) -> "Bounded":
        rounded = e + _ROUNDING["u"] * (x.abs() + e) + _ROUNDING["eta"]
        return Bounded(x, torch.where((x == 0) & (e == 0), e, rounded))  # an exact 0 is computed exactly

    # --- shape
    @property
    def shape(self):
        return self.x.shape

    def dim(self):
        return self.x.dim()

    def numel(self):
        return self.x.numel()

    def clone(self):
        return Bounded(self.x.clone(), self.e.clone())

    def reshape(self, *shape):
        return Bounded(self.x.reshape(*shape), self.e.reshape(*shape))

    def __repr__(self):
        return f"Bounded(x={self.x}, e={self.e})"

    # --- arithmetic
    def __add__(self, other):
        o = Bounded.lift(other)
        return Bounded._rounded(self.x + o.x, self.e + o.e)

    __radd__ = __add__

    def __sub__(self, other):
        o = Bounded.lift(other)
        return Bounded._rounded(self.x - o.x, self.e + o.e)

    def __rsub__(self, other):
        return Bounded.lift(other) - self

    def __neg__(self):
        return Bounded(-self.x, self.e)

    def __mul__(self, other):
        o = Bounded.lift(other)
        return Bounded._rounded(self.x * o.x, self.x.abs() * o.e + o.x.abs() * self.e + self.e * o.e)

    __rmul__ = __mul__

    def __truediv__(self, other):
        o = Bounded.lift(other)
        x = self.x / o.x
        margin = o.x.abs() - o.e
        e = torch.where(margin > 0, (self.e + x.abs() * o.e) / margin.clamp_min(torch.finfo(torch.float64).tiny),
                        torch.full_like(x, math.inf))
        return Bounded._rounded(x, e)

    def __rtruediv__(self, other):
        return Bounded.lift(other) / self

    def __pow__(self, n):
        if n != 2:
            raise NotImplementedError(f"Bounded ** {n}")
        return self * self

    def __matmul__(self, other):
        o = Bounded.lift(other)
        k = self.x.shape[-1]
        x = self.x @ o.x
        e = (self.x.abs() @ o.e + self.e @ o.x.abs() + self.e @ o.e
             + (_gamma(k - 1, _ROUNDING["u_acc"]) if k > 1 else 0.0) * (self.x.abs() @ o.x.abs()))
        return Bounded._rounded(x, e)

    def abs(self):
        return Bounded(self.x.abs(), self.e)

    def sqrt(self):
        a = self.x.clamp_min(0)
        s = a.sqrt()
        lower = (a - self.e).clamp_min(0).sqrt()
        den = s + lower
        e = torch.minimum(self.e.sqrt(), torch.where(den > 0, self.e / den.clamp_min(1e-300), self.e.sqrt()))
        return Bounded._rounded(s, e)

    def rsqrt(self):
        return Bounded(torch.ones_like(self.x)) / self.sqrt()

    def clamp(self, min=None, max=None):
        out = self
        if min is not None:
            out = _maximum(out, Bounded.lift(min))
        if max is not None:
            out = -_maximum(-out, -Bounded.lift(max))
        return out

    clamp_min = clamp

    def sum(self, dim=None, keepdim=False):
        n = self.x.numel() if dim is None else self.x.shape[dim]
        if dim is None:
            x, e, a = self.x.sum(), self.e.sum(), self.x.abs().sum()
        else:
            x, e, a = (t.sum(dim=dim, keepdim=keepdim) for t in (self.x, self.e, self.x.abs()))
        return Bounded._rounded(x, e + (_gamma(n - 1, _ROUNDING["u_acc"]) if n > 1 else 0.0) * a)

    def mean(self, dim=None, keepdim=False):
        n = self.x.numel() if dim is None else self.x.shape[dim]
        return self.sum(dim=dim, keepdim=keepdim) / float(n)

    def norm(self):
        return (self * self).sum().sqrt()

    # --- torch functions
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FUNCTIONS:
            return _FUNCTIONS[func](*args, **kwargs)
        raise TypeError(f"Bounded: {func} is not modelled (add its rounding rule)")


def _maximum(a, b):
    a, b = Bounded.lift(a), Bounded.lift(b)
    return Bounded(torch.maximum(a.x, b.x), torch.maximum(a.e, b.e))


def _sign(a):
    a = Bounded.lift(a)
    s = torch.sign(a.x)
    return Bounded(s, torch.where((a.x.abs() > a.e) | (a.e == 0), torch.zeros_like(s), 1 + s.abs()))


def _where(cond, a, b):
    if isinstance(cond, Bounded):
        raise TypeError("Bounded: a branch on a rounded condition (use plain() where it is certain)")
    a, b = Bounded.lift(a), Bounded.lift(b)
    return Bounded(torch.where(cond, a.x, b.x), torch.where(cond, a.e, b.e))


def _like(func):
    def make(t, *args, **kwargs):
        return func(t.x if isinstance(t, Bounded) else t, *args, **kwargs)
    return make


_FUNCTIONS = {
    torch.sqrt: lambda a: Bounded.lift(a).sqrt(),
    torch.rsqrt: lambda a: Bounded.lift(a).rsqrt(),
    torch.maximum: _maximum,
    torch.sign: _sign,
    torch.where: _where,
    torch.clamp: lambda a, min=None, max=None: Bounded.lift(a).clamp(min, max),
    torch.zeros_like: _like(torch.zeros_like),
    torch.ones_like: _like(torch.ones_like),
    torch.full_like: _like(torch.full_like),
}


def subtract_both(theta, a, b):
    """theta - a - b, where an implementation may subtract a and b one after the other (torch's NAdam:
    two ``addcdiv_`` into the parameter, an intermediate iterate rounded) or their sum: on Bounded
    values the bound covers both orders -- (theta - a) - b as evaluated, plus u (|a| + |b|), the
    rounding of a + b in the other order."""
    out = theta - a - b
    if isinstance(out, Bounded):
        a, b = Bounded.lift(a), Bounded.lift(b)
        out = Bounded(out.x, out.e + _ROUNDING["u"] * (a.x.abs() + a.e + b.x.abs() + b.e))
    return out


def plain(t):
    """The exact value of ``t``; for a Bounded one, only where it is certain (e = 0 everywhere): a
    branch the recursion takes on it is then the branch the subject takes."""
    if isinstance(t, Bounded):
        if bool((t.e > 0).any()):
            raise ValueError("a branch on a value the subject holds only up to rounding")
        return t.x
    return t


class Reference:
    """One family's recursion for one parameter (its shape kept), in float64, zero initial state.

    ``STATE`` names the subject's state entries (``optimizer.state[p]``, torch.optim's keys) that hold
    this recursion's state attributes: ``step_from`` reads them, and ``state_deviation`` compares them."""

    STATE: dict = {}
    # state a user reads, compared in float64 runs too (``contract_axes.public_state_deviation``)
    PUBLIC: dict = {}

    def __init__(self, theta0: torch.Tensor, **hp):
        self.dtype = theta0.dtype  # the parameter's own dtype (Adafactor's eps1=None reads it)
        self.theta = theta0.detach().to(torch.float64).clone()
        self.t = 0
        self.started = False
        self.maximize = False
        self.configure(**hp)

    # --- to override
    def configure(self, **hp):  # pragma: no cover - overridden
        """Read the group's hyperparameters (called before every step)."""
        raise NotImplementedError

    def init_state(self):
        """Allocate the state, at the parameter's first step."""

    def update(self, g: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    # --- shared
    def zeros(self) -> torch.Tensor:
        return torch.zeros_like(self.theta.x if isinstance(self.theta, Bounded) else self.theta)

    def coupled_decay(self, g: torch.Tensor, weight_decay: float) -> torch.Tensor:
        """L2 penalty folded into the gradient: g <- g + lambda theta_{t-1}."""
        return g + weight_decay * self.theta if weight_decay else g

    def apply_decay(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(theta, g) after the family's weight decay: decoupled (AdamW, ``self.decoupled``) shrinks
        theta_{t-1} by 1 - lr lambda; coupled folds lambda theta_{t-1} into g."""
        if getattr(self, "decoupled", False):
            return self.theta * (1 - self.lr * self.wd), g
        return self.theta, self.coupled_decay(g, self.wd)

    def step(self, g: torch.Tensor, hp: dict | None = None) -> torch.Tensor:
        if hp is not None:
            self.configure(**hp)
        if not self.started:
            self.init_state()
            self.started = True
        self.t += 1
        g = g.detach().to(torch.float64).reshape(self.theta.shape)
        if isinstance(self.theta, Bounded):
            g = Bounded(g)
        self.theta = self.update(-g if self.maximize else g)
        return self.theta

    # --- one step from the subject's own iterate and state (T4 in low precision)
    def load(self, state) -> list[str]:
        """Take the subject's state (``optimizer.state[p]``) where it is readable under ``STATE``'s keys
        (and ``step``), exactly as the subject holds it (error bound 0) when it is held in the subject's
        dtype or a narrower one. A value held wider -- a Python float (ASGD's eta as a number), a float64
        tensor beside a float32 parameter -- is rounded into the dtype where a tensor operation meets it:
        e = u |value|, as for any Python number (``Bounded.lift``; call inside ``rounding``). Returns the
        keys read. A state attribute the subject does not expose keeps this reference's own value, with
        the error bound it has carried since its last step (``Bounded``): the unreadable state's rounding
        accumulates in the bound instead of being reset."""
        read = [k for k in ("step", *self.STATE) if isinstance(state, dict) and state.get(k) is not None]
        if not read:
            return read
        if not self.started:
            self.init_state()
            self.started = True
        for key in read:
            value = state[key]
            if key == "step":
                self.t = int(value.item() if isinstance(value, torch.Tensor) else value)
                continue
            setattr(self, self.STATE[key], _held(value))
        return read

    def step_from(self, theta: torch.Tensor, state, g: torch.Tensor, hp: dict, u: float, u_acc: float,
                  eta: float = 0.0):
        """One step of the recursion from the subject's iterate ``theta`` and its readable ``state``
        (both exact), every operation charged the unit roundoff ``u`` and underflow ``eta``
        (``Bounded``). Returns the Bounded new iterate and the state keys read."""
        self.theta = Bounded(theta.detach().to(torch.float64).clone())
        with rounding(u, u_acc, eta):
            read = self.load(state)
            self.step(g, hp)
        return self.theta, read

    # state this reference computes as a Python float: the number of rounded operations a subject may
    # spend on it (at least the one rounding into its dtype); see ASGD's eta
    SCALAR_OPS: dict = {}

    def state_deviation(self, state, u: float, eta: float = 0.0):
        """Per readable ``STATE`` key of the subject's state after the step: (key, |subject - x| - e)
        maximum over coordinates (> 0: outside the bound), with the coordinate. A state value this
        reference computed in Python (a float) is charged gamma_c(u) of it plus eta, c =
        ``SCALAR_OPS`` of that attribute (1: the rounding into the subject's dtype)."""
        out = []
        for key, attr in self.STATE.items():
            value = state.get(key) if isinstance(state, dict) else None
            mine = getattr(self, attr, None)
            if value is None or mine is None or not isinstance(value, (torch.Tensor, float, int)):
                continue
            if not isinstance(mine, Bounded):
                x = mine if isinstance(mine, torch.Tensor) else torch.tensor(float(mine), dtype=torch.float64)
                mine = Bounded(x, _gamma(self.SCALAR_OPS.get(attr, 1), u) * x.abs() + eta)
            sub = (value.detach().to(torch.float64) if isinstance(value, torch.Tensor)
                   else torch.tensor(float(value), dtype=torch.float64)).reshape(mine.x.shape)
            excess = (sub - mine.x).abs() - mine.e - 8 * 2.0 ** -53 * mine.x.abs()
            excess = torch.where((sub - mine.x) == 0, torch.zeros_like(excess), excess)
            i = int(excess.reshape(-1).argmax()) if excess.numel() else 0
            if excess.numel():
                out.append((key, float(excess.reshape(-1)[i]), i, float(sub.reshape(-1)[i]),
                            float(mine.x.reshape(-1)[i]), float(mine.e.reshape(-1)[i])))
        return out


def _held(value) -> Bounded:
    """A state value read from the subject (``Reference.load``): exact if its dtype is no wider than the
    one being charged (unit roundoff ``u``), else rounded into it on first use (e = u |value|)."""
    if not isinstance(value, torch.Tensor):
        return Bounded.lift(float(value))
    x = value.detach().to(torch.float64)
    if value.is_floating_point() and torch.finfo(value.dtype).eps / 2 < _ROUNDING["u"]:
        return Bounded(x, _ROUNDING["u"] * x.abs())
    return Bounded(x)


class SGD(Reference):
    """Gradient descent; heavy ball b_t = mu b_{t-1} + (1 - tau) g_t with b_1 = g_t ([GM] Lemma
    4.8: b_n = mu b_{n-1} + g_n when tau = 0); Nesterov: the step uses g_t + mu b_t."""

    def configure(self, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False,
                  decoupled_weight_decay=False, **_):
        self.lr, self.mu, self.tau, self.nesterov, self.wd = lr, momentum, dampening, nesterov, weight_decay
        self.maximize = maximize
        # torch.optim.SGD decays coupled (L2 in g); a subject that declares ?decay_law='decoupled' (SGDW,
        # Loshchilov & Hutter 2019) shrinks theta by 1 - lr lambda instead, its momentum fed g alone
        self.decoupled = decoupled_weight_decay

    STATE = {"momentum_buffer": "b"}

    def init_state(self):
        self.b = None

    def update(self, g):
        theta, g = self.apply_decay(g)
        if self.mu:
            self.b = g.clone() if self.b is None else self.mu * self.b + (1 - self.tau) * g
            g = g + self.mu * self.b if self.nesterov else self.b
        return theta - self.lr * g


class Rprop(Reference):
    """Per coordinate: if g_prev g_t > 0, eta <- min(eta eta_+, G_max); if < 0, eta <- max(eta eta_-,
    G_min) and g_t <- 0; theta -= eta sign(g_t); g_prev <- g_t (eta_0 = the lr of the parameter's
    first step, g_prev = 0; a later lr does not act, as documented: lr only initialises eta).

    The docs leave eta unchanged when g_prev g_t = 0; torch.optim clamps it into [G_min, G_max] in
    that branch too, which matters only when lr lies outside the step-size range. The reference
    follows torch.optim's behaviour there (a clamp is a no-op whenever lr is inside the range).
    """

    def configure(self, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), maximize=False, **_):
        self.lr, self.maximize = lr, maximize
        (self.eta_minus, self.eta_plus), (self.smin, self.smax) = etas, step_sizes

    STATE = {"prev": "prev", "step_size": "eta"}

    def init_state(self):
        self.eta = torch.full_like(self.theta, float(self.lr))
        self.prev = self.zeros()

    def update(self, g):
        # the sign of g * prev: exact for a subject too (prev is a stored gradient, the product of two
        # normal numbers keeps its sign), so the branch is the subject's branch
        s = plain(torch.sign(g * self.prev))
        factor = torch.ones_like(s)  # float64 (a where() on Python scalars would be float32)
        factor[s > 0] = self.eta_plus
        factor[s < 0] = self.eta_minus
        self.eta = torch.clamp(self.eta * factor, self.smin, self.smax)
        g = torch.where(s < 0, 0.0, g)
        self.prev = g
        return self.theta - self.eta * torch.sign(g)


class ASGD(Reference):
    """Averaged SGD (Polyak & Juditsky 1992, as torch.optim.ASGD documents it): theta <- theta (1 - lambd
    eta) - eta (g_t + wd theta), with eta = lr at the parameter's first step and, after step t,
    eta <- lr / (1 + lambd lr t)^alpha with that step's hyperparameters; the averaged iterate (public
    state, not the iterate) ax <- ax + mu (theta - ax) with mu = 1 at the first step (ax = theta) and,
    after step t, mu <- 1 / max(1, t - t0)."""

    def configure(self, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False, **_):
        self.lr, self.lambd, self.alpha, self.wd, self.maximize = lr, lambd, alpha, weight_decay, maximize
        self.t0 = t0

    STATE = {"eta": "eta", "mu": "mu", "ax": "ax"}
    PUBLIC = {"ax": "ax", "eta": "eta", "mu": "mu"}
    # eta = lr / (1 + lambd lr t)^alpha: two products, a sum, a power (exp and log), a quotient; torch's
    # foreach path evaluates it with float32 tensor operations; mu = 1 / max(1, t - t0): a difference and
    # a quotient
    SCALAR_OPS = {"eta": 7, "mu": 2}

    def init_state(self):
        self.eta, self.mu, self.ax = self.lr, 1.0, self.zeros()

    def update(self, g):
        g = self.coupled_decay(g, self.wd)
        theta = self.theta * (1 - self.lambd * self.eta) - self.eta * g
        self.ax = theta.clone() if self.mu == 1 else self.ax + self.mu * (theta - self.ax)
        self.eta = self.lr / (1 + self.lambd * self.lr * self.t) ** self.alpha
        self.mu = 1 / max(1, self.t - self.t0)
        return theta


class Lion(Reference):
    """Chen et al. 2023, Algorithm 2 (Lion): c_t = b1 m_{t-1} + (1 - b1) g_t;
    theta_t = theta_{t-1} - lr (sign(c_t) + lambda theta_{t-1}); m_t = b2 m_{t-1} + (1 - b2) g_t.
    sign(0) = 0 (a coordinate whose interpolation is exactly zero does not move)."""

    def configure(self, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, **_):
        self.lr, (self.b1, self.b2), self.wd = lr, betas, weight_decay

    STATE = {"exp_avg": "m"}  # lion-pytorch's and most implementations' name

    def init_state(self):
        self.m = self.zeros()

    def update(self, g):
        c = self.b1 * self.m + (1 - self.b1) * g
        self.m = self.b2 * self.m + (1 - self.b2) * g
        return self.theta * (1 - self.lr * self.wd) - self.lr * torch.sign(c)


def reference_class(family: str) -> type[Reference]:
    """The recursion the family's record names (``Family.reference``)."""
    from kinkcheck.harness.oracles import adaptive_recursions, matrix_recursions

    name = FAMILIES[family].reference
    if name is None:
        raise KeyError(f"family {family!r} has no reference recursion")
    for module in (adaptive_recursions, matrix_recursions):
        if hasattr(module, name):
            return getattr(module, name)
    return globals()[name]


def reference_for(family: str, theta0: torch.Tensor, hp: dict) -> Reference:
    return reference_class(family)(theta0, **hp)
