"""Optimizers that leave their family's recursion in one deliberate way (T4 must reject each),
and a correct from-scratch Adam (T4 must accept it). The second half holds one-line bugs on each
axis of T4's contract (maximize, schedules, groups, layouts, absent gradients, state_dict, dtype,
SIMD tails), built on the correct from-scratch Adam of ``tests/reference_impls.py``.

The from-scratch classes follow the ``torch.optim.Optimizer`` protocol; each mutation changes
exactly one thing of the correct recursion.
"""
from __future__ import annotations

import torch


class _Elementwise(torch.optim.Optimizer):
    """A minimal from-scratch elementwise optimizer: ``update(p, g, state, group)`` per tensor."""

    def __init__(self, params, defaults):
        if defaults.get("lr", 0.0) < 0:  # torch.optim's error contract (T4 checks it)
            raise ValueError(f"Invalid learning rate: {defaults['lr']}")
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                state["step"] += 1
                self.update(p, p.grad, state, group)
        return loss

    def update(self, p, g, state, group):  # pragma: no cover - overridden
        raise NotImplementedError


class CorrectAdam(_Elementwise):
    """Adam as Kingma & Ba write it ([CUT] eqs. (28)-(30)), eps outside the root, and AMSGrad (until
    T4 drew amsgrad=True for the adam family this class accepted the flag and ignored it)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def bias_exponent(self, t: int) -> int:
        return t

    def denominator(self, v_hat, eps):
        return v_hat.sqrt() + eps

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        if "m" not in state:
            state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
        state["m"].mul_(b1).add_(g, alpha=1 - b1)
        state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        v = state["v"]
        if group["amsgrad"]:
            state["vmax"] = torch.maximum(state.get("vmax", v), v)
            v = state["vmax"]
        n = self.bias_exponent(state["step"])
        m_hat = state["m"] / (1 - b1 ** n)
        v_hat = v / (1 - b2 ** n)
        p.sub_(group["lr"] * m_hat / self.denominator(v_hat, group["eps"]))


class OffByOneAdam(CorrectAdam):
    """Bias corrections 1 - beta^(t+1) instead of 1 - beta^t."""

    def bias_exponent(self, t: int) -> int:
        return t + 1


class EpsInsideSqrtAdam(CorrectAdam):
    """sqrt(v_hat + eps) where Adam puts eps outside the root: sqrt(v_hat) + eps."""

    def denominator(self, v_hat, eps):
        return (v_hat + eps).sqrt()


class DoubledStepAdam(CorrectAdam):
    """Silently takes twice the step it was configured with."""

    def update(self, p, g, state, group):
        lr = group["lr"]
        group["lr"] = 2 * lr
        try:
            super().update(p, g, state, group)
        finally:
            group["lr"] = lr


class SwappedRMSprop(_Elementwise):
    """RMSprop with the smoothing weights swapped: v = (1 - alpha) v + alpha g^2."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def update(self, p, g, state, group):
        a, mu = group["alpha"], group["momentum"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        if "v" not in state:
            state["v"], state["gbar"], state["b"] = (torch.zeros_like(p) for _ in range(3))
        state["v"].mul_(1 - a).addcmul_(g, g, value=a)  # the mutation: should be a, 1 - a
        v = state["v"]
        if group["centered"]:
            state["gbar"].mul_(1 - a).add_(g, alpha=a)
            v = v - state["gbar"] ** 2
        direction = g / (v.sqrt() + group["eps"])
        if mu > 0:
            state["b"].mul_(mu).add_(direction)
            direction = state["b"]
        p.sub_(group["lr"] * direction)


class NesterovIgnoredSGD(torch.optim.SGD):
    """torch.optim.SGD that accepts ``nesterov=True`` and silently runs heavy-ball momentum."""

    def __init__(self, params, nesterov=False, **hyperparameters):
        super().__init__(params, nesterov=False, **hyperparameters)


class DoubledStepSGD(torch.optim.SGD):
    """torch.optim.SGD configured with twice the learning rate it was given."""

    def __init__(self, params, lr=1e-3, **hyperparameters):
        super().__init__(params, lr=2 * lr, **hyperparameters)


# --- one-line contract bugs: each is right in the plain case and wrong on one axis of T4's contract.
# They derive from the correct from-scratch Adam of tests/reference_impls.py.
from tests.reference_impls import Adam as _Adam  # noqa: E402


class IgnoresMaximizeAdam(_Adam):
    """Accepts ``maximize`` and descends anyway (negates the already negated gradient back)."""

    def update(self, p, g, state, group):
        super().update(p, -g if group["maximize"] else g, state, group)


class LrCachedAtFirstStepAdam(_Adam):
    """Bakes each group's lr in at its first step (as a captured or compiled step does): an LR
    scheduler's later writes into param_groups never act."""

    def update(self, p, g, state, group):
        super().update(p, g, state, {**group, "lr": group.setdefault("_lr_at_first_step", group["lr"])})


class DefaultsForEveryGroupAdam(_Adam):
    """Reads betas from the constructor's defaults, not from the parameter's group."""

    def update(self, p, g, state, group):
        super().update(p, g, state, {**group, "betas": self.defaults["betas"]})


class FlattenedCopyAdam(_Adam):
    """Updates ``p.flatten()`` reshaped: a view of a contiguous parameter, a silently discarded copy
    of a non-contiguous or channels_last one."""

    def update(self, p, g, state, group):
        super().update(p.flatten().view(p.shape), g, state, group)


class GradStridesOfParamAdam(_Adam):
    """Reads the gradient's storage with the parameter's strides (a flat-buffer kernel): right when
    both share a layout, wrong when the gradient is laid out otherwise."""

    def gradient(self, p, state, group):
        g = p.grad
        return None if g is None else g.as_strided(p.shape, p.stride()) if g.numel() else g


class GradNoneAsZeroAdam(_Adam):
    """Treats a missing gradient as zero: a parameter that took no part in a step still advances its
    state and moves (its momentum keeps going)."""

    def gradient(self, p, state, group):
        return torch.zeros_like(p) if p.grad is None else p.grad


class StepPerGroupAdam(_Adam):
    """Bias correction from a step counter kept per group (one per step() call), not per parameter:
    wrong for a parameter that skipped a step."""

    def step(self, closure=None):
        for group in self.param_groups:
            group["_t"] = group.get("_t", 0) + 1
        return super().step(closure)

    def bias_step(self, state, group):
        return group["_t"]


class StateOutsideStateDictAdam(_Adam):
    """Keeps the second moment in an attribute instead of ``self.state``: state_dict() drops it, and a
    reloaded optimizer restarts v at zero."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self._v = {}

    def update(self, p, g, state, group):
        state["v"] = self._v.setdefault(p, torch.zeros_like(p))
        super().update(p, g, state, group)
        del state["v"]


class BiasCorrectionInParamDtypeAdam(_Adam):
    """Computes 1 - beta2^t with beta2 in the parameter's dtype: exact in float64, but bfloat16 rounds
    0.999 to 1.0 (a zero bias correction) and float16/float32 shift it."""

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        b2 = float(torch.tensor(b2, dtype=p.dtype))
        super().update(p, g, state, {**group, "betas": (b1, b2)})


class TailDroppedAdam(_Adam):
    """A 16-wide vectorised loop without its scalar tail: a tensor of more than 16 elements keeps its
    last numel % 16 elements unchanged (small tensors take a scalar path and are right)."""

    def update(self, p, g, state, group):
        before = p.clone()
        super().update(p, g, state, group)
        n = p.numel()
        if n > 16 and n % 16 and p.is_contiguous():
            p.view(-1)[n - n % 16:] = before.view(-1)[n - n % 16:]


class LenientAdam(torch.optim.Adam):
    """Adam (correct iterates) that accepts what torch.optim refuses: a parameter listed in two groups is
    kept in the first only, a negative lr is taken as its magnitude, and a state_dict that does not match
    its groups is ignored (a "robust" optimizer, as some libraries write them): T4's error contract."""

    def __init__(self, params, lr=1e-3, **kwargs):
        self._negative_lr = lr < 0
        super().__init__(params, lr=abs(lr), **kwargs)

    def add_param_group(self, param_group):
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        param_group = {**param_group, "params": [p for p in params if id(p) not in seen]}
        if param_group["params"]:
            super().add_param_group(param_group)

    def load_state_dict(self, state_dict):
        try:
            super().load_state_dict(state_dict)
        except ValueError:
            pass
