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
def hyperparameters(draw, family: str, *, max_lr: float | None = None):
    """A configuration of ``family`` inside T2/T3's hypotheses (no decay of any kind).

    ``max_lr`` caps the learning rate (training real networks, where a large step diverges)."""
    record = _record(family)
    if max_lr is not None and max_lr <= 0:
        raise InvalidArgument(f"max_lr={max_lr!r} must be positive")
    hp = {name: draw(_strategy(spec), label=name) for name, spec in record.draws().items()}
    hp.update(record.fixed)
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
