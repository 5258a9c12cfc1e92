"""Sharpness lambda_max of a loss at a point from Hessian-vector products (power iteration),
as the edge-of-stability literature ([CKLKT21]) measures it; never forms the Hessian."""
from __future__ import annotations

from typing import Callable

import torch


def hvp(loss: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    w = w.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(w), w, create_graph=True)
    (hv,) = torch.autograd.grad(g, w, grad_outputs=v)
    return hv.detach()


def sharpness(loss: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, *, iters: int = 500,
              tol: float = 1e-12, generator: torch.Generator | None = None) -> float:
    """Largest-magnitude Hessian eigenvalue by power iteration (stops when the Rayleigh quotient
    changes by < tol relatively). For a PSD Hessian this is lambda_max."""
    v = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
    v /= v.norm()
    lam = 0.0
    for _ in range(iters):
        hv = hvp(loss, w, v)
        new = float(v @ hv)
        norm = hv.norm()
        if float(norm) == 0.0:
            return 0.0
        v = hv / norm
        if abs(new - lam) <= tol * abs(new):
            return new
        lam = new
    return lam
