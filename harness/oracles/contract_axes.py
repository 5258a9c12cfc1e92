"""T4's usage axes (issue #20 item 1), the pieces ``contract_runs.run_contract`` drives them with, and the
``differentiable=True`` driver.

- complex parameters: torch.optim documents that a complex parameter is optimized as its ``view_as_real``
  pair; the reference runs on that pair (``real``), and the per-step check reads the subject's iterate,
  gradient and state through the same view (``RealView``, ``RealStates``);
- tensor hyperparameters: handed to the subject as 0-d tensors (``tensorize``), rewritten between steps as
  torch's LR schedulers rewrite a tensor value, in place (``write_group``: lr_scheduler.
  _update_param_group_val fills a tensor, assigns anything else), and never aliased: after the run every
  tensor the user handed over is bitwise what it was (``UserTensors``);
- public state: the step count and ASGD's averaged iterate ``ax``, ``eta`` and ``mu`` against the
  reference (``public_state_deviation``);
- ``differentiable=True``: the iterates still follow the recursion, and a gradient flows from the updated
  parameters back to the first gradient handed to each parameter (``run_differentiable``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kinkcheck.harness.core import guard
from kinkcheck.harness.core.assertions import bits


def real(t: torch.Tensor) -> torch.Tensor:
    """A complex tensor's ``view_as_real`` pair (last dimension 2); a real tensor unchanged."""
    return torch.view_as_real(t) if isinstance(t, torch.Tensor) and t.is_complex() else t


class RealView:
    """A parameter as the per-step check reads it (``contract_runs.PerStep``): its iterate and gradient
    through ``real``. Everything else is the leaf's."""

    def __init__(self, leaf: torch.Tensor):
        self.leaf = leaf

    def detach(self):
        return real(self.leaf.detach())

    @property
    def grad(self):
        return None if self.leaf.grad is None else real(self.leaf.grad)

    def __getattr__(self, name):
        return getattr(real(self.leaf), name)


class RealStates:
    """An optimizer's ``state`` keyed by ``RealView``s, every tensor through ``real`` (a complex state
    buffer is its real pair, as the reference of the real view holds it)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    @property
    def state(self):
        return self

    def get(self, view, default=None):
        state = getattr(self.optimizer, "state", {}).get(view.leaf, default)
        if not isinstance(state, dict):
            return state
        return {k: real(v) for k, v in state.items()}


def tensorize(view: dict, names) -> dict:
    """``view`` (hyperparameters under the suite's names) with ``names`` as 0-d tensors of the default
    dtype (a pair: a pair of tensors), as a user hands a tensor lr or tensor betas to torch.optim."""
    out = dict(view)
    for name in names:
        if name in out and out[name] is not None:
            v = out[name]
            out[name] = tuple(torch.tensor(float(x)) for x in v) if isinstance(v, tuple) else torch.tensor(float(v))
    return out


class UserTensors:
    """Every tensor handed to the subject as a hyperparameter, with a bitwise copy taken when it was handed
    over: ``changed()`` names the first one that is no longer what the user gave."""

    def __init__(self):
        self.kept = []

    def record(self, where: str, hp: dict) -> dict:
        for name, v in hp.items():
            for i, t in enumerate(v if isinstance(v, tuple) else (v,)):
                if isinstance(t, torch.Tensor):
                    label = f"{name}[{i}]" if isinstance(v, tuple) else name
                    self.kept.append((f"{label} of {where}", t, t.detach().clone()))
        return hp

    def changed(self) -> str | None:
        for what, t, copy in self.kept:
            if not torch.equal(bits(t), bits(copy)):
                return f"the user's tensor {what}: handed over as {float(copy)!r}, after the run {float(t)!r}"
        return None


class SubjectGroups:
    """The subject's view of each group's hyperparameters (``_view``), as handed to it: the usage axis
    "tensor hyperparameters" hands ``case.tensor_hyperparameters`` over as 0-d tensors (recorded in
    ``user``, which must be unchanged after the run)."""

    def __init__(self, subject, case, hps):
        self.subject, self.case, self.hps = subject, case, hps
        self.user = UserTensors()
        self.joined = len(hps) - (case.late_group is not None)  # the late group joins through add_param_group

    def view(self, i, where, *, late=None):
        from kinkcheck.harness.oracles.contract_runs import _view

        hp = _view(self.subject, self.hps[i] if late is None else late)
        if late is not None:  # what the family reads from the constructor only is not passed again
            hp = {k: v for k, v in hp.items() if k not in dict(self.subject.record.constructor_only)}
        return self.user.record(where, tensorize(hp, self.case.tensor_hyperparameters))

    def build(self, leaves, n):
        first, *rest = [self.view(i, "the constructor" if i == 0 else f"parameter group {i}") for i in range(n)]
        param_groups = [{"params": leaves[0]}] + [{"params": ls, **hp} for ls, hp in zip(leaves[1:n], rest)]
        return self.subject.build(param_groups, **first)

    def add(self, optimizer, leaves, k, current):
        """The late group joins with its hyperparameters of step k (a change drawn before it joined included)."""
        i = len(self.hps) - 1
        group = self.subject.groups([{"params": leaves[i], **self.view(i, "add_param_group", late=current[i])}])[0]
        add_group(self.subject, optimizer, group, k)


def write_group(group: dict, change: dict) -> None:
    """Write ``change`` (constructor names) into a parameter group as torch's LR schedulers do
    (torch/optim/lr_scheduler.py, _update_param_group_val): a value the group holds as a tensor is filled in
    place (each tensor of a pair), anything else is assigned."""
    for name, value in change.items():
        held = group.get(name)
        if isinstance(held, torch.Tensor):
            with torch.no_grad():
                held.fill_(float(value))
        elif isinstance(held, (tuple, list)) and held and all(isinstance(t, torch.Tensor) for t in held):
            with torch.no_grad():
                for t, v in zip(held, value):
                    t.fill_(float(v))
        else:
            group[name] = value


# ASGD's averaged iterate: ax_k = ax_{k-1} + mu (theta_k - ax_{k-1}) is a convex combination of the iterates
# (0 < mu <= 1), so |ax| <= max_k |theta_k| <= scale (|theta_0| plus the path length, ``ContractRun``). Its
# error is at most the worst iterate's, gamma_{16 k}(u) scale, plus the averaging's own three roundings per step
# on quantities below 2 scale and mu's two roundings weighted by |theta - ax| <= 2 scale: 6 k u + 4 k u more, in
# all below gamma_{26 k}(u) scale <= gamma_{32 k}(u) scale = rounding_bound(dtype, 2 k) scale.
AX_STEPS_FACTOR = 2


def public_state_deviation(ref, state, scale: torch.Tensor, k: int, dtype: torch.dtype):
    """The subject's public state after its k-th step against the reference (float64 runs): the step count
    exactly (torch.optim's ``state['step']``, where the subject keeps one), and each ``PUBLIC`` attribute of
    the reference (ASGD: ``ax`` within ``rounding_bound(dtype, 2 k)`` of ``scale``; ``eta``, ``mu``: Python
    scalars of the reference, within gamma_c(u) of themselves, c = ``SCALAR_OPS``). Returns (ratio to the
    bound, words) of the worst, (0, None) when all agree."""
    from kinkcheck.harness.oracles.contract_runs import rounding_bound, unit_roundoff
    from kinkcheck.harness.oracles.recursions import _gamma

    if not isinstance(state, dict):
        return 0.0, None
    worst = (0.0, None)
    count = state.get("step")
    if isinstance(count, (torch.Tensor, int, float)) and not isinstance(count, bool):
        held = float(count.item() if isinstance(count, torch.Tensor) else count)
        if held != ref.t:
            return float("inf"), f"state['step'] = {held!r} after the parameter's step {ref.t}"
    for key, attr in getattr(ref, "PUBLIC", {}).items():
        value = state.get(key)
        mine = getattr(ref, attr, None)
        if not isinstance(value, (torch.Tensor, float, int)) or mine is None:
            continue
        sub = real(value).detach().to(torch.float64) if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        x = mine if isinstance(mine, torch.Tensor) else torch.tensor(float(mine), dtype=torch.float64)
        sub = sub.reshape(x.shape)
        if isinstance(mine, torch.Tensor):  # a per-coordinate state (even of a 0-d parameter): an average of iterates
            bound = rounding_bound(dtype, AX_STEPS_FACTOR * k) * scale.reshape(x.shape)
        else:
            bound = _gamma(ref.SCALAR_OPS.get(attr, 1), unit_roundoff(dtype)) * x.abs()
        diff = (sub - x).abs()
        ratio = torch.where(diff == 0, torch.zeros_like(diff), diff / bound.clamp_min(torch.finfo(torch.float64).tiny))
        if ratio.numel() and float(ratio.max()) > worst[0]:
            i = int(ratio.reshape(-1).argmax())
            worst = (float(ratio.max()), f"state[{key!r}] element {i}: subject {float(sub.reshape(-1)[i])!r}, "
                                         f"reference {float(x.reshape(-1)[i])!r} +- {float(bound.reshape(-1)[i]):.3g}")
    return worst


@dataclass
class DifferentiableRun:
    max_deviation: float  # worst |subject - reference| / scale over steps and coordinates
    worst: str
    bound: float
    moved: bool
    no_gradient: str | None  # a parameter whose first gradient gets no (or a non-finite) gradient, in words


def run_differentiable(subject, case) -> DifferentiableRun:
    """``case`` run with ``differentiable=True`` (torch.optim's meta-learning mode) on non-leaf parameters
    (clones of leaves that require grad, as torch's own tests drive it), the gradients handed over directly
    (no ``zero_grad``; an absent gradient is None). The float64 iterates are compared with the family's
    reference after every step (the bound of ``contract_runs.rounding_bound``). At the last step every
    parameter that has stepped before gets a gradient that requires grad, and ``torch.autograd.grad`` of the
    sum of the updated parameters with respect to those gradients must be defined and finite: one
    differentiable step from existing state, as torch's own tests of the flag check it (the update is
    differentiable there: the state's second moments are positive, so no sqrt is taken at 0)."""
    from kinkcheck.harness.oracles.contract_runs import (_hp_at, _view, accepted, default_dtype, relative_deviation,
                                                       rounding_bound)
    from kinkcheck.harness.oracles.recursions import reference_for
    from kinkcheck.harness.core.training import guarded_step

    hps = [accepted(subject, g.hyperparameters)[0] for g in case.groups]
    plist = case.parameters
    group_of = [i for i, g in enumerate(case.groups) for _ in g.parameters]
    with default_dtype(torch.float64):
        bases = [[p.leaf(torch.float64) for p in g.parameters] for g in case.groups]
        params = [[b.clone() for b in bs] for bs in bases]  # non-leaf, as differentiable=True is used
        flat = [q for qs in params for q in qs]
        refs = [reference_for(subject.family, real(q.detach()), hps[i]) for q, i in zip(flat, group_of)]
        first, *rest = [_view(subject, hp) for hp in hps]
        groups = [{"params": params[0]}] + [{"params": qs, **hp} for qs, hp in zip(params[1:], rest)]
        optimizer = subject.build(groups, **first, differentiable=True)
        current = [dict(hp) for hp in hps]
        inputs, owners = [], []
        theta0 = torch.cat([r.theta.reshape(-1) for r in refs])
        rows_s, rows_r = [theta0.clone()], [theta0.clone()]
        for k in range(1, case.steps + 1):
            for i, change in case.changes.get(k, {}).items():
                change = {n: v for n, v in change.items() if n in _view(subject, hps[i])}
                current[i].update(change)
                write_group(optimizer.param_groups[i], subject.translate(change))
            for j, (p, q) in enumerate(zip(plist, flat)):
                last = k == case.steps and refs[j].t > 0  # the last step: every parameter that stepped before
                if (k, j) in case.absent and not last:
                    q.grad = None
                    continue
                g = p.arrange(case.gradient(k, j), q)
                if last:
                    g.requires_grad_(True)
                    inputs.append(g)
                    owners.append(j)
                q.grad = g
                refs[j].step(real(g.detach()), current[group_of[j]])
            guarded_step(optimizer, subject, None, k)
            rows_s.append(torch.cat([real(q.detach()).reshape(-1) for q in flat]))
            rows_r.append(torch.cat([r.theta.reshape(-1) for r in refs]))
        s, r = torch.stack(rows_s), torch.stack(rows_r)
        dev = relative_deviation(s, r, theta0)
        worst, where = 0.0, "nowhere"
        if dev.numel():
            idx = int(dev.argmax())
            kk, c = divmod(idx, dev.shape[1])
            worst = float(dev.reshape(-1)[idx])
            where = (f"after step {kk}, coordinate {c} of the flattened parameters: subject {float(s[kk, c])!r}, "
                     f"reference {float(r[kk, c])!r}; hyperparameters "
                     f"{_hp_at(hps[0], case.changes, 0, kk)} (group 0)")
        no_gradient = None
        live = [(g, j) for g, j in zip(inputs, owners) if flat[j].numel()]
        if live:
            total = sum(q.sum() for q in flat if q.numel()).real
            if not total.requires_grad:
                no_gradient = ("the updated parameters do not depend on the gradients handed over (no autograd graph "
                               "through step(): the update ran outside autograd)")
            else:
                grads = guard.call(subject, "torch.autograd.grad through its differentiable steps", torch.autograd.grad,
                                   total, [g for g, _ in live], allow_unused=True)
                for (g, j), d in zip(live, grads):
                    if d is None or not bool(torch.isfinite(real(d)).all()):
                        what = "no gradient (unused in the graph)" if d is None else "a non-finite gradient"
                        no_gradient = (f"parameter {j} ({plist[j].layout} {plist[j].shape()}): {what} from the "
                                       f"updated parameters back to the gradient of step {case.steps}")
                        break
    return DifferentiableRun(worst, where, rounding_bound(torch.float64, case.steps), bool((r[1:] != r[:-1]).any()),
                             no_gradient)


@dataclass
class ThroughRun:
    """``run_differentiable_through``'s outcome: what was undefined (None when every derivative of the last
    iterate with respect to a parameter's first gradient is defined, finite and nonzero where the
    reference's is), and how many were compared."""

    undefined: str | None
    compared: int


def _differentiable_step(ref, g: torch.Tensor, hp: dict) -> None:
    """``Reference.step`` without its ``detach``: the float64 recursion evaluated under autograd (the
    references are written out of place), so torch.autograd.grad differentiates the recursion itself."""
    ref.configure(**hp)
    if not ref.started:
        ref.init_state()
        ref.started = True
    ref.t += 1
    g = g.to(torch.float64).reshape(ref.theta.shape)
    ref.theta = ref.update(-g if ref.maximize else g)


def run_differentiable_through(subject, case) -> ThroughRun:
    """torch.optim's documented ``differentiable=True`` over a whole (short) run: ``case`` on non-leaf
    float64 parameters built with differentiable=True, every gradient handed over a leaf that requires grad,
    and ``torch.autograd.grad`` of the sum of the last iterates with respect to each parameter's FIRST
    gradient: it must be defined and finite, and equal the derivative autograd computes through the family's
    float64 reference recursion (``recursions``) fed the same gradients -- a step that cuts the graph
    (a state buffer detached at its creation, an in-place update of a tensor autograd saved) gives no, a
    raising or another derivative.

    What is compared. The derivative is defined (not None: the parameter's first gradient is in the graph),
    finite, and nonzero wherever the reference's is (a path the recursion has, the subject has too); where the
    reference's is zero for a whole parameter (sign-based updates) nothing is asked.

    Its VALUE, for the families whose record says ``linear_in_gradients`` (SGD, heavy ball, Nesterov): both
    derivatives are float64 sums over the graph's paths of products of local derivatives, so each lies within
    gamma_{OPS_PER_STEP K}(u) of the sum of the ABSOLUTE path terms P (Higham, Sec. 3.1, applied to the adjoint
    recursion, which has as many operations per step as the forward one). Autograd does not give P in general;
    for these recursions it does: every local derivative is lr, momentum, 1 - dampening, 1 (non-negative; -lr
    once, into the iterate) or +-lr weight_decay (the decay loop theta -> g -> theta), so flipping
    weight_decay's sign makes every path term of one sign and P = |the reference's derivative with
    -weight_decay|. The subject's must lie within 2 gamma P of the reference's (two float64 evaluations): a
    buffer detached at its creation under Nesterov (the direct path kept, the buffer's lost) gives a nonzero
    derivative off by a factor 1 + momentum and fails here. In the adaptive recursions the terms cancel
    (d/dg of m / (sqrt(v) + eps) is a difference of two terms of size lr / |g| that leaves one of size
    lr eps / g^2): torch's and the reference's derivatives measured 1e-10 to 1e-8 apart relative to the
    derivative itself, and no P is at hand, so there the value is not compared.
    """
    from kinkcheck.harness.core.training import guarded_step
    from kinkcheck.harness.oracles.contract_runs import _view, accepted, default_dtype, rounding_bound
    from kinkcheck.harness.oracles.recursions import reference_for
    from kinkcheck.harness.subjects.families import FAMILIES

    linear = FAMILIES[subject.family].linear_in_gradients

    hps = [accepted(subject, g.hyperparameters)[0] for g in case.groups]
    plist = case.parameters
    group_of = [i for i, g in enumerate(case.groups) for _ in g.parameters]
    with default_dtype(torch.float64):
        params = [[p.leaf(torch.float64).clone() for p in g.parameters] for g in case.groups]
        flat = [q for qs in params for q in qs]
        refs = [reference_for(subject.family, real(q.detach()), hps[i]) for q, i in zip(flat, group_of)]
        # the same recursion with weight_decay's sign flipped: its derivative's magnitude is P (linear families)
        flipped = [reference_for(subject.family, real(q.detach()), _flip_decay(hps[i]))
                   for q, i in zip(flat, group_of)]
        first, *rest = [_view(subject, hp) for hp in hps]
        groups = [{"params": params[0]}] + [{"params": qs, **hp} for qs, hp in zip(params[1:], rest)]
        optimizer = subject.build(groups, **first, differentiable=True)
        current = [dict(hp) for hp in hps]
        firsts = {}  # parameter -> (the subject's first gradient, the reference's copy, its step, the flipped's copy)
        for k in range(1, case.steps + 1):
            for i, change in case.changes.get(k, {}).items():
                change = {n: v for n, v in change.items() if n in _view(subject, hps[i])}
                current[i].update(change)
                write_group(optimizer.param_groups[i], subject.translate(change))
            for j, (p, q) in enumerate(zip(plist, flat)):
                if (k, j) in case.absent:
                    q.grad = None
                    continue
                g = p.arrange(case.gradient(k, j), q).requires_grad_(True)
                mine = real(g.detach()).clone().requires_grad_(True)
                theirs_flipped = real(g.detach()).clone().requires_grad_(True)
                firsts.setdefault(j, (g, mine, k, theirs_flipped))
                q.grad = g
                _differentiable_step(refs[j], mine, current[group_of[j]])
                if linear:
                    _differentiable_step(flipped[j], theirs_flipped, _flip_decay(current[group_of[j]]))
            guarded_step(optimizer, subject, None, k)
        live = [j for j in sorted(firsts) if flat[j].numel()]
        if not live:
            return ThroughRun(None, 0)
        total = sum(flat[j].sum() for j in live).real
        if not total.requires_grad:
            return ThroughRun("the last iterates do not depend on the gradients handed over (no autograd graph "
                              "through step(): the update ran outside autograd)", 0)
        theirs = guard.call(subject, f"torch.autograd.grad through its {case.steps} differentiable steps",
                            torch.autograd.grad, total, [firsts[j][0] for j in live], allow_unused=True)
        ours = torch.autograd.grad(sum(refs[j].theta.sum() for j in live), [firsts[j][1] for j in live],
                                   allow_unused=True)
        paths = (torch.autograd.grad(sum(flipped[j].theta.sum() for j in live), [firsts[j][3] for j in live],
                                     allow_unused=True) if linear else [None] * len(live))
    for j, d, r, absolute in zip(live, theirs, ours, paths):
        r = torch.zeros_like(firsts[j][1]) if r is None else r.detach()
        what = f"parameter {j} ({plist[j].layout} {plist[j].shape()}, first gradient at step {firsts[j][2]})"
        # Judged only where autograd through the float64 recursion is finite: at a coordinate whose first
        # gradient is exactly 0, d sqrt(v)/dv = inf meets dv/dg = 0 (NaN for any implementation that takes the
        # square root of the second moment, the reference included) -- a point autograd cannot differentiate.
        judged = torch.isfinite(r)
        needed = judged & (r != 0)  # where the recursion's derivative is nonzero
        if not bool(needed.any()):
            continue
        if d is None:
            return ThroughRun(f"{what}: no gradient (unused in the graph) from the iterate after step {case.steps} "
                              f"back to its first gradient; the recursion's derivative there is nonzero (largest "
                              f"|d theta/d g| {float(r.abs().max()):.3g})", len(live))
        d = real(d.detach()).reshape(r.shape)
        if not bool(torch.isfinite(d[judged]).all()):
            return ThroughRun(f"{what}: a non-finite gradient back to its first gradient where the recursion's is "
                              f"finite", len(live))
        lost = needed & (d == 0)
        if bool(lost.any()):
            i = int(lost.reshape(-1).nonzero()[0])
            return ThroughRun(f"{what} element {i}: d(theta after step {case.steps})/d(first gradient) = 0, the "
                              f"recursion's {float(r.reshape(-1)[i])!r} (the first gradient's path is cut)", len(live))
        if linear:
            bound = 2 * rounding_bound(torch.float64, case.steps) * (torch.zeros_like(r) if absolute is None
                                                                       else absolute.detach().abs())
            off = judged & ((d - r).abs() > bound)
            if bool(off.any()):
                i = int(off.reshape(-1).nonzero()[0])
                mine_i, ref_i, bound_i = (float(t.reshape(-1)[i]) for t in (d, r, bound))
                return ThroughRun(f"{what} element {i}: d(theta after step {case.steps})/d(first gradient) = "
                                  f"{mine_i!r}, the recursion's {ref_i!r} (|difference| {abs(mine_i - ref_i):.3g} > "
                                  f"{bound_i:.3g}, twice the float64 rounding bound of {case.steps} steps times the "
                                  f"sum of the absolute path terms: a path of the recursion is lost or counted "
                                  f"twice)", len(live))
    return ThroughRun(None, len(live))


def _flip_decay(hp: dict) -> dict:
    """``hp`` with weight_decay's sign flipped (``run_differentiable_through``'s absolute path sum)."""
    return {**hp, "weight_decay": -hp["weight_decay"]} if "weight_decay" in hp else hp


def add_group(subject, optimizer, group: dict, k: int) -> None:
    """``optimizer.add_param_group(group)`` before step k, a call into the subject."""
    guard.call(subject, f"add_param_group before step {k}", optimizer.add_param_group, group)
