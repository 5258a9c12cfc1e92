"""Broken subjects for T4's long horizons (issue #20 item 2): torch.optim's own optimizers (for-loop paths),
each with its step counter kept where it is right only for a while. Written from the axis: a counter held in
a type with p significand bits counts exactly up to 2^p only.

* ``ByteStepAdagrad``: Adagrad whose ``state["step"]`` is a uint8 (wraps to 0 at step 256; with lr_decay the
  learning rate lr / (1 + (step - 1) lr_decay) jumps back);
* ``BFloat16StepAdam``: Adam whose ``state["step"]`` is a bfloat16 (256 + 1 rounds to 256: the bias
  corrections stop at step 256);
* ``HalfStepAdam``: Adam whose ``state["step"]`` is a float16, state that saturates at 2048 (2048 + 1 rounds
  to 2048);
* ``StepDroppingAdam``: Adam whose ``load_state_dict`` drops the step count (resets it to 0): a run resumed
  from a checkpoint starts its bias corrections again.

Each is right for the first 255 (2047) steps and in a run without a round trip, so only a long trajectory
(and, for the last, a state_dict round trip late in it) rejects it."""
from __future__ import annotations

import torch


class _NarrowStep:
    STEP_DTYPE = torch.float32

    def _narrow(self):
        for state in self.state.values():
            if isinstance(state.get("step"), torch.Tensor) and state["step"].dtype != self.STEP_DTYPE:
                state["step"] = state["step"].to(self.STEP_DTYPE)

    @torch.no_grad()
    def step(self, closure=None):
        self._narrow()  # the counter torch created at the first step, kept narrow from then on
        loss = super().step(closure)
        self._narrow()
        return loss


class ByteStepAdagrad(_NarrowStep, torch.optim.Adagrad):
    """torch.optim.Adagrad (for-loop) with its step counter in uint8: wraps to 0 at step 256."""

    STEP_DTYPE = torch.uint8

    def __init__(self, params, *args, **kwargs):
        super().__init__(params, *args, foreach=False, **kwargs)
        self._narrow()


class BFloat16StepAdam(_NarrowStep, torch.optim.Adam):
    """torch.optim.Adam (for-loop) with its step counter in bfloat16: stops at 256."""

    STEP_DTYPE = torch.bfloat16

    def __init__(self, params, *args, **kwargs):
        super().__init__(params, *args, foreach=False, **kwargs)


class HalfStepAdam(_NarrowStep, torch.optim.Adam):
    """torch.optim.Adam (for-loop) with its step counter in float16: stops at 2048."""

    STEP_DTYPE = torch.float16

    def __init__(self, params, *args, **kwargs):
        super().__init__(params, *args, foreach=False, **kwargs)


class StepDroppingAdam(torch.optim.Adam):
    """torch.optim.Adam (for-loop) whose load_state_dict resets every parameter's step count to 0."""

    def __init__(self, params, *args, **kwargs):
        super().__init__(params, *args, foreach=False, **kwargs)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for state in self.state.values():
            if "step" in state:
                state["step"] = torch.zeros_like(state["step"])
