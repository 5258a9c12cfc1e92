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


class DitheringSGD(torch.optim.SGD):
    """SGD with "stochastic rounding" of low-precision parameters, done wrong: after the step every
    bfloat16/float16 parameter is re-rounded through float32 with a symmetric dither of one full ulp of
    the target dtype and round-to-nearest (correct stochastic rounding adds a dither in [0, 1) ulp and
    truncates, which leaves a representable value -- a coordinate whose update is 0 -- unchanged). So a
    zero-gradient coordinate moves by an ulp about half the time. float32/float64 parameters are not
    touched: plain, correct SGD there."""

    _DROPPED_BITS = {torch.bfloat16: 16, torch.float16: 13}  # float32 mantissa bits the dtype lacks

    def __init__(self, params, *args, **kwargs):
        super().__init__(params, *args, **kwargs)
        self._dither = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                bits = self._DROPPED_BITS.get(p.dtype)
                if bits is None or p.grad is None:
                    continue
                ulp = 1 << bits
                noise = torch.randint(-ulp, ulp + 1, p.shape, generator=self._dither).to(p.device)
                dithered = (p.float().view(torch.int32) + noise.to(torch.int32)).view(torch.float32)
                p.copy_(dithered.to(p.dtype))
        return loss


class BlockSkippingSGD(torch.optim.SGD):
    """torch's fused CPU SGD as it behaves on float16/bfloat16 parameters (torch 2.13; see
    docs/torch-deviations/fused_sgd_low_precision_blocks_not_updated.py): the vectorised loop over full
    16-element blocks of each 32-element task never writes the parameter, so only the scalar tail
    (length % 16 of each task) moves. float32/float64 parameters: plain, correct SGD."""

    @torch.no_grad()
    def step(self, closure=None):
        before = [p.detach().clone() for g in self.param_groups for p in g["params"]]
        loss = super().step(closure)
        params = [p for g in self.param_groups for p in g["params"]]
        for p, old in zip(params, before):
            if p.dtype not in (torch.float16, torch.bfloat16) or p.numel() == 0:
                continue
            flat, keep = p.view(-1) if p.is_contiguous() else None, old.reshape(-1)
            if flat is None:
                continue
            for start in range(0, p.numel(), 32):
                length = min(32, p.numel() - start)
                blocks = length - length % 16
                flat[start:start + blocks] = keep[start:start + blocks]
        return loss
