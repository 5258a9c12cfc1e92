"""One deliberate bug per usage axis of T4 (theorems/test_usage_contract.py, issue #20 items 1 and 5), each
built on a correct from-scratch optimizer of ``tests/reference_impls.py`` and changing one thing, written
from the axis:

- complex parameters: an Adam that runs its recursion on the complex tensor itself (no view_as_real: g * g
  is the complex square, not |g|^2 per real coordinate);
- tensor hyperparameters: an Adam that keeps the user's tensors (no copy), which a scheduler's in-place
  rewrite then changes; an Adam that reads a tensor lr once, when the group is added; an Adam that turns tensor
  betas into numbers when the group is added (a scheduler's in-place rewrite of them is never seen); an Adam
  that applies weight_decay only when it is a Python number (a tensor weight_decay is ignored);
- add_param_group: an Adagrad whose groups added later start their accumulator from the class default, not
  from the constructor's initial_accumulator_value;
- mixed dtypes: an Adam that allocates a group's state in the dtype of the group's first parameter;
- a whole group without gradients: an Adam that flattens each group's gradients into one buffer (torch.cat of
  an empty list raises);
- rewritten hyperparameters: an Adam that reads eps and weight_decay when a parameter's state is created
  and never again;
- public state: an ASGD whose averaged iterate ax ignores t0 (averages from the first step); an ASGD that steps
  with the right eta but publishes state['eta'] as the undecayed lr;
- step counts on the new axes: an Adam whose add_param_group, after some steps, starts the new parameters'
  step counts at the optimizer's global step count;
- differentiable=True: an Adam that takes the flag but runs its update outside autograd; an SGD with momentum
  that detaches its momentum buffer from the graph at every step (gradient flows through the last step only);
  a Nesterov SGD that detaches only its first buffer (a nonzero derivative of the wrong value).
"""
from __future__ import annotations

import torch

from tests.reference_impls import ASGD, SGD, Adagrad, Adam, Elementwise, _decay, _resolved


class RealOnlyComplexAdam(Adam):
    """Steps a complex parameter as a complex tensor: m, v and the step in complex arithmetic."""

    def step(self, closure=None):
        with torch.no_grad():
            for group in self.param_groups:
                hp = _resolved(group)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if "step" not in state:
                        state["step"] = 0
                        self.init_state(p, state, hp)
                    state["step"] += 1
                    self.update(p, -p.grad if hp["maximize"] else p.grad, state, hp)


class AliasingTensorAdam(Adam):
    """Keeps the tensors it is handed (lr, betas) as they are: param_groups hold the user's own tensors."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        torch.optim.Optimizer.__init__(self, params, defaults)

    def add_param_group(self, param_group):
        torch.optim.Optimizer.add_param_group(self, param_group)


class LrReadOnceAdam(Adam):
    """Turns a tensor lr into a number once, when its group is added, and uses that number from then on."""

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if isinstance(group["lr"], torch.Tensor):
            group["_lr_at_start"] = float(group["lr"])

    def update(self, p, g, state, group):
        if "_lr_at_start" in group:
            group = {**group, "lr": group["_lr_at_start"]}
        super().update(p, g, state, group)


class LateGroupDefaultAccumulatorAdagrad(Adagrad):
    """A group added after construction starts its sum from 0 (the class default), not from the constructor's
    initial_accumulator_value."""

    def add_param_group(self, param_group):
        late = hasattr(self, "state") and any(self.state.values())
        if late:
            param_group = {"initial_accumulator_value": 0.0, **param_group}
        super().add_param_group(param_group)

    def init_state(self, p, state, group):
        state["sum"] = torch.full_like(p, group["initial_accumulator_value"])


class FirstDtypeStateAdam(Adam):
    """Allocates every state buffer of a group in the (real) dtype of the group's first parameter, and keeps
    it there (updated in place)."""

    def step(self, closure=None):
        for group in self.param_groups:
            group["_state_dtype"] = group["params"][0].real.dtype
        return super().step(closure)

    def init_state(self, p, state, group):
        state["m"], state["v"], state["vmax"] = (torch.zeros_like(p, dtype=group["_state_dtype"]) for _ in range(3))

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        g = _decay(p, g, group, group["decoupled_weight_decay"]).to(state["m"].dtype)
        state["m"].mul_(b1).add_(g, alpha=1 - b1)
        state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        v = state["v"]
        if group["amsgrad"]:
            state["vmax"] = torch.maximum(state["vmax"], v)
            v = state["vmax"]
        t = state["step"]
        p.sub_((group["lr"] * (state["m"] / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + group["eps"])).to(p.dtype))


class FlattenedGroupAdam(Adam):
    """Flattens each group's gradients into one buffer before stepping (torch.cat of an empty list raises)."""

    def step(self, closure=None):
        for group in self.param_groups:
            torch.cat([p.grad.reshape(-1) for p in group["params"] if p.grad is not None])
        return super().step(closure)


class StaleEpsAndDecayAdam(Adam):
    """Reads eps and weight_decay when a parameter's state is created and never again."""

    def init_state(self, p, state, group):
        super().init_state(p, state, group)
        state["eps_at_start"], state["wd_at_start"] = group["eps"], group["weight_decay"]

    def update(self, p, g, state, group):
        super().update(p, g, state, {**group, "eps": state["eps_at_start"], "weight_decay": state["wd_at_start"]})


class AveragesFromTheStartASGD(ASGD):
    """Averages the iterates from the first step: mu = 1 / t, whatever t0 says."""

    def mu(self, t, group):
        return 1 / (t + 1)


class DetachedDifferentiableAdam(Adam):
    """Takes differentiable=True and runs its update outside autograd anyway."""

    def step(self, closure=None):
        differentiable = self.defaults.get("differentiable")
        self.defaults["differentiable"] = False
        try:
            return super().step(closure)
        finally:
            self.defaults["differentiable"] = differentiable


class BetasReadOnceAdam(Adam):
    """Turns tensor betas into numbers once, when their group is added, and uses those from then on."""

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if any(isinstance(b, torch.Tensor) for b in group["betas"]):
            group["_betas_at_start"] = tuple(float(b) for b in group["betas"])

    def update(self, p, g, state, group):
        if "_betas_at_start" in group:
            group = {**group, "betas": group["_betas_at_start"]}
        super().update(p, g, state, group)


class TensorDecayIgnoredAdam(Adam):
    """Applies weight_decay only when the group holds it as a Python number (``isinstance(wd, float)``): a
    tensor weight_decay is silently ignored."""

    def step(self, closure=None):
        for group in self.param_groups:
            group["_wd_is_tensor"] = isinstance(group["weight_decay"], torch.Tensor)
        return super().step(closure)

    def update(self, p, g, state, group):
        if group["_wd_is_tensor"]:
            group = {**group, "weight_decay": 0.0}
        super().update(p, g, state, group)


class UndecayedPublicEtaASGD(ASGD):
    """Steps with the decayed eta (kept under a private key) but publishes state['eta'] as the group's lr,
    never decayed."""

    def init_state(self, p, state, group):
        super().init_state(p, state, group)
        state["_eta"] = state["eta"]

    def update(self, p, g, state, group):
        state["eta"] = state["_eta"]
        super().update(p, g, state, group)
        state["_eta"], state["eta"] = state["eta"], group["lr"]


class LateGroupGlobalStepAdam(Adam):
    """Counts the optimizer's steps, and gives the parameters of a group added after some steps that count as
    their own step count (their bias corrections start late)."""

    def step(self, closure=None):
        self._global_steps = getattr(self, "_global_steps", 0) + 1
        return super().step(closure)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        taken = getattr(self, "_global_steps", 0)
        if taken:
            group = self.param_groups[-1]
            for p in group["params"]:
                state = self.state[p]
                state["step"] = taken
                self.init_state(torch.view_as_real(p) if p.is_complex() else p, state, _resolved(group))


class FirstBufferDetachedMomentum(Elementwise):
    """Heavy-ball SGD (b <- mu b + (1 - dampening) g; theta <- theta - lr b) that takes differentiable=True and
    runs its update under autograd, but detaches the momentum buffer from the graph at every step: gradient
    flows from the iterate to the last gradient only."""

    def __init__(self, params, lr=1e-2, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False, differentiable=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize, differentiable=differentiable)

    def update(self, p, g, state, group):
        g = _decay(p, g, group, False)
        if "b" not in state:
            state["b"] = g.detach().clone()
        else:
            state["b"] = state["b"].detach() * group["momentum"] + g * (1 - group["dampening"])
        direction = g + group["momentum"] * state["b"] if group["nesterov"] else state["b"]
        p.sub_(group["lr"] * direction)


class FirstBufferDetachedNesterov(SGD):
    """Nesterov SGD (b <- mu b + g; theta <- theta - lr (g + mu b)) under differentiable=True whose FIRST momentum
    buffer is a detached copy of the gradient, later ones in the graph: the derivative of the last iterate with
    respect to the first gradient keeps the direct path (lr) and loses the buffer's (lr mu ...) -- nonzero, and
    wrong by a factor of about 1 + mu."""

    def first_buffer(self, g):
        return g.detach().clone()
