"""Generated gradient streams for gradient injection (T3), and T4's contract cases.

A stream is a function ``k -> [grad of each parameter]`` for k = 1, 2, ...: large and uneven
magnitudes (per-coordinate scales over six decades), occasional exact zeros on the live
coordinates (from step 2 on), and a fixed zero mask (the frozen coordinates) applied at every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from kinkcheck.harness.core.device import seeded_generator
from kinkcheck.harness.subjects.families import FAMILIES
from kinkcheck.strategies.networks import seeds


@dataclass
class InjectionCase:
    params: list[torch.Tensor]  # initial values
    masks: list[torch.Tensor]  # True where the gradient is always exactly 0
    seed: int
    steps: int
    dtype: torch.dtype

    def stream(self):
        """k -> gradients; deterministic in (seed, k), so it can be replayed."""
        scales = None

        def gradients(k: int) -> list[torch.Tensor]:
            nonlocal scales
            gen = seeded_generator(self.seed * 7919 + k, self.params[0].device)
            if scales is None:
                sgen = seeded_generator(self.seed, self.params[0].device)
                scales = [10.0 ** (torch.rand(p.shape, generator=sgen, dtype=torch.float64,
                                              device=p.device) * 6 - 3) for p in self.params]
            out = []
            for p, m, s in zip(self.params, self.masks, scales):
                g = torch.randn(p.shape, generator=gen, dtype=torch.float64, device=p.device) * s
                if k > 1:  # live coordinates sometimes get an exact 0 too (never all at step 1)
                    g = torch.where(torch.rand(p.shape, generator=gen, device=p.device) < 0.05, 0.0, g)
                out.append(torch.where(m, 0.0, g).to(self.dtype))
            return out

        return gradients

    def leaves(self) -> list[torch.Tensor]:
        return [p.clone().requires_grad_(True) for p in self.params]


@st.composite
def injection_cases(draw, device, dtypes=st.sampled_from([torch.float64, torch.float32]),
                    matrices_only: bool = False, max_steps: int = 40) -> InjectionCase:
    """Parameters (1-3 tensors), a zero mask with at least one frozen and one live coordinate.

    ``matrices_only``: 2-D parameters whose mask is a union of whole rows and columns (Muon's
    frozen pattern: an inactive neuron's row of W_1, its column of W_2).
    """
    dtype = draw(dtypes)
    seed = draw(seeds)
    gen = seeded_generator(seed, device)
    n_params = draw(st.integers(1, 3))
    params, masks = [], []
    for _ in range(n_params):
        if matrices_only:
            rows, cols = draw(st.integers(2, 6)), draw(st.integers(2, 6))
            shape = (rows, cols)
        else:
            shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=2)))
        params.append((torch.randn(shape, generator=gen, dtype=torch.float64, device=device) * 2).to(dtype))
        if matrices_only:
            r = torch.rand(shape[0], generator=gen, device=device) < 0.4
            c = torch.rand(shape[1], generator=gen, device=device) < 0.3
            masks.append(r[:, None] | c[None, :])
        else:
            masks.append(torch.rand(shape, generator=gen, device=device) < draw(st.sampled_from([0.2, 0.5, 0.8])))
    if not any(m.any() for m in masks):  # guarantee a frozen coordinate (a row, for matrices) ...
        masks[0][0] = True
    if all(m.all() for m in masks):  # ... and a live one
        shape = (2, 2) if matrices_only else (2,)
        params.append(torch.randn(shape, generator=gen, dtype=torch.float64, device=device).to(dtype))
        masks.append(torch.zeros(shape, dtype=torch.bool, device=device))
    steps = draw(st.integers(1, max_steps))
    note(f"shapes={[tuple(p.shape) for p in params]} dtype={dtype} steps={steps} "
         f"frozen={int(sum(m.sum() for m in masks))}/{sum(m.numel() for m in masks)}")
    return InjectionCase(params, masks, seed, steps, dtype)


# --- T4: the whole usage contract of a torch.optim-style optimizer --------------------------------

# Vector lengths on both sides of the SIMD widths of CPU kernels (8, 16, 32, 64 elements: full
# blocks, and tails of one element either way), plus the small ones.
SIMD_SIZES = (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65)
MATRIX_SHAPES = ((2, 3), (3, 5), (4, 4), (1, 9), (4, 8), (5, 13), (8, 8), (2, 17), (3, 2), (9, 4))
LAYOUTS = ("0-d", "empty", "vector", "matrix", "transposed", "strided", "channels_last")
MATRIX_LAYOUTS = ("matrix", "transposed", "strided")
NONCONTIGUOUS_LAYOUTS = ("transposed", "strided", "channels_last")
# Axes of the contract a subject may be declared not to support (``OptimizerSubject.skip_axes``, each with
# its reason): contract_cases then leaves them out, and the table shows them as not run.
# The usage axes (issue #20 item 1) that ``strategies.contract_axes.usage_cases`` adds to a contract case, each
# run only where the family's torch.optim class supports it (``Family``: complex_parameters, ...).
USAGE_AXES = ("complex parameters", "tensor hyperparameters", "add_param_group", "mixed dtypes", "differentiable")
# "sparse gradients" is T4's own test (theorems/test_sparse_gradients.py), not a contract-case axis.
AXES = ("layouts", "late first gradient", *USAGE_AXES, "sparse gradients")


@dataclass
class Parameter:
    """One parameter of a contract case: its values (float64), the layout of the leaf, the layout
    of its gradients (``same``: as the leaf's; ``other``: the dimensions' storage order reversed).
    ``dtype``: its own real dtype where it differs from the case's (several dtypes in one group);
    ``complex``: a complex parameter whose ``view_as_real`` pair is ``values`` (last dimension 2)."""

    values: torch.Tensor
    layout: str
    grad_layout: str
    dtype: torch.dtype | None = None
    complex: bool = False

    def real_dtype(self, case_dtype: torch.dtype) -> torch.dtype:
        """The real dtype the parameter (or each half of its complex entries) is held in."""
        return self.dtype or case_dtype

    def shape(self) -> tuple:
        """The leaf's shape (a complex parameter's: its real pair's without the last dimension)."""
        return tuple(self.values.shape[:-1] if self.complex else self.values.shape)

    def leaf(self, dtype: torch.dtype) -> torch.Tensor:
        v = self.values.to(self.real_dtype(dtype))
        if self.complex:
            v = torch.view_as_complex(v.contiguous())
        dtype = v.dtype
        if self.layout == "transposed":
            t = torch.empty(v.shape[::-1], dtype=dtype, device=v.device).t()
        elif self.layout == "strided":
            t = torch.empty(v.shape[:-1] + (2 * v.shape[-1],), dtype=dtype, device=v.device)[..., ::2]
        elif self.layout == "channels_last":
            t = torch.empty_like(v, memory_format=torch.channels_last)
        else:
            t = torch.empty_like(v)
        return t.copy_(v).requires_grad_(True)

    def arrange(self, g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The gradient ``g`` in this parameter's gradient layout (values unchanged)."""
        if like.is_complex() and not g.is_complex():
            g = torch.view_as_complex(g.to(like.real.dtype).contiguous())
        elif g.dtype != like.dtype:
            g = g.to(like.dtype)
        if self.grad_layout == "same":
            return torch.empty_like(like).copy_(g)  # like's strides where it is dense, else contiguous
        dims = tuple(range(g.dim()))[::-1]
        return g.permute(dims).contiguous().permute(dims)


@dataclass
class Group:
    parameters: list[Parameter]
    hyperparameters: dict


@dataclass
class ContractCase:
    """Parameter groups, a gradient stream, and what the user does between steps.

    ``absent``: (step, parameter) pairs whose gradient is not produced at that step (the parameter
    took no part); ``set_to_none[k-1]``: the ``zero_grad`` mode before step k; ``changes[k]``:
    group index -> hyperparameters written into ``param_groups`` before step k; ``save_at``: the
    step after which ``state_dict()`` is saved and loaded into a freshly built optimizer."""

    groups: list[Group]
    steps: int
    seed: int
    dtype: torch.dtype
    magnitudes: tuple[float, float]  # decades of the per-coordinate gradient scales
    absent: set
    set_to_none: list[bool]
    changes: dict
    save_at: int | None
    tensor_hyperparameters: tuple = ()  # names handed to the subject as 0-d tensors (usage axis)
    late_group: int | None = None  # the last group joins through add_param_group before this step

    @property
    def parameters(self) -> list[Parameter]:
        return [p for g in self.groups for p in g.parameters]

    def gradient(self, k: int, j: int) -> torch.Tensor:
        """Gradient of parameter j at step k: deterministic in (seed, k, j), in float64, then
        rounded to the case's dtype."""
        p = self.parameters[j]
        gen = seeded_generator(self.seed * 7919 + 104729 * j + k, p.values.device)
        shape = p.values.shape  # a complex parameter's: its real pair's
        lo, hi = self.magnitudes
        scale = 10.0 ** (lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64, device=p.values.device))
        g = torch.randn(shape, generator=gen, dtype=torch.float64, device=p.values.device).sign() * scale
        if k > 1:
            g = torch.where(torch.rand(shape, generator=gen, device=p.values.device) < 0.05, 0.0, g)
        return g.to(p.real_dtype(self.dtype))


@st.composite
def parameters(draw, *, dtype: torch.dtype, device, matrices_only: bool = False, takes_empty: bool = True,
               scale: float = 2.0, strided: bool = True) -> Parameter:
    """One parameter: 0-d, empty, a vector whose length straddles a SIMD width, a matrix, a
    non-contiguous view (transposed, or every other column), a channels_last 4-D tensor.
    ``strided=False``: contiguous parameters and gradients only (the "layouts" axis left out)."""
    layouts = MATRIX_LAYOUTS if matrices_only else tuple(l for l in LAYOUTS if takes_empty or l != "empty")
    if not strided:
        layouts = tuple(l for l in layouts if l not in NONCONTIGUOUS_LAYOUTS)
    layout = draw(st.sampled_from(layouts), label="layout")
    if layout == "0-d":
        shape = ()
    elif layout == "empty":
        shape = draw(st.sampled_from([(0,), (0, 3)]), label="empty shape")
    elif layout == "vector":
        shape = (draw(st.sampled_from(SIMD_SIZES), label="length"),)
    elif layout == "channels_last":
        shape = draw(st.sampled_from([(1, 3, 2, 2), (2, 4, 2, 3), (1, 17, 1, 1)]), label="nchw")
    else:
        shape = draw(st.sampled_from(MATRIX_SHAPES), label="matrix shape")
    seed = draw(seeds, label="values seed")
    gen = seeded_generator(seed, device)
    values = (torch.randn(shape, generator=gen, dtype=torch.float64, device=device) * scale).to(dtype)
    grad_layout = draw(st.sampled_from(["same", "other"]), label="grad layout") if len(shape) >= 2 and strided \
        else "same"
    return Parameter(values.to(torch.float64), layout, grad_layout)


@st.composite
def contract_cases(draw, family: str, device, *, dtype: torch.dtype = torch.float64, max_steps: int = 30,
                   max_groups: int = 3, state_dict: bool = True, skip_axes=frozenset(),
                   usage_axes=()) -> ContractCase:
    """A contract case for ``family`` (its record's ranges): 1..max_groups parameter groups, each with
    its own hyperparameters from the family's whole contract and 1-2 parameters of mixed shapes and
    layouts; 3..max_steps steps; some gradients absent (always one after that parameter's first
    step); both zero_grad modes; scheduler writes into param_groups (always one, at step >= 2); a
    state_dict round trip after a step in the middle. ``skip_axes`` (names in ``AXES``) leaves axes
    out: "layouts" (contiguous parameters and gradients only), "late first gradient" (every parameter
    gets a gradient at step 1).

    Low precision (``dtype`` not float64): the claim is a rounding bound valid while every quantity
    stays in the dtype's normal range, so gradient magnitudes span 2^0..2^3 (their squares and
    (1 - beta2) g^2 stay normal in float16), hyperparameter values below the dtype's smallest normal
    (eps = 1e-8 in float16) are not drawn, nor values whose square or reciprocal leaves the dtype's
    normal range (kernels use hyperparameters squared and inverted: Adafactor's eps1 = 1e-30 in
    float32/bfloat16, ``strategies.optimizers.kernel_safe``), and parameters start near the scale of a step."""
    from kinkcheck.strategies.optimizers import contract_hyperparameters, scheduled_change

    if max_steps < 3:
        raise InvalidArgument(f"max_steps={max_steps} < 3: a contract case needs steps before and after "
                              "a change, an absent gradient and a state_dict round trip")
    record = FAMILIES[family] if family in FAMILIES else None
    if record is None:
        raise InvalidArgument(f"unknown family {family!r}")
    unknown_axes = set(skip_axes) - set(AXES)
    if unknown_axes:
        raise InvalidArgument(f"unknown contract axes {sorted(unknown_axes)} (valid: {', '.join(AXES)})")
    strided = "layouts" not in skip_axes
    low = dtype != torch.float64
    tiny = torch.finfo(dtype).tiny
    groups = []

    def group(i):
        hp = draw(contract_hyperparameters(family, below=tiny if low else 0.0, dtype=dtype if low else None))
        if groups:  # what the family reads from the constructor only is the same in every group
            hp.update({name: groups[0].hyperparameters[name] for name, _ in record.constructor_only})
        scale = 2.0 if not low else draw(st.sampled_from([1.0, 10.0]), label="theta0 / lr") * hp.get("lr", 1e-2)
        params = [draw(parameters(dtype=dtype, device=device, matrices_only=record.matrices_only,
                                  takes_empty=record.takes_empty, scale=scale, strided=strided))
                  for _ in range(draw(st.integers(1, 2), label=f"parameters in group {i}"))]
        return Group(params, hp), scale

    for i in range(draw(st.integers(1, max_groups), label="groups")):
        g, scale = group(i)
        groups.append(g)
    if all(p.values.numel() == 0 for g in groups for p in g.parameters):  # something must move
        groups[0].parameters.append(draw(parameters(dtype=dtype, device=device, matrices_only=True,
                                                    takes_empty=False, scale=2.0 if not low else scale,
                                                    strided=strided)))
    tensors, late = (), False
    if usage_axes:
        from kinkcheck.strategies.contract_axes import add_usage_axes

        tensors, late = add_usage_axes(
            draw, family, groups, device, usage_axes, dtype=dtype, group=lambda i: group(i)[0],
            parameter=lambda d: draw(parameters(dtype=d, device=device, matrices_only=record.matrices_only,
                                                takes_empty=False, scale=2.0, strided=strided)))
    n = sum(len(g.parameters) for g in groups)
    steps = draw(st.integers(3, max_steps), label="steps")
    absent = {(k, j) for k in range(1, steps + 1) for j in range(n)
              if draw(st.integers(0, 9), label="absent") == 0}
    j0 = draw(st.integers(0, n - 1), label="skipping parameter")
    absent.discard((1, j0))
    skipped = draw(st.integers(2, steps), label="skipped step")
    absent.add((skipped, j0))  # after its first step, with its gradient set to None
    # a whole group without a gradient at a step (every parameter's .grad None there)
    late_group = draw(st.integers(2, steps), label="add_param_group before step") if late else None
    silent_group = draw(st.integers(0, len(groups) - 1), label="group without gradients")
    joined = late_group if late and silent_group == len(groups) - 1 else 2  # a group in the optimizer by then
    silent_step = draw(st.integers(joined, steps), label="step without that group's gradients")
    if steps == 3 and silent_step != skipped:  # keep a step after step 1 free for zero_grad(set_to_none=False)
        silent_step = skipped
        if late and silent_group == len(groups) - 1 and skipped < late_group:
            silent_group = 0
    first = sum(len(g.parameters) for g in groups[:silent_group])
    absent |= {(silent_step, first + j) for j in range(len(groups[silent_group].parameters))}
    if "late first gradient" in skip_axes:
        absent -= {(1, j) for j in range(n)}
    if late:  # the last group's parameters are not in the optimizer before they join
        absent |= {(k, n - 1 - j) for k in range(1, late_group) for j in range(len(groups[-1].parameters))}
    set_to_none = draw(st.lists(st.booleans(), min_size=steps, max_size=steps), label="zero_grad set_to_none")
    set_to_none[skipped - 1] = True
    set_to_none[silent_step - 1] = True
    if all(set_to_none[1:]):  # both modes after step 1, where they differ (the None steps kept None if possible)
        free = [i for i in range(1, steps) if i not in (skipped - 1, silent_step - 1)]
        set_to_none[free[0]] = False
    changes = {}
    current = [dict(g.hyperparameters) for g in groups]
    forced = draw(st.integers(2, steps), label="forced change step")
    for k in range(2, steps + 1):
        for i, g in enumerate(current):
            if k == forced and i == 0 or draw(st.integers(0, 5), label="change") == 0:
                change = draw(scheduled_change(family, g, dtype=dtype if low else None,
                                               include=("lr",) if k == forced and i == 0 else ()))
                if tensors and k == forced and i == 0:
                    from kinkcheck.strategies.contract_axes import rewrite_tensors

                    change = rewrite_tensors(draw, family, change, g, tensors)
                g.update(change)
                changes.setdefault(k, {})[i] = change
    save_at = draw(st.integers(1, steps - 1), label="state_dict after step") if state_dict else None
    magnitudes = (0.0, 3 * 0.30103) if low else (-3.0, 3.0)
    seed = draw(seeds, label="gradient seed")
    shown = [(g.hyperparameters, [(p.layout, p.shape(), p.grad_layout) + ((str(p.dtype),) if p.dtype else ())
                                   + (("complex",) if p.complex else ()) for p in g.parameters]) for g in groups]
    note(f"contract case ({family}, {dtype}): groups={shown} "
         f"steps={steps} absent={sorted(absent)} set_to_none={set_to_none} changes={changes} save_at={save_at}"
         + (f" usage axes={sorted(usage_axes)} tensor hyperparameters={tensors} add_param_group before step "
            f"{late_group}" if usage_axes else ""))
    return ContractCase(groups, steps, seed, dtype, magnitudes, absent, set_to_none, changes, save_at,
                        tensors, late_group)
