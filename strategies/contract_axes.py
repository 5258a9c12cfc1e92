"""T4's usage axes (issue #20 item 1): what ``contract_cases(..., usage_axes=...)`` adds to a contract case.

- ``complex parameters``: some parameters complex (complex128, or complex64 beside float64 ones), their
  values drawn as the ``view_as_real`` pair the reference runs on;
- ``tensor hyperparameters``: the family's tensor-capable constructor arguments (``Family.
  tensor_hyperparameters``: a 0-d tensor lr, tensor betas/weight_decay for Adam/AdamW) handed over as
  tensors, and rewritten between steps as torch's LR schedulers rewrite a tensor (in place);
- ``add_param_group``: the last group joins through ``add_param_group`` before a drawn step, after the
  constructor took constructor-only values (``Family.constructor_only``: Adagrad's
  initial_accumulator_value) that differ from their defaults;
- ``mixed dtypes``: a float32 parameter first in a group that also holds float64 ones.

Which axes apply to a subject is decided by the family record (what torch.optim's class for the family
takes) and the subject's ``skip_axes`` (``axes_for``).
"""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from kinkcheck.harness.core.device import seeded_generator
from kinkcheck.harness.subjects.families import FAMILIES, SWITCH_OFF, Choice
from kinkcheck.strategies.networks import seeds

# the family record's attribute that says torch.optim's class supports the axis
_SUPPORT = {"complex parameters": "complex_parameters", "tensor hyperparameters": "tensor_hyperparameters",
            "differentiable": "differentiable"}


def supported(family: str, axis: str) -> bool:
    """Whether ``family``'s torch.optim class supports ``axis`` (so a subject of the family is held to it).
    Families without a torch.optim class (lion, generic) are held to none of the usage axes."""
    record = FAMILIES[family]
    if record.torch_class is None:
        return False
    attr = _SUPPORT.get(axis)
    return True if attr is None else bool(getattr(record, attr))


def axes_for(family: str, skip_axes=frozenset()) -> tuple[str, ...]:
    """The axes mixed into one case (all but ``differentiable``, which has its own driver; "mixed dtypes" only
    where the family has a low-precision rounding bound) that a subject of
    ``family`` is held to, less the ones it is declared not to support. add_param_group adds a parameter
    whose first gradient comes after step 1: it needs the "late first gradient" axis too."""
    late_ok = "late first gradient" not in skip_axes
    bounded = FAMILIES[family].rounding_bounded  # a float32 parameter is checked against a per-step bound
    return tuple(a for a in ("complex parameters", "tensor hyperparameters", "add_param_group", "mixed dtypes")
                 if supported(family, a) and a not in skip_axes and (late_ok or a != "add_param_group")
                 and (bounded or a != "mixed dtypes"))


def complexify(draw, p, device, *, dtype):
    """``p`` as a complex parameter: its values become the real pair (values, drawn imaginary parts)."""
    gen = seeded_generator(draw(seeds, label="imaginary parts seed"), device)
    imag = torch.randn(p.values.shape, generator=gen, dtype=torch.float64, device=device) * 2.0
    p.values = torch.stack([p.values, imag], dim=-1)
    p.complex = True
    p.dtype = dtype
    return p


def add_usage_axes(draw, family: str, groups: list, device, axes, *, dtype, parameter, group):
    """Apply ``axes`` to the drawn ``groups`` (in place, before the case's gradient schedule is drawn);
    ``draw`` is the calling composite's, ``parameter(dtype)`` and ``group(i)`` draw a new parameter and a
    new group. Returns (tensor hyperparameter names, whether the last group joins through add_param_group)."""
    record = FAMILIES[family]
    tensors = ()
    alone = not {"complex parameters", "mixed dtypes"} & set(axes)
    if "tensor hyperparameters" in axes and (alone or draw(st.booleans(), label="tensor hyperparameters this case")):
        # apart from float32 and complex64 parameters: torch casts a tensor hyperparameter to the parameter's
        # dtype before forming 1 - beta (adam.py: beta1.to(param.dtype)), a rounding of the hyperparameter
        # itself that the per-step bound of a lower-precision parameter does not model
        tensors = tuple(n for n in record.tensor_hyperparameters if n in groups[0].hyperparameters)
        axes = tuple(a for a in axes if a != "mixed dtypes")
    if "complex parameters" in axes:
        flat = [p for g in groups for p in g.parameters]
        chosen = draw(st.lists(st.integers(0, len(flat) - 1), min_size=1, max_size=len(flat), unique=True),
                      label="complex parameters")
        for j in chosen:
            complex64 = not tensors and draw(st.booleans(), label="complex64 (else complex128)")
            complexify(draw, flat[j], device, dtype=torch.float32 if complex64 else None)
    if "mixed dtypes" in axes:
        i = draw(st.integers(0, len(groups) - 1), label="mixed-dtype group")
        first = parameter(torch.float32)
        first.dtype = torch.float32
        # first in its group, before a parameter of the case's dtype: state kept in the first parameter's dtype shows
        groups[i].parameters.insert(0, first)
        if all(p.dtype is not None for p in groups[i].parameters[1:]):
            groups[i].parameters.append(parameter(dtype))
    late = False
    if "add_param_group" in axes:
        if len(groups) == 1:
            groups.append(group(1))
        late = True
        for name, _ in record.constructor_only:  # the constructor's value differs from the default
            space = record.contract_space()[name]
            values = tuple(v for v in space.values if v != SWITCH_OFF.get(name)) if isinstance(space, Choice) else ()
            if values:
                value = draw(st.sampled_from(values), label=f"constructor-only {name}")
                for g in groups:
                    g.hyperparameters[name] = value
    return tensors, late


def rewrite_tensors(draw, family: str, change: dict, current: dict, tensors) -> dict:
    """``change`` (the case's forced rewrite of group 0) extended so that it rewrites every tensor
    hyperparameter: a value read once, when the tensor was handed over, then shows."""
    from kinkcheck.strategies.optimizers import strategy_for

    space = FAMILIES[family].contract_space()
    for name in tensors:
        if name not in change and name in space:
            value = draw(strategy_for(space[name]).filter(lambda v, old=current[name]: v != old),
                         label=f"rewritten tensor {name}")
            change[name] = value
    return change
