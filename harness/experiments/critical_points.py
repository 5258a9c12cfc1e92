"""Approximate critical points of network risks, found by full-batch L-BFGS (a tool of the
[GM] experiments: it finds candidates, and the theorem modules verify what they claim about them).
Never calls an optimizer subject."""
from __future__ import annotations

import torch

from kinkcheck.harness.core.losses import mse
from kinkcheck.harness.core.networks import Network


def default_realization(net: Network, x: torch.Tensor) -> torch.Tensor:
    return net.realization(x)


def train_lbfgs(net: Network, x: torch.Tensor, y: torch.Tensor, *, max_iter: int = 2000,
                loss=mse, realize=default_realization) -> Network:
    """Minimize the summed risk of the batched networks with L-BFGS (strong-Wolfe line search)
    from ``net``; returns the detached end point. ``realize(net, x)`` is the realization map
    (injectable: the T8 mutation self-test uses one without output bias)."""
    trainable = net.trainable()
    optimizer = torch.optim.LBFGS(trainable.parameters(), lr=1, max_iter=max_iter, tolerance_grad=1e-13,
                                  tolerance_change=1e-16, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = loss(realize(trainable, x), y).sum()
        value.backward()
        return value

    optimizer.step(closure)
    return Network([w.detach() for w in trainable.weights], [b.detach() for b in trainable.biases])


def gradient_sup_norm(net: Network, x: torch.Tensor, y: torch.Tensor, loss=mse,
                      realize=default_realization) -> torch.Tensor:
    """(B,) max over all parameters of |dL/dtheta| for each network of the batch."""
    trainable = net.trainable()
    grads = torch.autograd.grad(loss(realize(trainable, x), y).sum(), trainable.parameters(), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, trainable.parameters())]
    return torch.stack([g.flatten(1).abs().amax(dim=1) if g[0].numel() else g.new_zeros(g.shape[0])
                        for g in grads]).amax(dim=0)


def output_layer_design(net: Network, x: torch.Tensor, realize=default_realization) -> torch.Tensor:
    """(B, N, l + 1): the realization's coefficients of the output layer's parameters (W_L, B_L),
    read off by evaluating the network with W_L = e_j, B_L = 0 and W_L = 0, B_L = 1 minus the
    network with W_L = 0, B_L = 0 (the output layer enters linearly; each difference is a
    single computed feature, so it is exact)."""
    w, b = net.weights[-1], net.biases[-1]
    if w.shape[1] != 1:
        raise ValueError("output_layer_design: one output")

    def with_output(wl, bl):
        return realize(Network(net.weights[:-1] + [wl], net.biases[:-1] + [bl]), x)[..., 0]

    base = with_output(torch.zeros_like(w), torch.zeros_like(b))
    cols = []
    for j in range(w.shape[2]):
        e = torch.zeros_like(w)
        e[:, 0, j] = 1
        cols.append(with_output(e, torch.zeros_like(b)) - base)
    cols.append(with_output(torch.zeros_like(w), torch.ones_like(b)) - base)
    return torch.stack(cols, dim=-1)
