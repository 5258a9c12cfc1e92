"""Broken subjects for T4's sparse gradients (issue #20 item 1, sparse bullet): each mishandles an
nn.Embedding(sparse=True)-style gradient whose rows repeat (one value row per occurrence, uncoalesced).

* ``LastWriteSGD``: torch.optim.SGD (for-loop) that densifies a sparse gradient by index assignment,
  ``dense[rows] = values``: a repeated row keeps one occurrence instead of their sum;
* ``UncoalescedAdagrad``: torch.optim.Adagrad (for-loop) that, for a sparse gradient, adds the square of each
  occurrence to ``sum`` (sum of squares instead of the square of the summed row, what coalescing first gives)
  and steps each occurrence on its own."""
from __future__ import annotations

import torch


class LastWriteSGD(torch.optim.SGD):
    def __init__(self, params, *args, **kwargs):
        super().__init__(params, *args, foreach=False, **kwargs)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.is_sparse:
                    g = p.grad
                    dense = torch.zeros_like(p)
                    dense[g._indices()[0]] = g._values()
                    p.grad = dense
        return super().step(closure)


class UncoalescedAdagrad(torch.optim.Adagrad):
    def __init__(self, params, *args, **kwargs):
        super().__init__(params, *args, foreach=False, **kwargs)

    @torch.no_grad()
    def step(self, closure=None):
        sparse = [(group, p) for group in self.param_groups for p in group["params"]
                  if p.grad is not None and p.grad.is_sparse]
        for group, p in sparse:
            state = self.state[p]
            state["step"] += 1
            clr = group["lr"] / (1 + (float(state["step"]) - 1) * group["lr_decay"])
            rows, values = p.grad._indices()[0], p.grad._values()
            if group["maximize"]:
                values = -values
            state["sum"].index_add_(0, rows, values * values)
            p.index_add_(0, rows, -clr * values / (state["sum"][rows].sqrt() + group["eps"]))
            p.grad = None
        return super().step(closure)
