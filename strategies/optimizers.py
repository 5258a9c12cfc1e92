"""Valid hyperparameters per optimizer family, under torch.optim's names, drawn from the family
records (``kinkcheck.harness.subjects.families``).

``hyperparameters(family)`` draws a configuration inside the theorems' hypotheses (every decay
argument of the family at 0); ``decaying_hyperparameters(family)`` one outside them. Every draw is
labelled, so a counterexample reads ``hyperparameters (adam): {...}``.
"""
from __future__ import annotations

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from kinkcheck.harness.subjects.families import DECAYS, FAMILIES, Choice, Integers, Interval, Pair


def _strategy(spec):
    if isinstance(spec, Choice):
        return st.sampled_from(spec.values)
    if isinstance(spec, Interval):
        return st.floats(spec.low, spec.high)
    if isinstance(spec, Integers):
        return st.integers(spec.low, spec.high)
    if isinstance(spec, Pair):
        return st.tuples(_strategy(spec.first), _strategy(spec.second))
    raise TypeError(f"unknown hyperparameter range {spec!r}")


def _record(family: str):
    if family not in FAMILIES:
        raise InvalidArgument(f"family={family!r} is not a known family; pass one of {sorted(FAMILIES)}")
    return FAMILIES[family]


@st.composite
def hyperparameters(draw, family: str, *, max_lr: float | None = None, dtype=None):
    """A configuration of ``family`` inside T2/T3's hypotheses (no decay of any kind).

    ``max_lr`` caps the learning rate (training real networks, where a large step diverges).
    ``dtype``: the parameters' dtype; listed non-zero values below its smallest normal number are left
    out (in float16, eps = 1e-8 is not the hyperparameter asked for: added in the parameter dtype it is
    0, outside the family's contract eps > 0; a subnormal eps such as 1e-6 keeps few bits and its
    reciprocal, which an adaptive step forms as 1 / (sqrt(v) + eps), overflows: torch's float16 RAdam
    then computes 0 * inf = NaN on zero-gradient coordinates), and lr is at least the
    dtype's eps (one ulp of 1: 2^-7 in bfloat16, 2^-10 in float16; below every drawn lr in float32 and
    float64), since a smaller step of O(1) parameters rounds away and nothing would train."""
    record = _record(family)
    if max_lr is not None and max_lr <= 0:
        raise InvalidArgument(f"max_lr={max_lr!r} must be positive")
    hp = {name: draw(_strategy(_representable(spec, dtype)), label=name) for name, spec in record.draws().items()}
    hp.update(record.fixed)
    if dtype is not None and "lr" in hp:
        import torch

        hp["lr"] = max(hp["lr"], torch.finfo(dtype).eps)
    if max_lr is not None:
        hp["lr"] = min(hp["lr"], max_lr)
    hp.update(record.in_scope())
    note(f"hyperparameters ({family}): {hp}")
    return hp


@st.composite
def decaying_hyperparameters(draw, family: str):
    """A configuration of ``family`` with its weight decay > 0 (outside T2/T3's hypotheses)."""
    record = _record(family)
    if "weight_decay" not in record.decay:
        raise InvalidArgument(f"family {family!r} takes no weight_decay; select families by the "
                              "'takes_decay' capability")
    hp = draw(hyperparameters(family))
    hp["weight_decay"] = draw(st.sampled_from(DECAYS), label="weight_decay")
    note(f"with decay: {hp}")
    return hp


def strategy_for(spec):
    """The Hypothesis strategy of one range of a family record (Choice, Interval, Integers, Pair)."""
    return _strategy(spec)


def _representable(spec, dtype):
    """``spec`` without the listed non-zero floats below ``dtype``'s smallest normal (None: unchanged)."""
    if dtype is None:
        return spec
    import torch

    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise InvalidArgument(f"dtype={dtype!r} must be a floating torch.dtype")
    return _above(spec, float(torch.finfo(dtype).tiny))


def _above(spec, below: float):
    """``spec`` without the float values v, 0 < |v| < ``below`` (not representable as normal numbers)."""
    if not below or not isinstance(spec, Choice):
        return spec
    keep = tuple(v for v in spec.values if not (isinstance(v, float) and 0 < abs(v) < below))
    return Choice(keep) if keep else spec


def kernel_safe(value, tiny: float, huge: float) -> bool:
    """Whether every float inside ``value`` (a number, or a tuple such as Adafactor's ``eps`` pair) keeps
    its square and its reciprocal in the normal range [tiny, huge] of the parameter dtype (0, None and
    non-floats are kept).

    Kernels use hyperparameters squared and inverted, in the parameter dtype: torch 2.13's Adafactor
    clamps the variance at eps1 * eps1, which for the paper's eps1 = 1e-30 rounds to 0 in float32 and
    bfloat16 (docs/torch-deviations/adafactor_eps1_squared_underflow.py), and an adaptive step forms
    1 / (sqrt(v) + eps). Being representable in the dtype is not enough: v is kept only if v^2 and
    1 / v are normal numbers there too (|v| in [sqrt(tiny), sqrt(huge)] and 1/|v| <= huge)."""
    return _hazard(value, tiny, huge) == 0


def _hazard(value, tiny: float, huge: float) -> float:
    """How many binades the square or reciprocal of ``value`` (its worst float) lies outside [tiny, huge]."""
    import math

    if isinstance(value, tuple):
        return max((_hazard(v, tiny, huge) for v in value), default=0.0)
    if isinstance(value, bool) or not isinstance(value, float) or value == 0:
        return 0.0
    v = abs(value)
    worst = 0.0
    for w in (v * v, 1 / v):
        if w < tiny:
            worst = max(worst, math.log2(tiny / w) if w > 0 else math.inf)
        elif w > huge:
            worst = max(worst, math.log2(w / huge))
    return worst


def _kernel_safe(spec, tiny: float, huge: float):
    """``spec`` without the listed values that ``kernel_safe`` rejects (a Pair: entry by entry).

    Where every listed value fails (float16's normal range is [2^-14, 65504]: the square of any eps
    below 2^-7 is subnormal there, so Adagrad's eps list (1e-10, 1e-6, 1e-3) has no safe value), the
    values that fail least (fewest binades outside the range) are kept rather than none: the family is
    still checked in that dtype, at the least hazardous point of its contract."""
    if isinstance(spec, Pair):
        return Pair(_kernel_safe(spec.first, tiny, huge), _kernel_safe(spec.second, tiny, huge))
    if not isinstance(spec, Choice):
        return spec
    hazards = [_hazard(v, tiny, huge) for v in spec.values]
    least = min(hazards)
    return Choice(tuple(v for v, h in zip(spec.values, hazards) if h == least))


@st.composite
def contract_hyperparameters(draw, family: str, *, below: float = 0.0, dtype=None):
    """A configuration anywhere in ``family``'s contract (T4): every hyperparameter of its record's
    ``contract_space()`` -- the theorems' draws plus ``maximize``, ``amsgrad``, decay, ... -- from
    its valid range, and the family's fixed arguments. ``below``: leave out listed values smaller
    in magnitude than this (a low-precision dtype's smallest normal number). ``dtype`` (a
    low-precision parameter dtype): leave out listed values whose square or reciprocal leaves that
    dtype's normal range (``kernel_safe``), such as Adafactor's eps1 = 1e-30 in float32/bfloat16."""
    record = _record(family)
    space = record.contract_space()
    if dtype is not None:
        import torch

        info = torch.finfo(dtype)
        space = {name: _kernel_safe(spec, float(info.tiny), float(info.max)) for name, spec in space.items()}
    hp = {name: draw(_strategy(_above(spec, below)), label=name) for name, spec in space.items()}
    hp.update(record.fixed)
    return hp


@st.composite
def scheduled_change(draw, family: str, current: dict, *, dtype=None, include=()):
    """New values for some of ``family``'s schedulable hyperparameters: what an LR scheduler or a user
    writes into ``param_groups`` between steps -- lr, betas/momentum as OneCycleLR and CyclicLR cycle
    them, and every other value the family's torch.optim class re-reads at each step (weight_decay, eps,
    alpha, rho, lambd/t0, etas/step_sizes, ...: ``Family.schedulable``). A momentum that is 0 stays 0 and
    a positive one stays positive (schedulers cycle it between two positive bounds; state buffers exist
    only for a positive momentum). ``dtype`` (a low-precision parameter dtype): values drawn as
    ``contract_hyperparameters`` draws them there (representable, squares and reciprocals normal).
    ``include``: names rewritten whatever else is drawn (T4's forced change always moves lr, the schedule
    every scheduler writes)."""
    record = _record(family)
    names = [n for n in record.schedulable if n in current]
    if not names:
        raise InvalidArgument(f"family {family!r} schedules none of {sorted(current)}")
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True),
                  label="scheduled")
    chosen += [n for n in include if n in names and n not in chosen]  # ``include``: always rewritten
    change = {}
    for name in chosen:
        spec = record.contract_space()[name]
        if dtype is not None:
            import torch

            info = torch.finfo(dtype)
            spec = _above(_kernel_safe(spec, float(info.tiny), float(info.max)), float(info.tiny))
        value = draw(_strategy(spec), label=f"scheduled {name}")
        if name == "momentum" and (current[name] == 0) != (value == 0):
            continue
        change[name] = value
    if all(current.get(name) == value for name, value in change.items()):  # a change that changes
        lr, spec = current["lr"], record.contract_space()["lr"]
        low = spec.low if isinstance(spec, Interval) else min(spec.values)
        change["lr"] = lr / 2 if lr / 2 >= low else lr * 2
    return change


# The hyperparameters each family's source publishes as its defaults (under torch.optim's names): the
# paper's values where it gives them, else torch.optim's documented defaults. The paper's values are
# what users copy; they differ from torch's own where noted.
_ADAM_PAPER = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)  # Kingma & Ba 2015, Algorithm 1
PUBLISHED = {
    "sgd": dict(lr=1e-3),
    "momentum": dict(lr=1e-3, momentum=0.9, dampening=0.0),
    "nesterov": dict(lr=1e-3, momentum=0.9),
    "adagrad": dict(lr=1e-2, lr_decay=0.0, initial_accumulator_value=0.0, eps=1e-10),
    "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8),
    "adadelta": dict(lr=1.0, rho=0.95, eps=1e-6),  # Zeiler 2012, Sec. 4 (torch's default rho is 0.9)
    "adam": dict(_ADAM_PAPER),
    "amsgrad": dict(_ADAM_PAPER),
    "adamw": dict(_ADAM_PAPER),
    "adamax": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8),  # Kingma & Ba 2015, Algorithm 2
    "nadam": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3),  # Dozat 2016
    "radam": dict(_ADAM_PAPER),
    "asgd": dict(lr=1e-2, alpha=0.75, t0=1e6),
    # Riedmiller & Braun 1993: Delta_0 = 0.1, eta+ = 1.2, eta- = 0.5, Delta in [1e-6, 50] (torch's lr is 0.01)
    "rprop": dict(lr=0.1, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)),
    "lbfgs": dict(lr=1.0, history_size=100),
    # Shazeer & Stern 2018, Sec. 7 / Algorithm 4: eps1 = 1e-30, eps2 = 1e-3, d = 1, beta2_t = 1 - t^-0.8,
    # rho_t = min(1e-2, 1/sqrt(t)) (torch's default eps1 is None: the dtype's machine epsilon)
    "adafactor": dict(lr=1e-2, beta2_decay=-0.8, eps=(1e-30, 1e-3), d=1.0),
    "muon": dict(lr=0.02, momentum=0.95, nesterov=True, ns_steps=5),  # Keller Jordan's muon.py (torch: lr 1e-3)
    "lion": dict(lr=1e-4, betas=(0.9, 0.99)),  # Chen et al. 2023, Sec. 3
    "generic": dict(lr=1e-3),
}


def published_hyperparameters(family: str) -> dict:
    """``family``'s published defaults (``PUBLISHED``) inside T2/T3's hypotheses: the family's fixed
    arguments, and every decay at 0 (AdamW's 0.01, ASGD's lambd, Muon's 0.1 are out of T3's scope)."""
    record = _record(family)
    hp = dict(PUBLISHED.get(family, {"lr": 1e-3}))
    hp.update(record.fixed)
    hp.update(record.in_scope())
    return hp
