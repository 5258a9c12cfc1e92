"""T4's driver: a subject and its family's reference recursions side by side over a contract case.

A contract case (``kinkcheck.strategies.gradients.contract_cases``) is what a user does with a
torch.optim-style optimizer: several parameter groups with their own hyperparameters, parameters of
mixed shapes and memory layouts, gradients in another layout than the parameter's, parameters
without a gradient at some steps under either ``zero_grad`` mode, hyperparameters written into
``param_groups`` between steps (an LR scheduler), a ``state_dict()`` saved mid-trajectory and loaded
into a freshly built optimizer. The subject runs it; one reference per parameter
(``recursions``) is fed exactly the gradient the subject saw (none when ``p.grad`` is None, zeros
when ``zero_grad(set_to_none=False)`` left zeros) with its group's hyperparameters of that step.
The references never call torch.optim.
"""
from __future__ import annotations

import contextlib
import inspect
import io
from dataclasses import dataclass, field

import torch

from kinkcheck.harness.core.records import theorem_id
from kinkcheck.harness.core.training import guarded_step
from kinkcheck.harness.oracles.recursions import reference_for
from kinkcheck.harness.subjects.specs import OptimizerSubject, SubjectError, check_finite

# Rounded floating-point operations per coordinate per step, an upper count for every recursion
# here: Adam's longest chain has 11 (decay, two for m, three for v, two bias corrections, sqrt,
# + eps, the scaled add into theta), AMSGrad's max and NAdam's two-term m_hat add 3 and 2.
OPS_PER_STEP = 16


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = eps / 2: the relative error of one correctly rounded operation in ``dtype``."""
    return torch.finfo(dtype).eps / 2


def rounding_bound(dtype: torch.dtype, steps: int) -> float:
    """gamma_n = n u / (1 - n u) with n = OPS_PER_STEP * steps (Higham, Accuracy and Stability of
    Numerical Algorithms, Lemma 3.1), relative to ``scale`` of ``ContractRun``.

    Derivation. Fed gradients that do not depend on the iterate, the subject's and the reference's
    recursions differ only by rounding (and by the order of operations, which changes roundings, not
    their number). Every rounded operation perturbs its result by a relative factor (1 + d),
    |d| <= u. Along one coordinate, the iterate after K steps is theta_0 plus K increments; each
    increment is computed from state that has itself been through at most OPS_PER_STEP roundings
    per step taken so far, and each rounding error in the state enters the increment at most with
    the weight of the quantity it perturbs (the recursions are sums with non-negative weights of
    their past terms, square roots and quotients of them, which do not amplify relative errors:
    d sqrt(x)/sqrt(x) = dx/2x). So the increment of step k carries a relative error below
    gamma_{OPS_PER_STEP k} of its own size, and the iterate an absolute error below
    gamma_{OPS_PER_STEP K} (|theta_0| + sum_k |increment_k|). The reference's own float64 error is
    below the same bound with u = 2^-53 and is added to it. Valid while no quantity leaves the
    dtype's normal range (no underflow, no overflow): the low-precision cases are generated there.
    """
    n = OPS_PER_STEP * steps
    nu = n * unit_roundoff(dtype)
    if nu >= 1:
        raise ValueError(f"{steps} steps in {dtype}: n u = {nu:.3g} >= 1, the rounding bound is void")
    own = nu / (1 - nu)
    return own if dtype == torch.float64 else own + rounding_bound(torch.float64, steps)


def informative_steps(dtype: torch.dtype, worst: float = 0.2) -> int:
    """The most steps for which ``rounding_bound`` stays below ``worst`` (a bound near 1 says nothing)."""
    return max(1, int(worst / (1 + worst) / (OPS_PER_STEP * unit_roundoff(dtype))))


def accepted(subject: OptimizerSubject, hp: dict) -> tuple[dict, list[str]]:
    """The hyperparameters ``subject``'s constructor accepts (by name, or through ``**kwargs``) and
    the names it does not take: a library's optimizer without ``maximize`` is not asked for it
    (nor is its reference), one that takes ``maximize`` must honour it."""
    try:
        sig = inspect.signature(subject.factory)
    except (TypeError, ValueError):
        return dict(hp), []
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(hp), []
    taken = {k: v for k, v in hp.items() if k in sig.parameters}
    return taken, sorted(set(hp) - set(taken))


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Run with ``torch.get_default_dtype() == dtype``, restored afterwards."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@dataclass
class ContractRun:
    """The outcome of one contract case."""

    max_deviation: float  # max over steps and coordinates of |subject - reference| / scale
    worst: str  # where, in words
    bound: float
    steps: int
    moved: bool  # some reference increment was nonzero (non-vacuity)
    reached: dict = field(default_factory=dict)  # regime -> whether the case reached it
    twin_mismatch: str | None = None  # state_dict round trip: first difference, in words
    not_taken: list = field(default_factory=list)  # hyperparameters the subject's constructor lacks


def _build(subject, groups, leaves, hps):
    first, *rest = hps
    param_groups = [{"params": leaves[0]}] + [{"params": ls, **hp} for ls, hp in zip(leaves[1:], rest)]
    return subject.build(param_groups, **first)


def run_contract(subject: OptimizerSubject, case) -> ContractRun:
    """Run ``case`` on ``subject`` and on the references; compare after every step.

    float64 cases run with float64 as the default dtype (torch.optim allocates scalar state -- step
    counters, NAdam's mu product, ASGD's eta -- in the default dtype, and T4 is a float64 statement
    there); low-precision cases with float32, as mixed-precision training runs."""
    hps, not_taken = [], set()
    for g in case.groups:
        hp, missing = accepted(subject, g.hyperparameters)
        hps.append(hp)
        not_taken |= set(missing)
    changes = {k: {i: {n: v for n, v in c.items() if n in hps[i]} for i, c in ch.items()}
               for k, ch in case.changes.items()}
    plist = case.parameters
    leaves = [[p.leaf(case.dtype) for p in g.parameters] for g in case.groups]
    flat_leaves = [leaf for ls in leaves for leaf in ls]
    group_of = [i for i, g in enumerate(case.groups) for _ in g.parameters]
    refs = [reference_for(subject.family, leaf.detach(), hps[i]) for leaf, i in zip(flat_leaves, group_of)]
    current = [dict(hp) for hp in hps]
    reached = {"absent gradient after a step": False, "zero gradient kept by zero_grad(set_to_none=False)": False,
               "hyperparameters changed between steps": False, "several groups": len(case.groups) > 1,
               "state_dict round trip": False}
    theta0 = torch.cat([r.theta.reshape(-1) for r in refs])
    subject_rows, reference_rows = [theta0.clone()], [theta0.clone()]
    twin = None
    twin_mismatch = None
    had_grad = [False] * len(plist)
    run_dtype = torch.float64 if case.dtype == torch.float64 else torch.float32

    with default_dtype(run_dtype):
        optimizer = _build(subject, case.groups, leaves, hps)
        for k in range(1, case.steps + 1):
            for i, change in changes.get(k, {}).items():
                if any(current[i].get(name) != value for name, value in change.items()):
                    reached["hyperparameters changed between steps"] = True
                current[i].update(change)
                for opt in filter(None, (optimizer, twin and twin[0])):
                    opt.param_groups[i].update(change)
            to_none = case.set_to_none[k - 1]
            optimizer.zero_grad(set_to_none=to_none)
            if twin:
                twin[0].zero_grad(set_to_none=to_none)
            for j, (p, leaf) in enumerate(zip(plist, flat_leaves)):
                if (k, j) in case.absent:
                    if leaf.grad is None and had_grad[j]:
                        reached["absent gradient after a step"] = True
                    elif leaf.grad is not None:
                        reached["zero gradient kept by zero_grad(set_to_none=False)"] = True
                    continue
                g = p.arrange(case.gradient(k, j), leaf)
                leaf.grad = g
                if twin:
                    twin[1][j].grad = g.clone()
            for j, leaf in enumerate(flat_leaves):
                if leaf.grad is not None:
                    had_grad[j] = True
                    refs[j].step(leaf.grad, current[group_of[j]])
            guarded_step(optimizer, subject, None, k)
            check_finite(subject, flat_leaves, f"after step {k} in {theorem_id()}")
            subject_rows.append(torch.cat([leaf.detach().reshape(-1).to(torch.float64) for leaf in flat_leaves]))
            reference_rows.append(torch.cat([r.theta.reshape(-1) for r in refs]))
            if twin:
                guarded_step(twin[0], subject, None, k)
                if twin_mismatch is None:
                    twin_mismatch = _first_difference(flat_leaves, twin[1], k, case.save_at)
            if k == case.save_at:
                twin = _round_trip(subject, case, optimizer, leaves, hps)
                reached["state_dict round trip"] = True

    s, r = torch.stack(subject_rows), torch.stack(reference_rows)
    increments = (r[1:] - r[:-1]).abs()
    scale = theta0.abs() + torch.cat([torch.zeros_like(theta0)[None], increments.cumsum(0)])
    diff = (s - r).abs()
    dev = torch.where(diff == 0, torch.zeros_like(diff), diff / scale.clamp_min(torch.finfo(torch.float64).tiny))
    worst, where = 0.0, "nowhere"
    if dev.numel():
        idx = int(dev.argmax())
        k, c = divmod(idx, dev.shape[1])
        worst = float(dev.view(-1)[idx])
        j, offset = _locate(refs, c)
        where = (f"after step {k}, parameter {j} (group {group_of[j]}, {plist[j].layout} "
                 f"{tuple(plist[j].values.shape)}, grad layout {plist[j].grad_layout}) element {offset}: subject "
                 f"{float(s[k, c])!r}, reference {float(r[k, c])!r}; group hyperparameters at that step "
                 f"{_hp_at(hps[group_of[j]], changes, group_of[j], k)}")
    return ContractRun(worst, where, rounding_bound(case.dtype, case.steps), case.steps,
                       bool((increments != 0).any()), reached, twin_mismatch, sorted(not_taken))


def _hp_at(hp, changes, i, k):
    hp = dict(hp)
    for step in sorted(changes):
        if step <= k:
            hp.update(changes[step].get(i, {}))
    return hp


def _locate(refs, c):
    for j, ref in enumerate(refs):
        if c < ref.theta.numel():
            return j, c
        c -= ref.theta.numel()
    return len(refs) - 1, c


def _round_trip(subject, case, optimizer, leaves, hps):
    """state_dict() saved through torch.save (as a checkpoint is), loaded into an optimizer built
    afresh, as at the start, on copies of the current parameters (same layouts, and their current
    ``.grad``: a zero_grad(set_to_none=False) keeps a zero gradient that the next step uses)."""
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    copies = []
    for g, ls in zip(case.groups, leaves):
        group = []
        for p, leaf in zip(g.parameters, ls):
            c = p.leaf(case.dtype)
            with torch.no_grad():
                c.copy_(leaf)
            if leaf.grad is not None:  # what zero_grad(set_to_none=False) will zero next
                c.grad = leaf.grad.clone()
            group.append(c)
        copies.append(group)
    fresh = _build(subject, case.groups, copies, hps)
    try:
        fresh.load_state_dict(torch.load(buffer, weights_only=False))
    except Exception as exc:
        raise SubjectError(f"{theorem_id()}: optimizer {subject.label} ({subject.spec}) could not load its own "
                           f"state_dict() after step {case.save_at}: {type(exc).__name__}: {exc}") from exc
    return fresh, [leaf for ls in copies for leaf in ls]


def _first_difference(leaves, twin_leaves, k, save_at):
    from kinkcheck.harness.core.assertions import bits

    for j, (a, b) in enumerate(zip(leaves, twin_leaves)):
        differ = bits(a) != bits(b)
        if bool(differ.any()):
            i = int(differ.reshape(-1).nonzero()[0])
            return (f"after step {k} (state_dict saved after step {save_at}), parameter {j} element {i}: "
                    f"uninterrupted {float(a.detach().reshape(-1)[i])!r}, reloaded "
                    f"{float(b.detach().reshape(-1)[i])!r}")
    return None
