"""A correct matrix-wise optimizer written from scratch (T2's layout self-test, tests/test_t2_layout.py).

``NewtonSchulzSGD`` steps along the orthogonalised gradient of each parameter, as Muon does without
momentum: a matrix G (a 1-D tensor as the column it is, a tensor of more dimensions as ``(shape[0], -1)``)
is normalised, X = G / (||G||_F + 1e-7), and put through 5 iterations of the published quintic
X <- a X + (b A + c A^2) X, A = X X^T, (a, b, c) = (3.4445, -4.7750, 2.0315), in float64; then
p <- p - lr X. A zero row of G stays an exactly-zero row of X (each iteration multiplies X on the left by
a polynomial in X X^T, whose row of a zero row of X is zero), so a dead neuron's incoming weights and
bias, whose gradient rows are exactly 0 ([GM] Thm 4.2 proof, eqs. (60)-(62)), never move on a real
layer: it satisfies T2(b). It is not coordinatewise: on T2's batched layout the rows of ``(B, -1)`` are
whole networks, and the polynomial mixes them, moving a dead neuron from the other networks' gradients --
the false alarm the batched layout raised for such optimizers before it was reserved for subjects
declared coordinatewise.
"""
from __future__ import annotations

import torch

QUINTIC = (3.4445, -4.7750, 2.0315)


def orthogonalised(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    a, b, c = QUINTIC
    x = g.reshape(g.shape[0], -1) if g.ndim != 1 else g.reshape(-1, 1)
    x = x.to(torch.float64)
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.reshape(g.shape).to(g.dtype)


class NewtonSchulzSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-2):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.numel():
                    p.sub_(group["lr"] * orthogonalised(p.grad))
        return loss
