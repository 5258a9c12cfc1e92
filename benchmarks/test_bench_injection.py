"""Gradient injection (T3's loop, ``kinkcheck.harness.core.training.inject_gradients``): 1,000 small parameter
tensors (16 coordinates each, float64) fed 100 steps of pre-generated gradients, with
torch.optim.Adam and torch.optim.SGD (momentum). Three ways:

- batched: the 1,000 tensors stacked into one (1000, 16) tensor, one optimizer;
- one optimizer over a list of 1,000 separate tensors (torch.optim's default implementation);
- naive: one optimizer per small tensor, a Python loop over them (timed on a subset, scaled).

An elementwise optimizer gives every coordinate the same iterates in all three: the benchmark
checks the naive final parameters against the batched ones bit for bit.
"""
from __future__ import annotations

import pytest
import torch

from benchmarks import support
from kinkcheck.harness.core.device import seeded_generator
from kinkcheck.harness.subjects.specs import OptimizerSubject
from kinkcheck.harness.core.training import inject_gradients

TENSORS = support.scaled(1000)
NAIVE = min(TENSORS, support.scaled(100))
SIZE = 16
STEPS = support.scaled(100, minimum=2)
TARGET = 50  # naive/batched: the same 50x the issue sets for training
DTYPE = torch.float64
OPTIMIZERS = {"adam": (torch.optim.Adam, {"lr": 1e-3}), "momentum": (torch.optim.SGD, {"lr": 0.01, "momentum": 0.9})}

_G = {}


def gradients():
    """(STEPS, TENSORS, SIZE) gradients, a quarter of the coordinates exactly 0 (as in T3)."""
    if not _G:
        gen = seeded_generator(7, "cpu")
        g = torch.randn(STEPS, TENSORS, SIZE, generator=gen, dtype=DTYPE)
        g[:, :, : SIZE // 4] = 0
        _G["g"] = g
        _G["p0"] = torch.randn(TENSORS, SIZE, generator=gen, dtype=DTYPE)
    return _G["g"], _G["p0"]


def subject(name):
    cls, hp = OPTIMIZERS[name]
    return OptimizerSubject(name, name, f"torch.optim:{cls.__name__}", cls, True), hp


FINAL = {}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_batched_one_tensor(benchmark, name):
    benchmark.group = f"injection {name}"
    g, p0 = gradients()
    sub, hp = subject(name)
    out = {}

    def run(p):
        out["opt"] = inject_gradients([p], lambda k: [g[k - 1]], sub, hp, STEPS)
        out["p"] = p

    seconds = support.measure(benchmark, run, rounds=5,
                              setup=lambda: ((p0.clone().requires_grad_(True),), {}))
    support.record_batched(("injection", name), seconds / TENSORS)
    FINAL[name] = out["p"].detach()
    if name == "adam":
        mem = support.nbytes([out["p"], out["p"].grad, *support.optimizer_state_tensors(out["opt"])])
        support.record_figure(benchmark, f"injection memory, {TENSORS} tensors (param+grad+Adam state)",
                              mem / 2**20, "{:.2f} MiB")
        support.record_figure(benchmark, "injection memory, pre-generated gradients",
                              support.nbytes([g]) / 2**20, "{:.1f} MiB")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_one_optimizer_many_tensors(benchmark, name):
    benchmark.group = f"injection {name}"
    g, p0 = gradients()
    sub, hp = subject(name)
    out = {}

    def run(ps):
        inject_gradients(ps, lambda k: list(g[k - 1].unbind(0)), sub, hp, STEPS)
        out["ps"] = ps

    seconds = support.measure(benchmark, run, rounds=2,
                              setup=lambda: (([p.clone().requires_grad_(True) for p in p0.unbind(0)],), {}))
    support.record_ratio(benchmark, ("injection", name),
                             f"injection {name}: one optimizer over {TENSORS} tensors vs one stacked tensor",
                             "tensor", seconds / TENSORS, None)
    if name in FINAL:
        assert torch.equal(torch.stack([p.detach() for p in out["ps"]]), FINAL[name])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_naive_optimizer_per_tensor(benchmark, name):
    benchmark.group = f"injection {name}"
    g, p0 = gradients()
    sub, hp = subject(name)
    out = {}

    def run(ps):
        for i, p in enumerate(ps):
            inject_gradients([p], lambda k: [g[k - 1, i]], sub, hp, STEPS)
        out["ps"] = ps

    seconds = support.measure(benchmark, run, rounds=2,
                              setup=lambda: (([p.clone().requires_grad_(True) for p in p0[:NAIVE].unbind(0)],), {}))
    r = support.record_ratio(benchmark, ("injection", name),
                             f"injection {name}: {TENSORS} tensors x {STEPS} steps, optimizer per tensor", "tensor",
                             seconds / NAIVE, TARGET,
                             notes=[f"naive timed on {NAIVE} tensors and scaled linearly"] if NAIVE < TENSORS else [])
    if name in FINAL:  # elementwise optimizer: bit-identical iterates
        assert torch.equal(torch.stack([p.detach() for p in out["ps"]]), FINAL[name][:NAIVE])
    support.check_target(r)
