"""A from-scratch L-BFGS (fixed steps, no line search) that T4's L-BFGS test must accept, and the
reported bug it must reject: the two-loop recursion applying the initial scaling gamma = s^T y / y^T y
twice (once to q before the first loop's result is used, once more at the end)."""
from __future__ import annotations

import torch


class ScratchLBFGS(torch.optim.Optimizer):
    """L-BFGS with torch.optim.LBFGS's constructor and stopping rules, ``line_search_fn=None`` only."""

    SCALINGS = 1  # how often H_diag multiplies the recursion's middle vector

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if line_search_fn is not None:
            raise ValueError("ScratchLBFGS has no line search")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size))
        self._params = self.param_groups[0]["params"]

    def _flat_grad(self):
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self._params])

    def _move(self, t, d):
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(d[offset:offset + n].view_as(p), alpha=t)
            offset += n

    @torch.no_grad()
    def step(self, closure):
        g = self.param_groups[0]
        state = self.state[self._params[0]]
        state.setdefault("n_iter", 0)
        with torch.enable_grad():
            loss = float(closure())
        evals = 1
        flat = self._flat_grad()
        if flat.abs().max() <= g["tolerance_grad"]:
            return loss
        for inner in range(1, g["max_iter"] + 1):
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat
                state.update(dirs=[], stps=[], ro=[], H=1.0)
            else:
                y = flat - state["prev"]
                s = state["d"] * state["t"]
                ys = torch.dot(y, s)
                if ys > 1e-10:
                    if len(state["dirs"]) == g["history_size"]:
                        for k in ("dirs", "stps", "ro"):
                            state[k].pop(0)
                    state["dirs"].append(y)
                    state["stps"].append(s)
                    state["ro"].append(1.0 / ys)
                    state["H"] = ys / torch.dot(y, y)
                q = -flat
                al = [None] * len(state["dirs"])
                for i in reversed(range(len(state["dirs"]))):
                    al[i] = torch.dot(state["stps"][i], q) * state["ro"][i]
                    q = q - al[i] * state["dirs"][i]
                r = q
                for _ in range(self.SCALINGS):
                    r = r * state["H"]
                for i in range(len(state["dirs"])):
                    be = torch.dot(state["dirs"][i], r) * state["ro"][i]
                    r = r + (al[i] - be) * state["stps"][i]
                d = r
            state["prev"] = flat.clone()
            prev_loss = loss
            t = min(1.0, 1.0 / flat.abs().sum()) * g["lr"] if state["n_iter"] == 1 else g["lr"]
            state["d"], state["t"] = d, t
            if torch.dot(flat, d) > -g["tolerance_change"]:
                break
            self._move(t, d)
            if inner == g["max_iter"]:
                break
            with torch.enable_grad():
                loss = float(closure())
            evals += 1
            flat = self._flat_grad()
            if evals >= g["max_eval"] or flat.abs().max() <= g["tolerance_grad"]:
                break
            if (d * t).abs().max() <= g["tolerance_change"] or abs(loss - prev_loss) < g["tolerance_change"]:
                break
        return loss


class DoubleScalingLBFGS(ScratchLBFGS):
    """The reported bug: the initial Hessian scaling gamma applied twice in the two-loop recursion."""

    SCALINGS = 2
