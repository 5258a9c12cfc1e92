"""Broken subjects that are right in float64/float32 and wrong only in low precision, only under
autocast, or only at a skipped scaled step (issue #15 item 5)."""
from __future__ import annotations

import torch


class AmpAdamAdvancesStepOnSkip(torch.optim.Adam):
    """An Adam that takes part in torch.amp.GradScaler's scaling itself (``_step_supports_amp_scaling``,
    as torch's fused kernels do): it unscales the gradients, and on ``found_inf`` it skips the update
    -- but still counts the step, so the bias correction of every later step is off by one."""

    _step_supports_amp_scaling = True

    @torch.no_grad()
    def step(self, closure=None):
        grad_scale = getattr(self, "grad_scale", None)
        found_inf = getattr(self, "found_inf", None)
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        if grad_scale is not None:
            for p in params:
                p.grad.div_(grad_scale.to(p.grad.dtype))
        if found_inf is not None and bool(found_inf.item()):
            for p in params:
                state = self.state[p]
                if "step" in state:
                    state["step"] += 1  # the bug: a skipped step advances the step count
            return None
        self.grad_scale = self.found_inf = None  # unscaled above: plain Adam from here
        return super().step(closure)


class AmpAdamSkipsCorrectly(AmpAdamAdvancesStepOnSkip):
    """The same, correct: a skipped step changes nothing."""

    @torch.no_grad()
    def step(self, closure=None):
        found_inf = getattr(self, "found_inf", None)
        if found_inf is not None and bool(found_inf.item()):
            return None
        grad_scale = getattr(self, "grad_scale", None)
        if grad_scale is not None:
            for g in self.param_groups:
                for p in g["params"]:
                    if p.grad is not None:
                        p.grad.div_(grad_scale.to(p.grad.dtype))
        self.grad_scale = self.found_inf = None
        return torch.optim.Adam.step(self, closure)
