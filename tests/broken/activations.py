"""Broken activations: each breaks the convention ReLU'(x) = 1_{x>0} somewhere (T1, T2 reject them)."""
import torch
import torch.nn.functional as F


def clamp_relu(x):
    """clamp(x, min=0): torch 2.13 gives derivative 1 at x = 0."""
    return torch.clamp(x, min=0)


def maximum_relu(x):
    """maximum(x, 0): derivative 0.5 at x = 0 (the gradient is split between the tied inputs)."""
    return torch.maximum(x, torch.zeros_like(x))


class _GeReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x >= 0).to(grad.dtype)  # the bug: >= instead of >


def ge_relu(x):
    """A hand-written backward that uses x >= 0 (derivative 1 at the kink)."""
    return _GeReLU.apply(x)


def leaky_relu_1e6(x):
    """Leaky ReLU with slope 1e-6: no flat piece, so no neuron is ever inactive."""
    return F.leaky_relu(x, 1e-6)
