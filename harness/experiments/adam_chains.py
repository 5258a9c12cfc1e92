"""Many independent Adam chains on f(θ) = E(θ − X)², vectorised over chains, float64 ([NV] Thm 1.1).

The chain of [NV] (THEOREMS.md T9, "Shared definitions" recursion, ε outside the root, zero state):

    g_n = 2 (θ_{n−1} − mean of a fresh mini-batch of J samples of X)
    m_n = β₁ m_{n−1} + (1 − β₁) g_n,   v_n = β₂ v_{n−1} + (1 − β₂) g_n²
    θ_n = θ_{n−1} − γ_n (m_n / (1 − β₁ⁿ)) / (ε + √(v_n / (1 − β₂ⁿ)))

``ReferenceAdam`` implements it directly (never via torch.optim); ``SubjectAdam`` runs an optimizer
subject of family adam on a (chains,) parameter tensor (equivalent: Adam is elementwise).

``coupled_run`` is the coupling experiment: chains come in pairs fed *the same* mini-batches
(so, elementwise and deterministic, they stay bit-identical) up to step s, and independent
fresh mini-batches at step s + 1; |θ'_{s+1} − θ''_{s+1}| is then a draw of the distance between
two conditionally independent successors of the same state. Several split steps s run at once
in separate groups of pairs.

Growing mini-batches (the J_n → ∞ contrast): the mean of J i.i.d. samples of X is drawn exactly
from its own law (``sample_batch_mean``: N(0, 1/J), Gamma(J, 1)/J, Binomial(J, 1/2)/J), so J may
be astronomically large at no cost.

``adam_step_bound`` is the deterministic bound on Adam's normalised step (Cauchy–Schwarz on the
moment sums, valid for every β₁ ∈ [0,1), β₂ ∈ (0,1), ε > 0 and every gradient stream):
|θ_n − θ_{n−1}| ≤ γ_n · B_n.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import math

import torch

from kinkcheck.harness.subjects.specs import OptimizerSubject, check_finite
from kinkcheck.harness.core.training import guarded_step

LAWS = ("gaussian", "exponential", "two-point")


def sample_law(law: str, shape, generator: torch.Generator, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Samples of X: N(0, 1), Exp(1), or uniform on {0, 1} (all with Var X > 0)."""
    if law == "gaussian":
        return torch.randn(shape, generator=generator, dtype=dtype, device=device)
    if law == "exponential":
        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        return -torch.log1p(-u)
    if law == "two-point":
        return (torch.rand(shape, generator=generator, dtype=dtype, device=device) < 0.5).to(dtype)
    raise ValueError(f"unknown law {law!r}; choose from {LAWS}")


LAW_MEAN = {"gaussian": 0.0, "exponential": 1.0, "two-point": 0.5}


def sample_batch_mean(law: str, batch: int, shape, generator: torch.Generator, dtype=torch.float64,
                      device="cpu") -> torch.Tensor:
    """The mean of ``batch`` i.i.d. samples of X, drawn exactly from its law (any batch >= 1):
    N(0, 1/J); Gamma(J, 1)/J (exponential); Binomial(J, 1/2)/J (two-point)."""
    if law == "gaussian":
        return torch.randn(shape, generator=generator, dtype=dtype, device=device) / math.sqrt(batch)
    if law == "two-point":
        count = torch.full(shape, float(batch), dtype=torch.float64, device=device)
        return (torch.binomial(count, torch.full_like(count, 0.5), generator=generator) / batch).to(dtype)
    if law == "exponential":  # torch's gamma sampler has no generator argument: seed a forked global RNG
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
        with torch.random.fork_rng(devices=[] if str(device) == "cpu" else [device]):
            torch.manual_seed(seed)
            shape_t = torch.full(shape, float(batch), dtype=torch.float64, device=device)
            return (torch._standard_gamma(shape_t) / batch).to(dtype)
    raise ValueError(f"unknown law {law!r}; choose from {LAWS}")


def adam_step_bound(beta1: float, beta2: float, n: int) -> float:
    """B_n with |m̂_n| / √v̂_n ≤ B_n for every gradient stream (so |θ_n − θ_{n−1}| ≤ γ_n B_n, ε > 0).

    m_n = (1−β₁) Σ_k β₁^{n−k} g_k and v_n = (1−β₂) Σ_k β₂^{n−k} g_k²; Cauchy–Schwarz with weights
    β₂^{n−k} gives |m_n| ≤ (1−β₁)/√(1−β₂) · √v_n · √(Σ_{j<n} (β₁²/β₂)^j); the bias corrections
    contribute √(1−β₂ⁿ)/(1−β₁ⁿ)."""
    r = beta1 * beta1 / beta2
    geometric = float(n) if r == 1 else (1 - r**n) / (1 - r)
    return (1 - beta1) * math.sqrt(1 - beta2**n) / ((1 - beta1**n) * math.sqrt(1 - beta2)) * math.sqrt(geometric)


class ReferenceAdam:
    """The papers' Adam recursion over a (chains,) tensor of independent scalar parameters."""

    def __init__(self, theta0: torch.Tensor, beta1: float, beta2: float, eps: float):
        self.theta = theta0.clone()
        self.m = torch.zeros_like(theta0)
        self.v = torch.zeros_like(theta0)
        self.beta1, self.beta2, self.eps, self.n = beta1, beta2, eps, 0

    def step(self, grad: torch.Tensor, lr: float) -> None:
        self.n += 1
        b1, b2 = self.beta1, self.beta2
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        m_hat = self.m / (1 - b1 ** self.n)
        v_hat = self.v / (1 - b2 ** self.n)
        self.theta = self.theta - lr * m_hat / (self.eps + torch.sqrt(v_hat))


class SubjectAdam:
    """An optimizer subject (family adam) over one (chains,) leaf tensor; lr set per step through
    ``param_groups`` (the scheduler protocol)."""

    def __init__(self, subject: OptimizerSubject, theta0: torch.Tensor, beta1: float, beta2: float, eps: float,
                 lr: float):
        self.subject = subject
        self.param = theta0.clone().requires_grad_(True)
        self.optimizer = subject.build([self.param], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=0.0)
        self.n = 0

    @property
    def theta(self) -> torch.Tensor:
        return self.param.detach()

    def step(self, grad: torch.Tensor, lr: float) -> None:
        self.n += 1
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.param.grad = grad.clone()
        guarded_step(self.optimizer, self.subject, None, self.n)
        check_finite(self.subject, [self.param], f"after step {self.n} of the Adam chains")


@dataclass
class CoupledRun:
    splits: list[int]
    differences: dict[int, torch.Tensor]  # split s -> |θ'_{s+1} − θ''_{s+1}| over C pairs
    snapshots: dict[int, torch.Tensor]  # step -> θ of the first copies (G*C independent chains)
    coupled_exactly: bool  # every pair was bit-identical just before its split step


def coupled_run(make_stepper: Callable[[torch.Tensor], object], law: str, batch: int | Callable[[int], int],
                chains: int, splits: list[int], steps: int, lr: Callable[[int], float], generator: torch.Generator,
                snapshot_steps=(), dtype=torch.float64, device="cpu",
                on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> CoupledRun:
    """Run 2 x len(splits) x chains chains for ``steps`` steps (see the module docstring).

    ``batch``: the mini-batch size J, or a schedule k -> J_k (then batch means are drawn exactly,
    ``sample_batch_mean``). ``on_step(k, theta_before, theta_after)`` sees every step of every chain."""
    groups = len(splits)
    theta0 = torch.full((2 * groups * chains,), LAW_MEAN[law], dtype=dtype, device=device)
    stepper = make_stepper(theta0)
    split_t = torch.tensor(splits, device=device).view(groups, 1, 1)
    differences, snapshots, coupled = {}, {}, True
    for k in range(1, steps + 1):
        if callable(batch):
            xbar = sample_batch_mean(law, batch(k), (2, groups, chains), generator, dtype, device)
        else:
            xbar = sample_law(law, (2, groups, chains, batch), generator, dtype, device).mean(dim=-1)
        shared = (k <= split_t).squeeze(-1)  # (G, 1): pairs of group g share batches up to its split
        xbar = torch.stack([xbar[0], torch.where(shared, xbar[0], xbar[1])])
        theta = stepper.theta.view(2, groups, chains)
        for g, s in enumerate(splits):
            if k == s + 1:
                coupled = coupled and bool((theta[0, g] == theta[1, g]).all())
        before = stepper.theta.clone() if on_step is not None else None
        grad = 2 * (theta - xbar)
        stepper.step(grad.reshape(-1), lr(k))
        if on_step is not None:
            on_step(k, before, stepper.theta)
        theta = stepper.theta.view(2, groups, chains)
        for g, s in enumerate(splits):
            if k == s + 1:
                differences[s] = (theta[0, g] - theta[1, g]).abs().clone()
        if k in snapshot_steps:
            snapshots[k] = theta[0].reshape(-1).clone()
    return CoupledRun(list(splits), differences, snapshots, coupled)
