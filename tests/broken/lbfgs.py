"""A from-scratch L-BFGS (fixed steps, or the strong-Wolfe line search) that T4's L-BFGS test must accept, and
the bugs it must reject: the two-loop recursion applying the initial scaling gamma = s^T y / y^T y twice (a
reported bug), and a strong-Wolfe bracketing phase that extrapolates at most 4 t instead of 10 t (a wrong
interpolation bound). ``STRONG = False`` (the weak curvature condition g_new^T d >= c2 g^T d, Nocedal & Wright
eq. (3.6) instead of (3.7)) is not a tooth: with lr <= 1 the first trial never overshoots on the test's
quadratics and the two conditions agree (measured: 0 of 40 cases differ)."""
from __future__ import annotations

import torch


class ScratchLBFGS(torch.optim.Optimizer):
    """L-BFGS with torch.optim.LBFGS's constructor and stopping rules, ``line_search_fn`` None or
    "strong_wolfe" (Nocedal & Wright Alg. 3.5/3.6 with cubic interpolation, lswolfe.lua's constants)."""

    SCALINGS = 1  # how often H_diag multiplies the recursion's middle vector
    EXTRAPOLATION = 10.0  # the bracketing phase's largest trial: this many times the current step
    STRONG = True  # the curvature condition |g_new^T d| <= c2 |g^T d| (False: g_new^T d >= c2 g^T d)

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"line_search_fn={line_search_fn!r}")
        self._line_search = line_search_fn
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
            gtd = torch.dot(flat, d)
            if gtd > -g["tolerance_change"]:
                break
            if self._line_search:
                x0 = [p.detach().clone() for p in self._params]
                loss, flat, t, n = self._wolfe(closure, x0, float(t), d, loss, flat, float(gtd), g["max_eval"] - evals,
                                               g["tolerance_change"])
                state["t"] = t
                self._move(t, d)
                evals += n
                if inner == g["max_iter"] or evals >= g["max_eval"] or flat.abs().max() <= g["tolerance_grad"]:
                    break
            else:
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


    def _at(self, closure, x0, t, d):
        """f, g and g^T d at x0 + t d; the parameters are restored to x0."""
        for p, x in zip(self._params, x0):
            p.copy_(x)
        self._move(t, d)
        with torch.enable_grad():
            f = float(closure())
        flat = self._flat_grad().clone()
        for p, x in zip(self._params, x0):
            p.copy_(x)
        return f, flat, float(torch.dot(flat, d))

    @staticmethod
    def _cubic(a, fa, ga, b, fb, gb, lo=None, hi=None):
        """Minimizer of the cubic through (a, fa, ga), (b, fb, gb), clamped to [lo, hi] (default: between a, b)."""
        if lo is None:
            lo, hi = min(a, b), max(a, b)
        d1 = ga + gb - 3 * (fa - fb) / (a - b)
        disc = d1 * d1 - ga * gb
        if disc < 0:
            return (lo + hi) / 2
        d2 = disc ** 0.5
        if a > b:
            a, ga, b, gb = b, gb, a, ga
        t = b - (b - a) * ((gb + d2 - d1) / (gb - ga + 2 * d2))
        return min(max(t, lo), hi)

    def _wolfe(self, closure, x0, t, d, f, g, gtd, max_ls, tolerance_change, c1=1e-4, c2=0.9):
        d_norm = float(d.abs().max())

        def curvature(gn):
            return abs(gn) <= -c2 * gtd if self.STRONG else gn >= c2 * gtd

        fn, gn_vec, gn = self._at(closure, x0, t, d)
        n, it, done = 1, 0, False
        tp, fp, gp_vec, gp = 0.0, f, g, gtd
        ts = fs = vs = ds = None
        while it < max_ls:
            if fn > f + c1 * t * gtd or (it > 1 and fn >= fp):
                ts, fs, vs, ds = [tp, t], [fp, fn], [gp_vec, gn_vec], [gp, gn]
                break
            if curvature(gn):
                ts, fs, vs, done = [t], [fn], [gn_vec], True
                break
            if gn >= 0:
                ts, fs, vs, ds = [tp, t], [fp, fn], [gp_vec, gn_vec], [gp, gn]
                break
            nxt = self._cubic(tp, fp, gp, t, fn, gn, t + 0.01 * (t - tp), t * self.EXTRAPOLATION)
            tp, fp, gp_vec, gp = t, fn, gn_vec, gn
            t = nxt
            fn, gn_vec, gn = self._at(closure, x0, t, d)
            n += 1
            it += 1
        if it == max_ls:
            ts, fs, vs = [0.0, t], [f, fn], [g, gn_vec]
        lo, hi = (0, 1) if fs[0] <= fs[-1] else (1, 0)
        stuck = False
        while not done and it < max_ls:
            if abs(ts[1] - ts[0]) * d_norm < tolerance_change:
                break
            t = self._cubic(ts[0], fs[0], ds[0], ts[1], fs[1], ds[1])
            top, bottom = max(ts), min(ts)
            margin = 0.1 * (top - bottom)
            if min(top - t, t - bottom) < margin:
                if stuck or t >= top or t <= bottom:
                    t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                    stuck = False
                else:
                    stuck = True
            else:
                stuck = False
            fn, gn_vec, gn = self._at(closure, x0, t, d)
            n += 1
            it += 1
            if fn > f + c1 * t * gtd or fn >= fs[lo]:
                ts[hi], fs[hi], vs[hi], ds[hi] = t, fn, gn_vec, gn
                lo, hi = (0, 1) if fs[0] <= fs[1] else (1, 0)
            else:
                if curvature(gn):
                    done = True
                elif gn * (ts[hi] - ts[lo]) >= 0:
                    ts[hi], fs[hi], vs[hi], ds[hi] = ts[lo], fs[lo], vs[lo], ds[lo]
                ts[lo], fs[lo], vs[lo], ds[lo] = t, fn, gn_vec, gn
        return fs[lo], vs[lo], ts[lo], n


class DoubleScalingLBFGS(ScratchLBFGS):
    """The reported bug: the initial Hessian scaling gamma applied twice in the two-loop recursion."""

    SCALINGS = 2


class ShortExtrapolationLBFGS(ScratchLBFGS):
    """Strong-Wolfe bracketing that never tries more than 4 t (torch7 / minFunc / torch.optim: 10 t)."""

    EXTRAPOLATION = 4.0
