"""Generated gradient streams for gradient injection (T3, T4).

A stream is a function ``k -> [grad of each parameter]`` for k = 1, 2, ...: large and uneven
magnitudes (per-coordinate scales over six decades), occasional exact zeros on the live
coordinates (from step 2 on), and a fixed zero mask (the frozen coordinates) applied at every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import note
from hypothesis import strategies as st

from kinkcheck.harness.core.device import seeded_generator
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
