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


# --- subjects for the activation contract's axes (T1 on the tensors users feed, #11 item 2): each is right
# on contiguous eager tensors, so only the axis it names catches it.

def strided_fallback_relu(x):
    """A fast path for contiguous tensors and a generic fallback for strided ones, whose clamp has
    derivative 1 at the kink: wrong only on non-contiguous input (views, expanded, channels_last)."""
    return torch.relu(x) if x.is_contiguous() else torch.clamp(x, min=0)


def autocast_fused_relu(x):
    """Dispatches to a 'fused' kernel inside autocast regions, whose backward masks with x >= 0:
    wrong only under torch.autocast."""
    return _GeReLU.apply(x) if torch.is_autocast_enabled(x.device.type) else torch.relu(x)


def blocked_tail_relu(x):
    """A kernel vectorised over blocks of 8 whose scalar remainder loop uses clamp (derivative 1 at
    the kink): wrong only at a kink in the tail of a size that is not a multiple of 8."""
    flat = x.reshape(-1)
    body = flat.numel() // 8 * 8
    return torch.cat([torch.relu(flat[:body]), torch.clamp(flat[body:], min=0)]).reshape(x.shape)


def compile_friendly_relu(x):
    """A branch taken only while torch.compile traces, rewritten as where(x >= 0, x, 0) (the gradient
    flows through the x branch at the kink): wrong only under torch.compile."""
    if torch.compiler.is_compiling():
        return torch.where(x >= 0, x, torch.zeros_like(x))
    return torch.relu(x)


def where_relu(x):
    """A correct from-scratch ReLU (false-alarm check): where(x > 0, x, 0) has derivative 1_{x>0}."""
    return torch.where(x > 0, x, torch.zeros_like(x))
