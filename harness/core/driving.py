"""Conventions of optimizer libraries that the harness follows when it drives a subject.

The rules themselves are stated once, in the driving comment of ``harness.core.training``; this module
holds the small helpers they need, so that the theorem modules read an optimizer the same way:

- ``optimizer_chain(optimizer)``: the optimizer and the optimizers it wraps. A wrapper (Lookahead,
  SAM-style ``base_optimizer``, gradient-accumulation or EMA wrappers) keeps the wrapped optimizer in
  one of ``INNER_ATTRIBUTES``; its own ``state`` is often empty, the state lives in the inner one.
- ``optimizer_state(optimizer)``: the per-parameter state of the whole chain, merged (what a
  "built no state" check and a state snapshot read).
- ``announces_second_order(optimizer)``: pytorch-optimizer's convention, a truthy ``is_second_order``
  attribute on the optimizer (or on an optimizer it wraps).
- ``enter_train_mode(optimizer, subject)``: optimizers with train/eval modes (schedule-free methods,
  whose ``step`` raises unless ``optimizer.train()`` was called) are put in train mode after
  construction. torch.optim.Optimizer has no ``train`` method, so a callable ``train`` attribute that is
  not torch's marks the convention; the call goes through ``guard.call`` (its exception is the subject's).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

INNER_ATTRIBUTES = ("optimizer", "base_optimizer", "_optimizer", "inner_optimizer", "_base_optimizer")
_CHAIN_LIMIT = 8  # wrappers of wrappers; a cycle (an inner optimizer pointing back) ends the walk


def _is_optimizer(obj) -> bool:
    return isinstance(obj, torch.optim.Optimizer) or (
        isinstance(getattr(obj, "state", None), Mapping) and hasattr(obj, "param_groups") and hasattr(obj, "step"))


def optimizer_chain(optimizer) -> list:
    """[optimizer, the optimizer it wraps, the one that wraps, ...], each once."""
    chain, seen, current = [], set(), optimizer
    while current is not None and id(current) not in seen and len(chain) < _CHAIN_LIMIT:
        chain.append(current)
        seen.add(id(current))
        current = next((inner for name in INNER_ATTRIBUTES
                        if _is_optimizer(inner := _attribute(current, name)) and inner is not current), None)
    return chain


def _attribute(obj, name: str):
    try:
        return getattr(obj, name, None)
    except Exception:  # a property that raises: not a wrapped optimizer
        return None


def optimizer_state(optimizer) -> dict:
    """{parameter: {name: value}}: the state of the optimizer and of every optimizer it wraps, merged
    per parameter (a wrapper's own entries, e.g. Lookahead's slow weights, beside the inner ones)."""
    merged: dict = {}
    for opt in optimizer_chain(optimizer):
        state = getattr(opt, "state", None)
        if not isinstance(state, Mapping):
            continue
        for p, entries in state.items():
            if isinstance(entries, Mapping) and entries:
                merged.setdefault(p, {}).update(entries)
    return merged


def announces_second_order(optimizer) -> bool:
    """A truthy ``is_second_order`` on the optimizer or an optimizer it wraps (pytorch-optimizer)."""
    return any(bool(_flag(opt, "is_second_order")) for opt in optimizer_chain(optimizer))


def _flag(obj, name: str):
    try:
        return getattr(obj, name, False)
    except Exception:
        return False


def has_train_mode(optimizer) -> bool:
    """A callable ``train`` that is not torch.optim.Optimizer's own (torch's optimizers have none)."""
    train = getattr(type(optimizer), "train", None)
    if train is None:
        train = _attribute(optimizer, "train")
    if not callable(train):
        return False
    return train is not getattr(torch.optim.Optimizer, "train", None)


def enter_train_mode(optimizer, subject) -> bool:
    """``optimizer.train()`` when the optimizer has train/eval modes; True when it was called. The call
    goes through the guarded path (``harness.core.guard``): its exception is the subject's."""
    if not has_train_mode(optimizer):
        return False
    from kinkcheck.harness.core import guard

    guard.call(subject, "train() (train mode, after construction)", optimizer.train)
    return True
