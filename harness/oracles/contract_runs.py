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
import io
from dataclasses import dataclass, field

import torch

from kinkcheck.harness.core.guard import Guarded
from kinkcheck.harness.core.records import theorem_id
from kinkcheck.harness.core.training import guarded_step
from kinkcheck.harness.oracles.recursions import reference_for
from kinkcheck.harness.core.outcomes import NotSupported
from kinkcheck.harness.oracles.contract_axes import (RealStates, RealView, SubjectGroups, public_state_deviation,
                                                      real, write_group)
from kinkcheck.harness.subjects.families import SWITCH_OFF
from kinkcheck.harness.subjects.specs import OptimizerSubject, SubjectError, accepted_keywords, check_finite

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


# The accumulation precision of a reduction (a norm, a mean, a matrix product) in a low-precision run:
# torch's CPU and CUDA reductions accumulate bfloat16/float16 in float32 (``Bounded``).
ACCUMULATION = torch.float32


class PerStep:
    """T4 in float32, bfloat16 and float16: after every step, each parameter's iterate (and each piece
    of its state the subject exposes under torch.optim's names) against one step of the family's
    float64 recursion started from the subject's OWN previous iterate and state, as the subject held
    them, within a bound derived from the step's own formula.

    Derivation. Let theta, S be the subject's iterate and state before step k (read exactly: they are
    floating-point numbers) and g the gradient it was given. The recursion maps them to theta' = F(theta,
    S, g), S' = G(theta, S, g) in exact arithmetic; the subject evaluates the same formula with every
    operation rounded to its dtype's unit roundoff u (|d| <= u, Higham Sec. 2.2; ops an implementation
    runs in float32 and rounds once have smaller errors, so charging u to each is an upper bound for
    for-loop, foreach and fused paths alike). ``recursions.Bounded`` carries, beside the exact value of
    every intermediate quantity, a bound on the subject's deviation from it, operation by operation
    (Higham's running error analysis, Sec. 3.3: a sum adds the bounds and the rounding u (|x| + e) of
    its result, a product weighs each bound by the other factor's magnitude, a quotient divides by the
    denominator's lower bound, sqrt halves a relative error, max/sign/clamp carry it; the rules and
    their proofs are on ``Bounded``). So the per-coordinate bound on theta' is exactly "|theta'| u for
    the final rounding of the add, plus the step's terms, each weighted by the count c of roundings on
    its path", with c counted from the family's update as the reference executes it -- and, unlike
    c u |step|, with magnitudes of the terms before they cancel (a momentum buffer mu b + g near 0 has
    an error of order u (|mu b| + |g|), not u |mu b + g|: the coordinate near 0 of issue #20's RMSprop
    flake). It holds to all orders (the second-order terms e_a e_b and u e are included), for every dtype
    with the quantities inside its normal range (the low-precision cases are generated there).

    Reading the state. Where the subject exposes its state under torch.optim's names (``STATE`` of each
    reference: exp_avg, exp_avg_sq, momentum_buffer, square_avg, sum, ...), each step starts from it
    exactly and the stored state after the step is checked against the same bounds: an error in the
    state is caught at the step that makes it, not only when it later reaches the iterate. Where it does
    not (another optimizer's own names), the reference keeps its own state, and that state's bound from
    the previous steps is carried (not reset): the iterate is still re-anchored at the subject's every
    step, and the bound then grows with the rounding the unseen state has accumulated -- sound, and
    weaker only by the state's own accumulation. A parameter without a gradient at a step must not move
    at all (bound 0). Lion: sign(b1 m + (1 - b1) g) is exact wherever the interpolation is farther from
    0 than its bound, and there the step must match exactly; within rounding of 0 (the subject may round
    it to either sign or to 0) the bound of that coordinate is 2 lr + rounding: the step's sign is not
    judged there, its magnitude still is.

    The step counter. The reference counts the steps each parameter has taken itself (never reads the
    subject's ``step``) and the subject's ``state["step"]``, where it keeps one (torch.optim's name), must
    equal that count exactly after every step (T4, contract: the count is public state a resumed run and
    the bias corrections use): a counter kept in a narrow dtype (uint8 wraps at 256, bfloat16 stops at
    256, float16 at 2048) or dropped by load_state_dict fails at the first step it is wrong.

    Skipping steps (``skip``, long horizons): where every piece of state the reference would otherwise
    carry is read from the subject, a step need not be checked for the next one to be: the reference
    only counts it. ``can_skip`` says whether that holds (else every step must be checked)."""

    def __init__(self, subject: OptimizerSubject, dtype: torch.dtype, leaves, hps, group_of):
        self.u = unit_roundoff(dtype)
        self.u_acc = min(self.u, unit_roundoff(ACCUMULATION))
        self.eta = torch.finfo(dtype).tiny * torch.finfo(dtype).eps / 2  # half the smallest subnormal
        self.shadows = [reference_for(subject.family, leaf.detach(), hps[i]) for leaf, i in zip(leaves, group_of)]
        self.worst = (0.0, None)
        self.moved = False
        self.read: set = set()
        self.last_read = [None] * len(self.shadows)  # per parameter: the state keys its last check read

    def before(self, optimizer, leaves):
        """Snapshot each parameter's iterate, state and gradient before the subject's step."""
        def copy(v):
            return v.detach().clone() if isinstance(v, torch.Tensor) else v
        self.prev = []
        for leaf in leaves:
            state = optimizer.state.get(leaf) if hasattr(optimizer, "state") else None
            snap = {k: copy(v) for k, v in state.items()} if isinstance(state, dict) else None
            grad = None if leaf.grad is None else leaf.grad.detach().clone()
            self.prev.append((leaf.detach().clone(), snap, grad))

    def after(self, optimizer, leaves, hps_now, k):
        for j, (leaf, (theta, state, grad)) in enumerate(zip(leaves, self.prev)):
            sub = leaf.detach().to(torch.float64)
            if grad is None:  # no gradient, no step: the parameter must not move
                x, e = theta.to(torch.float64), torch.zeros_like(sub)
                read = []
            else:
                shadow = self.shadows[j]
                state = {key: v for key, v in state.items() if key != "step"} if state is not None else None
                new, read = shadow.step_from(theta, state, grad, hps_now[j], self.u, self.u_acc, self.eta)
                x, e = new.x, new.e
                self.read |= set(read)
                self.last_read[j] = set(read)
                self.moved = self.moved or bool((x != theta.to(torch.float64)).any())
            self.step_read = read
            self._judge(k, j, "iterate", sub, x, e, theta)
            if grad is not None:
                after = optimizer.state.get(leaf) if hasattr(optimizer, "state") else None
                count = after.get("step") if isinstance(after, dict) else None
                if isinstance(count, (torch.Tensor, int, float)) and not isinstance(count, bool):
                    held = torch.tensor([float(count)], dtype=torch.float64)
                    taken = torch.tensor([float(shadow.t)], dtype=torch.float64)
                    self._judge(k, j, "state['step'] (the number of steps this parameter has taken)", held, taken,
                                torch.zeros_like(taken), None)
                for key, _, i, s_val, x_val, e_val in shadow.state_deviation(after, self.u, self.eta):
                    self._judge(k, j, f"state[{key!r}]", *(torch.tensor([v], dtype=torch.float64)
                                                           for v in (s_val, x_val, e_val)), None, index=i)

    def can_skip(self) -> bool:
        """Whether a step may go unchecked: every parameter's reference has been checked once and read
        from the subject every state attribute it holds as a rounded quantity (``recursions.Bounded``);
        an attribute it keeps itself would miss the skipped step's rounding in its carried bound."""
        from kinkcheck.harness.oracles.recursions import Bounded

        for shadow, read in zip(self.shadows, self.last_read):
            if read is None:
                if shadow.started:
                    return False
                continue
            for key, attr in shadow.STATE.items():
                if key not in read and isinstance(getattr(shadow, attr, None), Bounded):
                    return False
        return True

    def skip(self, leaves):
        """The subject took a step that is not checked (``can_skip``): each reference of a parameter that
        had a gradient counts it, as the subject's own counter must."""
        for shadow, leaf in zip(self.shadows, leaves):
            if leaf.grad is not None:
                if not shadow.started:
                    shadow.init_state()
                    shadow.started = True
                shadow.t += 1

    def _judge(self, k, j, what, sub, x, e, theta, index=None):
        sub, x, e = sub.reshape(-1), x.reshape(-1), e.reshape(-1)
        if not sub.numel():
            return
        diff = (sub - x).abs()
        bound = e + 2.0 ** -48 * (x.abs() + e)  # the float64 evaluation of x and e themselves
        ratio = torch.where(diff == 0, torch.zeros_like(diff), diff / bound.clamp_min(torch.finfo(torch.float64).tiny))
        i = int(ratio.argmax())
        r = float(ratio[i])
        if r > self.worst[0] or self.worst[1] is None:
            before = "" if theta is None else f" (before the step {float(theta.reshape(-1)[i])!r})"
            self.worst = (r, (k, j, what, i if index is None else index, float(sub[i]), float(x[i]), float(e[i]),
                              before, list(self.step_read)))


# Roundings a step adds to the relative error of a state the reference carries itself (``PerStep``, a
# subject whose state is not readable): every state recursion here is s <- a s + t (a weight a >= 0 times
# the old state, plus a fresh term, or a max/clamp of such a product), so the old state's error passes
# through one product and one sum; the fresh term's own roundings (at most OPS_PER_STEP) are not carried
# over, they enter once.
CARRIED_OPS_PER_STEP = 2


def informative_steps(dtype: torch.dtype, worst: float = 0.2, per_step: bool = False) -> int:
    """The most steps for which the bound stays below ``worst`` relative (a bound near 1 says nothing).

    Aggregate (``rounding_bound``): gamma_{OPS_PER_STEP K}(u) <= worst. Per step (``PerStep``): the iterate
    is re-anchored every step and state read from the subject is exact, so neither grows with K; the one
    quantity that does is a state the reference carries itself (a subject whose state is not readable),
    whose relative bound after K steps is at most gamma_{OPS_PER_STEP + CARRIED_OPS_PER_STEP K}(u) (the
    recursion weights its old value by a >= 0: relative errors of a sum of non-negative parts do not
    exceed the worst part's, the signed ones are bounded against the magnitudes before cancellation, as
    ``Bounded`` carries them). bfloat16: 2 steps aggregate, 13 per step; float16: 21 and 162."""
    budget = worst / (1 + worst) / unit_roundoff(dtype)
    if per_step:
        return max(1, int((budget - OPS_PER_STEP) / CARRIED_OPS_PER_STEP))
    return max(1, int(budget / OPS_PER_STEP))


def accepted(subject: OptimizerSubject, hp: dict) -> tuple[dict, list[str]]:
    """The hyperparameters the *reference* runs with for a case drawn as ``hp``, and the drawn names
    the subject's constructor does not take. T4 never compares against a value the subject was not
    given (issue #19 item 1):

    - a switch the constructor lacks (``SWITCH_OFF``: maximize, amsgrad, a decay, ...) is compared at
      its off position, which is what a constructor without it implements; a case that drew it on is
      compared with it off, and the name is reported (the "on" part of the contract did not run);
    - any other hyperparameter the constructor lacks (eps, betas, ...) has a value of the subject's own
      that the suite does not know: the test is not supported (``NotSupported`` naming it);
    - the declared decay law (``subject.decay_law``): ``decoupled`` runs the reference with decoupled
      decay (``decoupled_weight_decay=True``) whether or not the subject takes that flag, ``none``
      runs both without decay."""
    taken = accepted_keywords(subject.factory)
    law = subject.decay_law
    ref, not_taken = {}, []
    for name, value in hp.items():
        takes = taken is None or all(n in taken for n in subject.constructor_names(name))
        if name == "decoupled_weight_decay" and law != subject.record.decay_law:
            continue  # the declared law decides, below
        if takes:
            ref[name] = value
        elif name in SWITCH_OFF:
            ref[name] = SWITCH_OFF[name]
            if value != SWITCH_OFF[name]:
                not_taken.append(name)
        else:
            raise NotSupported(subject.label, [name])
    if law == "none":
        for name in subject.record.decay:
            if name in ref:
                ref[name] = 0.0
    elif law == "decoupled" and subject.record.decay_law != "decoupled":
        ref["decoupled_weight_decay"] = True
    return ref, sorted(not_taken)


def subject_view(subject: OptimizerSubject, hp: dict) -> dict:
    """The part of a reference configuration ``hp`` handed to the subject, under the constructor's names:
    what is written into its ``param_groups`` between steps."""
    return subject.translate(_view(subject, hp))


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
    per_step: bool = False  # low precision: max_deviation is the worst |subject - one-step reference| / its bound
    state_read: set = field(default_factory=set)  # optimizer.state keys the per-step reference started from
    state_mismatch: str | None = None  # public state (step count, ASGD's ax/eta/mu) outside its bound, in words
    aliased: str | None = None  # a tensor the user handed over that the run changed, in words


def _view(subject, hp):
    """``subject_view`` under the suite's names (``subject.build`` renames)."""
    taken = accepted_keywords(subject.factory)
    return {k: v for k, v in hp.items()
            if (taken is None or all(n in taken for n in subject.constructor_names(k)))
            and not (k == "decoupled_weight_decay" and subject.decay_law != subject.record.decay_law
                     and (taken is None or k not in taken))}


def _describe(p, dtype) -> str:
    kind = ("complex64" if p.real_dtype(dtype) == torch.float32 else "complex128") if p.complex else \
        str(p.real_dtype(dtype)).removeprefix("torch.")
    return f"{kind} {p.layout} {p.shape()}, grad layout {p.grad_layout}"


def run_contract(subject: OptimizerSubject, case) -> ContractRun:
    """Run ``case`` on ``subject`` and on the references; compare after every step.

    float64 cases run with float64 as the default dtype (torch.optim allocates scalar state -- step
    counters, NAdam's mu product, ASGD's eta -- in the default dtype, and T4 is a float64 statement
    there); low-precision cases with float32, as mixed-precision training runs. A parameter held in a
    lower precision than float64 (a low-precision case, or a float32 parameter in a float64 group: the
    usage axis "mixed dtypes") is checked per step (``PerStep``), the float64 ones (complex128 as their real
    pairs) against the float64 bound; public state (step counts, ASGD's ax/eta/mu) against the reference
    in float64 (``contract_axes.public_state_deviation``)."""
    hps, not_taken = [], set()
    for g in case.groups:
        hp, missing = accepted(subject, g.hyperparameters)
        hps.append(hp)
        not_taken |= set(missing)
    decays = set(subject.record.decay) if subject.decay_law == "none" else set()  # declared not to decay
    changes = {k: {i: {n: v for n, v in c.items() if n in _view(subject, hps[i]) and n not in decays}
                   for i, c in ch.items()} for k, ch in case.changes.items()}
    plist = case.parameters
    leaves = [[p.leaf(case.dtype) for p in g.parameters] for g in case.groups]
    flat_leaves = [leaf for ls in leaves for leaf in ls]
    group_of = [i for i, g in enumerate(case.groups) for _ in g.parameters]
    low = [j for j, p in enumerate(plist) if p.real_dtype(case.dtype) != torch.float64]
    high = [j for j in range(len(plist)) if j not in low]
    refs = {j: reference_for(subject.family, real(flat_leaves[j].detach()), hps[group_of[j]]) for j in high}
    current = [dict(hp) for hp in hps]
    reached = {"absent gradient after a step": False, "zero gradient kept by zero_grad(set_to_none=False)": False,
               "hyperparameters changed between steps": False, "several groups": len(case.groups) > 1,
               "state_dict round trip": False, "a whole group without gradients at a step": False}
    theta0 = torch.cat([refs[j].theta.reshape(-1) for j in high]) if high else torch.zeros(0, dtype=torch.float64)
    subject_rows, reference_rows = [theta0.clone()], [theta0.clone()]
    path = {j: torch.zeros_like(refs[j].theta) for j in high}  # per coordinate: sum of |increments| so far
    twin = None
    twin_mismatch = state_mismatch = None
    worst_state = (0.0, None)
    had_grad = [False] * len(plist)
    run_dtype = torch.float64 if case.dtype == torch.float64 else torch.float32
    views = [RealView(flat_leaves[j]) for j in low]
    per_step = None
    if low:
        low_dtype = plist[low[0]].real_dtype(case.dtype)
        per_step = PerStep(subject, low_dtype, views, hps, [group_of[j] for j in low])
    groups = SubjectGroups(subject, case, hps)

    with default_dtype(run_dtype):
        optimizer = groups.build(leaves, groups.joined)
        for k in range(1, case.steps + 1):
            if k == case.late_group:
                for opt in filter(None, (optimizer, twin and twin[0])):
                    groups.add(opt, leaves if opt is optimizer else twin[2], k, current)
                groups.joined += 1
            for i, change in changes.get(k, {}).items():
                if any(current[i].get(name) != value for name, value in change.items()):
                    reached["hyperparameters changed between steps"] = True
                current[i].update(change)
                if i < groups.joined:
                    for opt in filter(None, (optimizer, twin and twin[0])):
                        write_group(opt.param_groups[i], subject_view(subject, change))
            to_none = case.set_to_none[k - 1]
            Guarded(subject, optimizer).zero_grad(set_to_none=to_none)
            if twin:
                Guarded(subject, twin[0]).zero_grad(set_to_none=to_none)
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
            for i in range(groups.joined):
                if all(flat_leaves[j].grad is None for j in range(len(plist)) if group_of[j] == i):
                    reached["a whole group without gradients at a step"] = True
            for j, leaf in enumerate(flat_leaves):
                if leaf.grad is not None:
                    had_grad[j] = True
                    if j in refs:
                        before = refs[j].theta
                        refs[j].step(real(leaf.grad), current[group_of[j]])
                        path[j] = path[j] + (refs[j].theta - before).abs()
            if per_step is not None:
                per_step.before(RealStates(optimizer), views)
            guarded_step(optimizer, subject, None, k)
            check_finite(subject, flat_leaves, f"after step {k} in {theorem_id()}")
            if per_step is not None:
                per_step.after(RealStates(optimizer), views, [current[group_of[j]] for j in low], k)
            if high:
                subject_rows.append(torch.cat([real(flat_leaves[j].detach()).reshape(-1).to(torch.float64)
                                               for j in high]))
                reference_rows.append(torch.cat([refs[j].theta.reshape(-1) for j in high]))
                for j in high:
                    if flat_leaves[j].grad is not None and hasattr(optimizer, "state"):
                        scale_j = theta0[_offset(refs, high, j)].reshape(path[j].shape).abs() + path[j]
                        ratio, words = public_state_deviation(refs[j], optimizer.state.get(flat_leaves[j]), scale_j,
                                                              refs[j].t, case.dtype)
                        if ratio > max(1.0, worst_state[0]):
                            worst_state = (ratio, f"after step {k}, parameter {j} (group {group_of[j]}, "
                                                  f"{_describe(plist[j], case.dtype)}): {words}")
            if twin:
                guarded_step(twin[0], subject, None, k)
                if twin_mismatch is None:
                    twin_mismatch = _first_difference(flat_leaves, twin[1], k, case.save_at)
            if k == case.save_at:
                twin = _round_trip(subject, case, optimizer, leaves, groups)
                reached["state_dict round trip"] = True
    state_mismatch = worst_state[1]
    aliased = groups.user.changed()

    agg = None
    if high:
        s, r = torch.stack(subject_rows), torch.stack(reference_rows)
        dev = relative_deviation(s, r, theta0)
        worst, where = 0.0, "nowhere"
        if dev.numel():
            idx = int(dev.argmax())
            k, c = divmod(idx, dev.shape[1])
            worst = float(dev.view(-1)[idx])
            j, offset = _locate([refs[j] for j in high], c)
            j = high[j]
            where = (f"after step {k}, parameter {j} (group {group_of[j]}, {_describe(plist[j], case.dtype)}) "
                     f"element {offset}{' of its real view' if plist[j].complex else ''}: subject {float(s[k, c])!r}, "
                     f"reference {float(r[k, c])!r}; group hyperparameters at that step "
                     f"{_hp_at(hps[group_of[j]], changes, group_of[j], k)}")
        agg = ContractRun(worst, where, rounding_bound(case.dtype, case.steps), case.steps,
                          bool((r[1:] != r[:-1]).any()), reached, twin_mismatch, sorted(not_taken),
                          state_mismatch=state_mismatch, aliased=aliased)
    if per_step is None:
        return agg
    run = _per_step_run(per_step, case, [plist[j] for j in low], [group_of[j] for j in low], hps, changes, reached,
                        twin_mismatch, not_taken)
    run.state_mismatch, run.aliased = state_mismatch, aliased
    if agg is not None:  # float64 and lower-precision parameters side by side: each against its own bound
        run.moved = run.moved or agg.moved
        if agg.max_deviation / agg.bound > run.max_deviation:
            run.max_deviation, run.worst = agg.max_deviation / agg.bound, agg.worst + (
                f" (relative deviation {agg.max_deviation:.3g}, the float64 bound for {case.steps} steps "
                f"{agg.bound:.3g})")
    return run


def _offset(refs, high, j):
    """Where parameter j's coordinates start in the rows of the float64 parameters."""
    start = 0
    for i in high:
        if i == j:
            return slice(start, start + refs[i].theta.numel())
        start += refs[i].theta.numel()
    raise KeyError(j)


def _per_step_run(per_step, case, plist, group_of, hps, changes, reached, twin_mismatch, not_taken):
    ratio, detail = per_step.worst
    where = "nowhere"
    if detail is not None:
        k, j, what, i, sub, x, e, before, read = detail
        read = (sorted(read) if read else "none (the parameter's first step, or the subject's state is not "
                "readable: the reference's own state, its bound carried)")
        where = (f"after step {k}, parameter {j} (group {group_of[j]}, {plist[j].layout} "
                 f"{tuple(plist[j].values.shape)}, grad layout {plist[j].grad_layout}) {what} element {i}: subject "
                 f"{sub!r}, one step of the recursion from the subject's own iterate and state{before}: {x!r} "
                 f"+- {e:.3g} (the step's rounding bound); state read from optimizer.state: {read}; group "
                 f"hyperparameters at that step {_hp_at(hps[group_of[j]], changes, group_of[j], k)}")
    return ContractRun(ratio, where, 1.0, case.steps, per_step.moved, reached, twin_mismatch, sorted(not_taken),
                       per_step=True, state_read=set(per_step.read))


def relative_deviation(s: torch.Tensor, r: torch.Tensor, theta0: torch.Tensor) -> torch.Tensor:
    """(steps + 1, coordinates): |subject - reference| relative to the aggregate scale |theta_0| + the
    reference's path length so far (``rounding_bound``'s scale); 0 where they agree exactly."""
    increments = (r[1:] - r[:-1]).abs()
    scale = theta0.abs() + torch.cat([torch.zeros_like(theta0)[None], increments.cumsum(0)])
    diff = (s - r).abs()
    return torch.where(diff == 0, torch.zeros_like(diff), diff / scale.clamp_min(torch.finfo(torch.float64).tiny))


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


def _round_trip(subject, case, optimizer, leaves, groups):
    """state_dict() saved through torch.save (as a checkpoint is), loaded into an optimizer built
    afresh, as at the start, on copies of the current parameters (same layouts, and their current
    ``.grad``: a zero_grad(set_to_none=False) keeps a zero gradient that the next step uses), with the
    groups that have joined so far (a later add_param_group joins the reloaded optimizer too)."""
    buffer = io.BytesIO()
    torch.save(Guarded(subject, optimizer).state_dict(), buffer)
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
    fresh = groups.build(copies, groups.joined)
    state = torch.load(buffer, weights_only=False)
    try:
        Guarded(subject, fresh).load_state_dict(state)
    except SubjectError as exc:
        raise SubjectError(f"{theorem_id()}: optimizer {subject.label} ({subject.spec}) could not load its own "
                           f"state_dict() after step {case.save_at}: {exc.__cause__!r}") from exc.__cause__
    return fresh, [leaf for ls in copies for leaf in ls], copies


def _first_difference(leaves, twin_leaves, k, save_at):
    from kinkcheck.harness.core.assertions import bits

    for j, (a, b) in enumerate(zip(leaves, twin_leaves)):
        a, b = real(a.detach()), real(b.detach())  # a complex parameter as its real pair (float() of a complex raises)
        differ = bits(a) != bits(b)
        if bool(differ.any()):
            i = int(differ.reshape(-1).nonzero()[0])
            return (f"after step {k} (state_dict saved after step {save_at}), parameter {j} element {i}: "
                    f"uninterrupted {float(a.detach().reshape(-1)[i])!r}, reloaded "
                    f"{float(b.detach().reshape(-1)[i])!r}")
    return None


def error_contract(subject: OptimizerSubject, hp: dict, device=None) -> list[str]:
    """What ``subject`` accepts silently where torch.optim raises (issue #20 item 1, the error contract),
    in words; [] when it raises in every case. ``hp``: a valid configuration of its family. The cases:

    * a parameter in two groups (torch.optim.Optimizer.add_param_group: "some parameters appear in
      more than one parameter group");
    * ``load_state_dict`` of a state_dict whose group holds another number of parameters than this
      optimizer's (Optimizer.load_state_dict: "loaded state dict contains a parameter group that
      doesn't match the size of optimizer's group");
    * lr < 0 (every torch.optim class in 2.13: "Invalid learning rate"; families without a torch.optim
      class, such as lion, are not held to it).

    Raising anything counts (the message is the subject's own); a case whose construction the subject
    does not support (a hyperparameter it does not take) is not charged to it."""
    from kinkcheck.harness.core.outcomes import NotSupported

    def leaf():
        return torch.zeros(2, 3, dtype=torch.float64, device=device, requires_grad=True)

    def raises(action) -> bool:
        try:
            action()
        except NotSupported:
            return True
        except Exception:  # noqa: BLE001 -- any refusal is the contract's refusal
            return True
        return False

    accepted_cases = []
    p = leaf()
    if not raises(lambda: subject.build([{"params": [p]}, {"params": [p]}], **hp)):
        accepted_cases.append("the same parameter in two parameter groups (torch.optim raises ValueError)")

    def mismatched():
        a, b = leaf(), leaf()
        with default_dtype(torch.float64):
            source = subject.build([a, b], **hp)
            for q in (a, b):
                q.grad = torch.ones_like(q)
            source.step() if not subject.record.needs_closure else source.step(lambda: torch.tensor(0.0))
            state = source.state_dict()
        target = subject.build([leaf()], **hp)
        target.load_state_dict(state)

    if not raises(mismatched):
        accepted_cases.append("load_state_dict of a state_dict whose parameter group holds 2 parameters into an "
                              "optimizer whose group holds 1 (torch.optim raises ValueError)")
    negative = {**hp, "lr": -abs(hp.get("lr", 0.0))}
    if subject.record.torch_class and "lr" in hp and not raises(lambda: subject.build([leaf()], **negative)):
        accepted_cases.append(f"lr = {-abs(hp['lr'])} < 0 (torch.optim raises ValueError: Invalid learning rate)")
    return accepted_cases
