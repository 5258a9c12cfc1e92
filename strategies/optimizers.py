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


@st.composite
def contract_hyperparameters(draw, family: str, *, below: float = 0.0):
    """A configuration anywhere in ``family``'s contract (T4): every hyperparameter of its record's
    ``contract_space()`` -- the theorems' draws plus ``maximize``, ``amsgrad``, decay, ... -- from
    its valid range, and the family's fixed arguments. ``below``: leave out listed values smaller
    in magnitude than this (a low-precision dtype's smallest normal number)."""
    record = _record(family)
    hp = {name: draw(_strategy(_above(spec, below)), label=name) for name, spec in record.contract_space().items()}
    hp.update(record.fixed)
    return hp


@st.composite
def scheduled_change(draw, family: str, current: dict):
    """New values for some of ``family``'s schedulable hyperparameters (what an LR scheduler writes
    into ``param_groups`` between steps: lr, and betas/momentum as OneCycleLR and CyclicLR cycle
    them). A momentum that is 0 stays 0 and a positive one stays positive (schedulers cycle it
    between two positive bounds; state buffers exist only for a positive momentum)."""
    record = _record(family)
    names = [n for n in record.schedulable if n in current]
    if not names:
        raise InvalidArgument(f"family {family!r} schedules none of {sorted(current)}")
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True),
                  label="scheduled")
    change = {}
    for name in chosen:
        spec = record.contract_space()[name]
        value = draw(_strategy(spec), label=f"scheduled {name}")
        if name == "momentum" and (current[name] == 0) != (value == 0):
            continue
        change[name] = value
    if all(current.get(name) == value for name, value in change.items()):  # a change that changes
        lr, spec = current["lr"], record.contract_space()["lr"]
        low = spec.low if isinstance(spec, Interval) else min(spec.values)
        change["lr"] = lr / 2 if lr / 2 >= low else lr * 2
    return change
