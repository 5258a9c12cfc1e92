"""Correct from-scratch optimizers that follow the library conventions the harness drives (#19 item 5):
each was wrongly rejected before its rule (harness/core/training.py's driving comment) and passes T2/T3
now. Their broken twins, still rejected, are in tests/broken/driving.py.

- ``ClearsGradSGD``: gradient descent with a linear warm-up whose first ``warmup`` steps are no-ops
  (lr * 0), and which sets ``p.grad = None`` inside ``step`` (as some libraries do to free memory).
  The horizon rule must read the gradients before the step to extend the run past the warm-up.
- ``LookaheadAdam`` (Zhang et al. 2019): a wrapper (``self.optimizer = inner``) around a correct Adam;
  every ``k`` steps the fast weights are pulled to ``slow + alpha (fast - slow)``. The state lives in the
  inner optimizer; the wrapper's own ``state`` stays empty (slow weights are kept in ``self.slow``).
- ``HutchinsonSGD``: ``is_second_order = True`` (pytorch-optimizer's convention, no ``hessian`` argument,
  no ``create_graph`` attribute); each step estimates diag(H) by z * (H z) with a Rademacher z
  (AdaHessian's estimator) and divides the gradient by |diag(H)| + 1. It calls autograd on ``p.grad``,
  which raises unless the gradients were computed with ``create_graph=True``. A coordinate whose
  gradient is 0 on a neighbourhood has a zero Hessian row, so 0 / (0 + 1) = 0: it does not move.
- ``ScheduleFreeSGD`` (Defazio et al. 2024): train/eval modes; ``step`` raises in eval mode, which is
  the mode it is built in. Train mode holds y = lerp(z, x, beta) in the parameters, eval mode x.
  lerp keeps a coordinate whose z and x are equal bit for bit where they are.
"""
from __future__ import annotations

from collections import defaultdict

import torch

from tests.reference_impls import Adam


class ClearsGradSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-2, warmup=3):
        super().__init__(params, dict(lr=lr, warmup=warmup))

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
                state["step"] = state.get("step", 0) + 1
                scale = max(0, state["step"] - group["warmup"]) / (state["step"])  # 0 for the first steps
                if scale:
                    p.sub_(group["lr"] * scale * p.grad)
                p.grad = None  # freed inside step
        return loss


class Lookahead(torch.optim.Optimizer):
    """Lookahead around any optimizer: the wrapper shares the inner optimizer's ``param_groups`` and keeps
    its own ``state`` empty (the slow weights are in ``self.slow``)."""

    def __init__(self, optimizer: torch.optim.Optimizer, k: int = 3, alpha: float = 0.5):
        self.optimizer = optimizer
        self.k, self.alpha = k, alpha
        self.param_groups = optimizer.param_groups
        self.defaults = optimizer.defaults
        self.state = defaultdict(dict)
        self.slow: dict = {}
        self.counter = 0
        self._optimizer_step_pre_hooks, self._optimizer_step_post_hooks = {}, {}
        self._optimizer_state_dict_pre_hooks, self._optimizer_state_dict_post_hooks = {}, {}
        self._optimizer_load_state_dict_pre_hooks, self._optimizer_load_state_dict_post_hooks = {}, {}

    def zero_grad(self, set_to_none: bool = True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p not in self.slow:
                    self.slow[p] = p.detach().clone()
        loss = self.optimizer.step(closure)
        self.counter += 1
        if self.counter % self.k == 0:
            for group in self.param_groups:
                for p in group["params"]:
                    slow = self.slow[p]
                    slow.lerp_(p, self.alpha)  # slow + alpha (fast - slow): exact where fast == slow
                    p.copy_(slow)
        return loss

    def state_dict(self):
        return {"inner": self.optimizer.state_dict(), "counter": self.counter}

    def load_state_dict(self, state_dict):
        self.optimizer.load_state_dict(state_dict["inner"])
        self.counter = state_dict["counter"]


def LookaheadAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
    return Lookahead(Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                          maximize=maximize))


def LookaheadSGD(params, lr=1e-2):
    return Lookahead(torch.optim.SGD(params, lr=lr))


class HutchinsonSGD(torch.optim.Optimizer):
    is_second_order = True

    def __init__(self, params, lr=1e-2):
        super().__init__(params, dict(lr=lr))
        self.generator = torch.Generator().manual_seed(0)

    def hessian_diagonal(self, params):
        grads = [p.grad for p in params]
        zs = [torch.randint(0, 2, p.shape, generator=self.generator).to(p.dtype).mul_(2).sub_(1).to(p.device)
              for p in params]
        hz = torch.autograd.grad(grads, params, grad_outputs=zs, allow_unused=True)
        return [z * (h if h is not None else torch.zeros_like(z)) for z, h in zip(zs, hz)]

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            diagonals = self.hessian_diagonal(params)
            with torch.no_grad():
                for p, d in zip(params, diagonals):
                    state = self.state[p]
                    state["hessian"] = d.detach().abs()
                    p.sub_(group["lr"] * p.grad.detach() / (state["hessian"] + 1))
        return loss


class ScheduleFreeSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-2, beta=0.9):
        super().__init__(params, dict(lr=lr, beta=beta, train_mode=False))

    def _swap(self, to_train: bool):
        with torch.no_grad():
            for group in self.param_groups:
                if group["train_mode"] == to_train:
                    continue
                for p in group["params"]:
                    state = self.state[p]
                    if "z" not in state:
                        continue
                    # train: p = y = lerp(z, x, beta); eval: p = x
                    p.copy_(torch.lerp(state["z"], state["x"], group["beta"]) if to_train else state["x"])
                group["train_mode"] = to_train

    def train(self):
        self._swap(True)

    def eval(self):
        self._swap(False)

    @torch.no_grad()
    def step(self, closure=None):
        if not all(group["train_mode"] for group in self.param_groups):
            raise RuntimeError("ScheduleFreeSGD: step() in eval mode; call optimizer.train() first")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "z" not in state:
                    state["z"], state["x"], state["k"] = p.detach().clone(), p.detach().clone(), 0
                state["k"] += 1
                state["z"].sub_(group["lr"] * p.grad)
                state["x"].lerp_(state["z"], 1.0 / (state["k"] + 1))
                p.copy_(torch.lerp(state["z"], state["x"], group["beta"]))
        return loss
