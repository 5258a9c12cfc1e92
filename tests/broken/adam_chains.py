"""Deliberately broken Adam subjects for the T9 mutation self-tests (tests/test_mutations_adam_chains.py),
run through the suite with ``--optimizer adam=tests.broken.adam_chains:<Name>``. Each one is built to
fail exactly one T9 property (the one named in its docstring) and pass the others."""
from __future__ import annotations

import torch

from tests.broken.nonconvergence import HiddenDecayAdam  # noqa: F401  (constant-rate property: lr/n hidden)


class ScheduleIgnoringAdam(torch.optim.Adam):
    """Bug: the learning rate is read once at construction; later changes of ``param_groups[i]["lr"]``
    (the scheduler protocol) are ignored. Correct under a constant rate; under γ_n = γ/n its steps
    stay of size γ. Rejected by the decaying-rate contrast (the step bound γ_n B_n)."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self._initial = [group["lr"] for group in self.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        current = [group["lr"] for group in self.param_groups]
        for group, lr in zip(self.param_groups, self._initial):
            group["lr"] = lr
        try:
            return super().step(closure)
        finally:
            for group, lr in zip(self.param_groups, current):
                group["lr"] = lr


class GradientDitherAdam(torch.optim.Adam):
    """Bug: the gradient is multiplied by 1 + 0.1·frac(2^40 |g|) before the update (a step that is
    not continuous in the gradient, as a lossy hashing/compression of g would be). Deterministic, so
    identical batches still give identical chains, and a 10% perturbation keeps constant-rate Adam
    non-convergent; but vanishing differences between two batches' gradients (J_n → ∞) still move two
    successors ~0.1γ apart. It was rejected by the growing-batch contrast when that contrast ran at the
    drawn ε; since the contrast is asserted only where it holds (ε = 0.1, far above the batch noise) the
    dither is too small to show there, and the contrast has no tooth of its own (see the catalogue)."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.mul_(1 + 0.1 * torch.frac(p.grad.abs() * 2.0**40))
        return super().step(closure)

