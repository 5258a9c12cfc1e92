"""Deliberately broken components for the T5–T9 mutation self-tests (tests/test_mutations_nonconvergence.py).

Samplers, inactivity tests and probability formulas are harness components, injected directly
into the theorem modules' check functions; ``HiddenDecayAdam`` is an optimizer subject, run
through the suite with ``--optimizer adam=tests.broken.nonconvergence:HiddenDecayAdam``.
"""
from __future__ import annotations

import torch

from kinkcheck.harness.core.initializations import sample_first_layer


def sampler_unsigned_bias(law, networks, hidden, d, *, generator, dtype=torch.float64, device="cpu"):
    """Bug: the bias drawn from U(0, bound) (``rand`` without ``2 * u - 1``)."""
    w, _ = sample_first_layer(law, networks, hidden, d, generator=generator, dtype=dtype, device=device)
    b = torch.rand((networks, hidden), generator=generator, dtype=dtype, device=device) * float(law.bias_scale)
    return w, b


def sampler_fan_in_scale(law, networks, hidden, d, *, generator, dtype=torch.float64, device="cpu"):
    """Bug: nn.Linear's bound taken as 1/fan_in for the bias instead of 1/sqrt(fan_in)."""
    w = (torch.rand((networks, hidden, d), generator=generator, dtype=dtype, device=device) * 2 - 1) * d ** -0.5
    b = (torch.rand((networks, hidden), generator=generator, dtype=dtype, device=device) * 2 - 1) / d
    return w, b


def inactive_at_lower_corner(w, b, lo, hi, flat_below=0.0):
    """Bug (off by the boundary): the pre-activation checked at the corner ``lo`` only, not maximized
    over the box (drops the upper boundary ``hi``)."""
    return b + (w * lo.unsqueeze(-2)).sum(dim=-1) <= flat_below


def any_inactive_wrong_exponent(p, hidden):
    """Bug: 1 - (1 - p)^(H - 1)."""
    return 1 - (1 - p) ** (hidden - 1)


def sign_probability_wrong_exponent(width, fan_in):
    """Bug: 2^-(l_k l_{k-1}) (the bias signs forgotten)."""
    return 2.0 ** -(width * fan_in)


class HiddenDecayAdam(torch.optim.Adam):
    """Adam whose learning rate silently decays like lr / n (a scheduler hidden inside the step)."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self._calls = 0

    @torch.no_grad()
    def step(self, closure=None):
        self._calls += 1
        saved = [group["lr"] for group in self.param_groups]
        for group in self.param_groups:
            group["lr"] = group["lr"] / self._calls
        try:
            return super().step(closure)
        finally:
            for group, lr in zip(self.param_groups, saved):
                group["lr"] = lr
