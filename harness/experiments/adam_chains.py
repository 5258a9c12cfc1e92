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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


def coupled_run(make_stepper: Callable[[torch.Tensor], object], law: str, batch: int, chains: int,
                splits: list[int], steps: int, lr: Callable[[int], float], generator: torch.Generator,
                snapshot_steps=(), dtype=torch.float64, device="cpu") -> CoupledRun:
    """Run 2 x len(splits) x chains chains for ``steps`` steps (see the module docstring)."""
    groups = len(splits)
    theta0 = torch.full((2 * groups * chains,), LAW_MEAN[law], dtype=dtype, device=device)
    stepper = make_stepper(theta0)
    split_t = torch.tensor(splits, device=device).view(groups, 1, 1)
    differences, snapshots, coupled = {}, {}, True
    for k in range(1, steps + 1):
        x = sample_law(law, (2, groups, chains, batch), generator, dtype, device)
        shared = (k <= split_t)  # (G, 1, 1): pairs of group g share batches up to its split
        x = torch.stack([x[0], torch.where(shared, x[0], x[1])])
        theta = stepper.theta.view(2, groups, chains)
        for g, s in enumerate(splits):
            if k == s + 1:
                coupled = coupled and bool((theta[0, g] == theta[1, g]).all())
        grad = 2 * (theta - x.mean(dim=-1))
        stepper.step(grad.reshape(-1), lr(k))
        theta = stepper.theta.view(2, groups, chains)
        for g, s in enumerate(splits):
            if k == s + 1:
                differences[s] = (theta[0, g] - theta[1, g]).abs().clone()
        if k in snapshot_steps:
            snapshots[k] = theta[0].reshape(-1).clone()
    return CoupledRun(list(splits), differences, snapshots, coupled)
