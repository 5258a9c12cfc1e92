"""The precision effect of [BBGP21] (T1 (d)): does backprop depend on the choice of ReLU'(0)?

In exact arithmetic a pre-activation is exactly 0 with probability 0, so backprop with
ReLU'(0) = 0 and with ReLU'(0) = 1 agree almost surely; in floating point, rounding makes exact
zeros (``fl(x W) + b == 0``) and the two gradients differ. The coarser the precision, the more often.

This module builds MNIST-like data locally (sparse vectors: ~80% exact zeros, the rest 8-bit
dyadic intensities k/256, exact in every dtype), random MLPs (nn.Linear's default initialisation,
drawn in float64 and rounded to the dtype under test, so every dtype sees the same networks), and
counts the (network, batch) cases whose full gradients differ between two choices of ReLU'(0).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kinkcheck.harness.core.activations import Activation
from kinkcheck.harness.core.device import seeded_generator
from kinkcheck.harness.core.losses import mse
from kinkcheck.harness.core.networks import Network

PRECISION_DTYPES = (torch.float16, torch.float32, torch.float64)


class _ReLUWithDerivativeAtZero(torch.autograd.Function):
    """relu(x) forward; backward 1 for x > 0, ``d0`` at x == 0 (both zeros), 0 for x < 0."""

    @staticmethod
    def forward(ctx, x, d0):
        ctx.save_for_backward(x)
        ctx.d0 = d0
        return torch.relu(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        slope = (x > 0).to(grad.dtype) + ctx.d0 * (x == 0).to(grad.dtype)
        return grad * slope, None


def relu_with_derivative_at_zero(d0: float) -> Activation:
    """ReLU whose derivative at 0 is ``d0`` (a custom autograd.Function; 1_{x>0} elsewhere)."""
    return Activation(f"relu[d(0)={d0:g}]", lambda x: _ReLUWithDerivativeAtZero.apply(x, float(d0)))


def mnist_like(networks: int, samples: int, dim: int, generator: torch.Generator, device="cpu",
               density: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-network batches (B, N, dim) of sparse dyadic inputs and one-hot targets (B, N, 10), float64."""
    shape = (networks, samples, dim)
    on = torch.rand(shape, generator=generator, device=device, dtype=torch.float64) < density
    level = torch.randint(1, 256, shape, generator=generator, device=device).to(torch.float64) / 256
    x = torch.where(on, level, torch.zeros_like(level))
    labels = torch.randint(0, 10, (networks, samples), generator=generator, device=device)
    y = torch.nn.functional.one_hot(labels, 10).to(torch.float64)
    return x, y


def gradients(net: Network, x, y, activation: Activation) -> torch.Tensor:
    """Per-network flattened gradient of the mean squared error, shape (B, P)."""
    t = net.trainable()
    mse(t.realization(x, activation), y).sum().backward()
    return torch.cat([p.grad.flatten(1) for p in t.parameters()], dim=1)


@dataclass
class PrecisionCase:
    """B networks of the given shape, each with its own batch, drawn in float64 from one seed."""

    net: Network
    x: torch.Tensor
    y: torch.Tensor

    @staticmethod
    def draw(seed: int, dim: int, width: int, depth: int, networks: int, samples: int, device="cpu"):
        gen = seeded_generator(seed, device)
        net = Network.random([dim] + [width] * depth + [10], networks, generator=gen, device=device)
        x, y = mnist_like(networks, samples, dim, gen, device)
        return PrecisionCase(net, x, y)

    def differ(self, dtype: torch.dtype, a: Activation, b: Activation, only_at_zeros: bool = False) -> torch.Tensor:
        """Bool (B,): whether network i's gradient (in ``dtype``) differs between activations a and b.
        Values are compared (+0.0 == -0.0), not bits.

        ``only_at_zeros`` (for two ReLUs that differ only in their derivative at 0): backprop runs only
        on the networks whose forward pass has an exact zero pre-activation; the others cannot differ
        (their two backward passes multiply by the same derivatives), so they count as not differing.
        Same answer, at the cost of one forward pass where exact zeros are rare (float32, float64)."""
        net, x, y = self.net.to(dtype=dtype), self.x.to(dtype), self.y.to(dtype)
        if not only_at_zeros:
            return (gradients(net, x, y, a) != gradients(net, x, y, b)).any(dim=1)
        with torch.no_grad():
            zeros = torch.stack([(p == 0).flatten(1).any(dim=1) for p in net.preactivations(x)]).any(dim=0)
        out = torch.zeros(zeros.shape, dtype=torch.bool, device=zeros.device)
        if bool(zeros.any()):
            sub = Network([w[zeros] for w in net.weights], [bb[zeros] for bb in net.biases])
            out[zeros] = (gradients(sub, x[zeros], y[zeros], a) != gradients(sub, x[zeros], y[zeros], b)).any(dim=1)
        return out

    def exact_zeros(self, dtype: torch.dtype) -> int:
        """Hidden pre-activations that are exactly 0 in ``dtype``."""
        pre = self.net.to(dtype=dtype).preactivations(self.x.to(dtype))
        return int(sum(int((p == 0).sum()) for p in pre))


def differing_fractions(case: PrecisionCase, d_a: float = 0.0, d_b: float = 1.0,
                        dtypes=PRECISION_DTYPES) -> dict[torch.dtype, torch.Tensor]:
    """Per dtype, the bool vector of cases whose gradients differ between ReLU'(0) = d_a and = d_b
    (backprop only where the forward pass has an exact zero: ``PrecisionCase.differ``)."""
    a, b = relu_with_derivative_at_zero(d_a), relu_with_derivative_at_zero(d_b)
    return {dt: case.differ(dt, a, b, only_at_zeros=True) for dt in dtypes}


def plot_fractions(results: dict, path) -> bool:
    """Bar chart of the fraction of differing cases per dtype and (width, depth); ``results`` maps
    (width, depth) -> {dtype name: fraction}. Returns False (writes nothing) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    configs = sorted(results)
    names = list(next(iter(results.values())))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    w = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar([j + i * w for j in range(len(configs))], [results[c][name] for c in configs], w, label=name)
    ax.set_xticks([j + w * (len(names) - 1) / 2 for j in range(len(configs))])
    ax.set_xticklabels([f"width {c[0]}, depth {c[1]}" for c in configs])
    ax.set_ylabel("fraction of cases with\ndifferent gradients")
    ax.set_title("[BBGP21]: backprop with ReLU'(0)=0 vs ReLU'(0)=1")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
