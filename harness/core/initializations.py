"""Batched samplers of first-layer parameters for the initialization laws of ``kinkcheck.harness.oracles.inactivity``.

``sample_first_layer(law, networks, hidden, d, generator)`` -> (W (n, H, d), B (n, H)): i.i.d.
neurons, vectorised (no Python loop over networks). PyTorch's default and the standard normal
law go through ``kinkcheck.harness.core.networks.Network.random`` (the sampler the trained networks use), so
T5 checks that sampler against the exact law.
"""
from __future__ import annotations

import time

import torch

from kinkcheck.harness.core.networks import Network, inactive_on_box
from kinkcheck.harness.oracles.inactivity import InitLaw


def sample_first_layer(law: InitLaw, networks: int, hidden: int, d: int, *, generator: torch.Generator,
                       dtype=torch.float64, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    if law.name in ("torch", "normal"):
        if law.name == "torch" and float(law.weight_scale) != d ** -0.5:
            raise ValueError(f"{law} is not nn.Linear's default for fan_in {d}")
        net = Network.random((d, hidden), networks, generator=generator, dtype=dtype, device=device,
                             init=law.name)
        return net.weights[0], net.biases[0]
    if law.kind == "uniform":
        w = (torch.rand((networks, hidden, d), generator=generator, dtype=dtype, device=device) * 2 - 1)
        b = (torch.rand((networks, hidden), generator=generator, dtype=dtype, device=device) * 2 - 1)
        return w * float(law.weight_scale), b * float(law.bias_scale)
    if law.kind == "normal":
        w = torch.randn((networks, hidden, d), generator=generator, dtype=dtype, device=device)
        b = torch.randn((networks, hidden), generator=generator, dtype=dtype, device=device)
        return w * float(law.weight_scale), b * float(law.bias_scale)
    raise ValueError(f"unknown law {law}")


def inactivity_counts(sampler, law: InitLaw, networks: int, hidden: int, lo: torch.Tensor, hi: torch.Tensor,
                      *, generator: torch.Generator, inactive=inactive_on_box, chunk: int = 1 << 17):
    """Sample ``networks`` shallow networks (in chunks, vectorised) and count (inactive neurons,
    networks with >= 1 inactive neuron). Returns (neurons_inactive, networks_with_inactive, rate)
    with rate the networks per second of sampling + exact box inactivity."""
    neurons = with_any = 0
    start = time.perf_counter()
    done = 0
    while done < networks:
        m = min(chunk, networks - done)
        w, b = sampler(law, m, hidden, lo.shape[0], generator=generator, dtype=lo.dtype, device=lo.device)
        flags = inactive(w, b, lo, hi)
        neurons += int(flags.sum())
        with_any += int(flags.any(dim=-1).sum())
        done += m
    elapsed = time.perf_counter() - start
    return neurons, with_any, networks / max(elapsed, 1e-9)
