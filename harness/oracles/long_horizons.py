"""T4 over long horizons (issue #20 item 2): one long trajectory per family on a tiny parameter, past the
step at which a counter or a state kept in a narrow dtype stops being right, across a state_dict round trip
late in the run, each step compared with the family's float64 reference from the subject's own iterate and
state (``contract_runs.PerStep``).

Horizons. A counter kept in a type with p significand bits counts exactly up to 2^p and is wrong after:
uint8 wraps at 2^8 = 256, bfloat16 (p = 8) stops at 256 (256 + 1 rounds to 256), float16 (p = 11) at 2048,
float32 (p = 24) at 2^24. A trajectory in bfloat16 therefore runs past 256 and one in float16 and float32
past 2048 (``horizon``), so that a counter or state held in the parameter's dtype -- or in any
narrower one -- shows; 2^24 steps are out of reach. The run is ``horizon + horizon // 8`` steps, the
state_dict round trip after 90% of them (past the horizon: a resumed run must keep the count), and the check
runs at every step near the horizon, around the round trip, at the start and end and at a regular stride
in between; the steps in between are counted by the reference, not checked, which is sound where the
subject's state is read at every check (``PerStep.can_skip``); otherwise every step is checked.

Gradients come from a fixed table (61 entries, a prime period, |g| in [1/2, 2] with random signs, the same
for every subject): cheap, and inside every dtype's normal range for the whole run (Adagrad's sum of g^2
stays below 2304 * 4 < 65504 in float16; (1 - beta2) g^2 >= 2.5e-4 stays normal).

Muon's reference runs Newton-Schulz in bfloat16 (the published algorithm), which ``recursions.Bounded`` does
not model: its long trajectory is run in float64 only, 288 steps (torch.optim.Muon keeps no step counter, only a
momentum buffer; past bfloat16's and uint8's 256), and compared with the reference run beside it, within the
float64 bound gamma_{16 K}(u) (|theta_0| + path) of ``contract_runs.rounding_bound``.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import torch

from kinkcheck.harness.core.guard import Guarded
from kinkcheck.harness.core.records import theorem_id
from kinkcheck.harness.core.training import guarded_step
from kinkcheck.harness.oracles.contract_runs import PerStep, _view, accepted, default_dtype, rounding_bound
from kinkcheck.harness.oracles.recursions import reference_for
from kinkcheck.harness.subjects.families import FAMILIES, Choice
from kinkcheck.harness.subjects.specs import OptimizerSubject, SubjectError, check_finite

# Families whose reference T4 cannot run on Bounded values (Newton-Schulz in bfloat16): float64 only,
# compared with the aggregate float64 bound.
AGGREGATE_ONLY = {"muon": "Newton-Schulz runs in bfloat16 in the published algorithm and its reference; the "
                          "per-step rounding bound does not model it (family record, limit 'T4 low precision')"}
# The hyperparameters through which the step count enters a family's update and that the family's published
# defaults leave at 0 (Adagrad's lr decay, ASGD's eta schedule): set to the largest value of the family
# record's range, so that a wrong count also moves the iterate, not only state["step"].
STEP_DEPENDENT = {"adagrad": ("lr_decay",), "asgd": ("lambd",)}
SHAPE = (2, 3)  # one parameter: a matrix (Muon takes only matrices; Adafactor factors its second moment)
PERIOD = 61  # gradients repeat with a prime period: no alignment with 256 or 2048


def horizon(dtype: torch.dtype) -> int:
    """The step count a trajectory in ``dtype`` must pass: 2^p for the narrowest dtype a counter or state
    could be kept in and still be right in a run of this length in ``dtype``: 256 in bfloat16 (its own p = 8,
    and uint8's 2^8), 2048 in float16 (p = 11) and in float32/float64, where float16 is the narrowest
    floating type that holds every count up to its 2^11 (and bfloat16's 256 is passed on the way)."""
    return 2 ** significand_bits(torch.bfloat16 if dtype == torch.bfloat16 else torch.float16)


def significand_bits(dtype: torch.dtype) -> int:
    """p: eps = 2^(1 - p) (bfloat16 8, float16 11)."""
    return round(-math.log2(torch.finfo(dtype).eps)) + 1


def length(dtype: torch.dtype) -> int:
    h = horizon(dtype)
    return h + h // 8


def save_step(dtype: torch.dtype) -> int:
    steps = length(dtype)
    return steps - steps // 10


def checked_steps(dtype: torch.dtype) -> set[int]:
    """The steps ``PerStep`` checks in full when skipping is sound: the first three, the horizon's
    neighbourhood, the round trip and the three steps after it, the last two, and every (steps // 16)th."""
    steps, h, save = length(dtype), horizon(dtype), save_step(dtype)
    marks = {1, 2, 3, steps - 1, steps} | set(range(h - 2, h + 4)) | set(range(save, save + 4))
    marks |= set(range(steps // 16, steps + 1, steps // 16))
    if dtype != torch.bfloat16:  # bfloat16's and uint8's 256 on the way
        marks |= set(range(254, 260))
    return {k for k in marks if 1 <= k <= steps}


def hyperparameters(family: str, dtype: torch.dtype) -> dict:
    """The family's published defaults (``strategies.optimizers.published_hyperparameters``), each value
    whose square or reciprocal leaves ``dtype``'s normal range (``kernel_safe``: Adam's eps = 1e-8 in
    float16) replaced by the least hazardous value of the family record's range, lr at least the dtype's
    eps, and the ``STEP_DEPENDENT`` hyperparameters at the largest value of their range."""
    from kinkcheck.strategies.optimizers import _kernel_safe, kernel_safe, published_hyperparameters

    record = FAMILIES[family]
    space = record.contract_space()
    hp = published_hyperparameters(family)
    info = torch.finfo(dtype)
    for name, value in list(hp.items()):
        spec = space.get(name)
        if dtype != torch.float64 and isinstance(spec, Choice) and not kernel_safe(value, float(info.tiny),
                                                                                   float(info.max)):
            hp[name] = _kernel_safe(spec, float(info.tiny), float(info.max)).values[0]
    if "lr" in hp and dtype != torch.float64:
        hp["lr"] = max(hp["lr"], float(info.eps))
    for name in STEP_DEPENDENT.get(family, ()):
        hp[name] = max(space[name].values)
    return hp


def gradient_table(dtype: torch.dtype) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(20)
    out = []
    for _ in range(PERIOD):
        magnitude = 2.0 ** (2 * torch.rand(SHAPE, generator=gen, dtype=torch.float64) - 1)
        sign = torch.where(torch.rand(SHAPE, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
        out.append((magnitude * sign).to(dtype))
    return out


def initial_values(hp: dict) -> torch.Tensor:
    gen = torch.Generator().manual_seed(21)
    return torch.randn(SHAPE, generator=gen, dtype=torch.float64) * 10 * hp.get("lr", 1e-2)


@dataclass
class LongRun:
    steps: int
    save_at: int
    checked: int  # steps checked in full
    worst: float  # max deviation / bound over the checked steps
    where: str
    moved: bool
    hyperparameters: dict
    twin_mismatch: str | None = None
    mode: str = "per step"
    state_read: set = field(default_factory=set)


def _round_trip(subject, optimizer, leaf, hp, k):
    """state_dict() through torch.save into an optimizer built afresh on a copy of the parameter."""
    buffer = io.BytesIO()
    torch.save(Guarded(subject, optimizer).state_dict(), buffer)
    buffer.seek(0)
    copy = leaf.detach().clone().requires_grad_(True)
    fresh = subject.build([copy], **_view(subject, hp))
    try:
        Guarded(subject, fresh).load_state_dict(torch.load(buffer, weights_only=False))
    except SubjectError as exc:
        raise SubjectError(f"{theorem_id()}: optimizer {subject.label} ({subject.spec}) could not load its own "
                           f"state_dict() after step {k}: {exc.__cause__!r}") from exc.__cause__
    return fresh, copy


def run_long(subject: OptimizerSubject, dtype: torch.dtype) -> LongRun:
    """The long trajectory of ``subject`` in ``dtype`` (see the module's docstring)."""
    hp, _ = accepted(subject, hyperparameters(subject.family, dtype))
    aggregate = subject.family in AGGREGATE_ONLY
    # Muon keeps no counter (its state is a momentum buffer) and runs in float64 only: bfloat16's and uint8's
    # horizon, at the cost of two Newton-Schulz iterations (about 2 ms) a step
    steps, save_at = (length(torch.bfloat16), save_step(torch.bfloat16)) if aggregate else (length(dtype),
                                                                                             save_step(dtype))
    marks = checked_steps(dtype)
    table = gradient_table(dtype)
    theta0 = initial_values(hp)
    leaf = theta0.to(dtype).requires_grad_(True)
    if aggregate and dtype != torch.float64:
        raise ValueError(f"{subject.family}: long horizons in float64 only ({AGGREGATE_ONLY[subject.family]})")
    run_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    twin = twin_leaf = None
    twin_mismatch = None
    checked, moved = 0, False
    with default_dtype(run_dtype):
        optimizer = subject.build([leaf], **_view(subject, hp))
        if aggregate:
            ref = reference_for(subject.family, leaf.detach(), hp)
            path = torch.zeros_like(ref.theta)
            worst, where = 0.0, "nowhere"
        else:
            per_step = PerStep(subject, dtype, [leaf], [hp], [0])
        for k in range(1, steps + 1):
            g = table[k % PERIOD]
            for opt, p in ((optimizer, leaf), (twin, twin_leaf)):
                if opt is not None:
                    p.grad = g.clone()
            check = aggregate or k in marks or not per_step.can_skip()
            if check and not aggregate:
                per_step.before(optimizer, [leaf])
            guarded_step(optimizer, subject, None, k)
            if k in marks or k == steps:
                check_finite(subject, [leaf], f"after step {k} in {theorem_id()}")
            if aggregate:
                before = ref.theta.clone()
                ref.step(g, hp)
                path += (ref.theta - before).abs()
                dev = (leaf.detach().to(torch.float64) - ref.theta.detach()).abs()
                bound = rounding_bound(torch.float64, k) * (theta0.abs() + path)
                ratio = float(torch.where(dev == 0, torch.zeros_like(dev), dev / bound.clamp_min(1e-300)).max())
                if ratio > worst:
                    i = int((dev / bound.clamp_min(1e-300)).argmax())
                    worst, where = ratio, (f"after step {k}, element {i}: subject "
                                           f"{float(leaf.detach().reshape(-1)[i])!r}, reference "
                                           f"{float(ref.theta.reshape(-1)[i])!r} (bound gamma_16k(u) (|theta_0| "
                                           f"+ path) = {float(bound.reshape(-1)[i]):.3g})")
                moved = moved or bool((ref.theta != before).any())
                checked += 1
            elif check:
                per_step.after(optimizer, [leaf], [hp], k)
                checked += 1
            else:
                per_step.skip([leaf])
            if twin is not None:
                guarded_step(twin, subject, None, k)
                if twin_mismatch is None and not torch.equal(twin_leaf.detach(), leaf.detach()):
                    i = int((twin_leaf.detach() != leaf.detach()).reshape(-1).nonzero()[0])
                    twin_mismatch = (f"after step {k} (state_dict saved after step {save_at}), element {i}: "
                                     f"reloaded {float(leaf.detach().reshape(-1)[i])!r}, uninterrupted "
                                     f"{float(twin_leaf.detach().reshape(-1)[i])!r}")
            if k == save_at:
                # the reloaded optimizer continues the run (it is what a resumed user trains with and what the
                # reference judges); the uninterrupted one runs beside it and must agree bit for bit
                fresh, copy = _round_trip(subject, optimizer, leaf, hp, k)
                twin, twin_leaf = optimizer, leaf
                optimizer, leaf = fresh, copy
    if aggregate:
        return LongRun(steps, save_at, checked, worst, where, moved, hp, twin_mismatch, mode="float64 aggregate")
    ratio, detail = per_step.worst
    where = "nowhere"
    if detail is not None:
        k, _, what, i, sub, x, e, before, read = detail
        where = (f"after step {k}, {what} element {i}: subject {sub!r}, one step of the recursion from the "
                 f"subject's own iterate and state{before}: {x!r} +- {e:.3g}; state read: {sorted(read) or 'none'}")
    return LongRun(steps, save_at, checked, ratio, where, per_step.moved, hp, twin_mismatch,
                   state_read=set(per_step.read))
