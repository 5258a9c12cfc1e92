"""Training 1,000 width-16 one-hidden-layer ReLU networks (MSE, 200 full-batch steps): batched
(``kinkcheck.harness.core.training.train`` on one ``Network`` with a leading batch axis, one optimizer) vs naive
(one ``torch.nn.Sequential`` and one optimizer per network, in a Python loop).

The naive way is timed on a subset (``NAIVE`` networks) and scaled linearly to ``NETWORKS``: its
cost is a sum of identical independent per-network loops, so it is linear in the count.
Both run the same problem in float64 (the suite's default dtype): the naive networks start from
the batched networks' initial parameters and fit the same targets, and the benchmark checks that
they end where the batched ones end.
"""
from __future__ import annotations

import pytest
import torch

from benchmarks import support
from kinkcheck.harness.core.device import seeded_generator
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.subjects.specs import OptimizerSubject
from kinkcheck.harness.core.training import train

NETWORKS = support.scaled(1000)
NAIVE = min(NETWORKS, support.scaled(50))
STEPS = support.scaled(200, minimum=2)
POINTS = 32
WIDTH = 16
TARGET = 50  # naive/batched, from the issue
OPTIMIZERS = {"sgd": (torch.optim.SGD, {"lr": 0.01}), "adam": (torch.optim.Adam, {"lr": 1e-3})}
CASES = [(name, d) for name in OPTIMIZERS for d in (1, 2)]
DTYPE = torch.float64


def problem(d: int):
    gen = seeded_generator(1234 + d, "cpu")
    net = Network.random([d, WIDTH, 1], NETWORKS, generator=gen, dtype=DTYPE, init="torch")
    x = torch.rand(POINTS, d, generator=gen, dtype=DTYPE) * 2 - 1
    y = torch.randn(NETWORKS, POINTS, 1, generator=gen, dtype=DTYPE)
    return net, x, y


PROBLEMS = {}


def get_problem(d):
    if d not in PROBLEMS:
        PROBLEMS[d] = problem(d)
    return PROBLEMS[d]


FINAL = {}  # (name, d) -> batched final parameters, to check the naive run against


@pytest.mark.parametrize("name,d", CASES)
def test_batched(benchmark, name, d):
    benchmark.group = f"training {name} d={d}"
    net0, x, y = get_problem(d)
    cls, hp = OPTIMIZERS[name]
    subject = OptimizerSubject(name, name, f"torch.optim:{cls.__name__}", cls, True)

    def setup():
        return (net0.trainable(),), {}

    result = {}

    def run(net):
        result["trajectory"] = train(net, x, y, subject, hp, STEPS)
        result["net"] = net

    seconds = support.measure(benchmark, run, rounds=5, setup=setup)
    support.record_batched(("training", name, d), seconds / NETWORKS)
    FINAL[(name, d)] = [p.detach() for p in result["net"].parameters()]
    if (name, d) == CASES[-1]:  # the largest case: Adam state, 2-D input
        opt = result["trajectory"].optimizer
        params = result["net"].parameters()
        live = support.nbytes(params) * 2 + support.nbytes(support.optimizer_state_tensors(opt))
        activations = NETWORKS * POINTS * WIDTH * 3 * DTYPE.itemsize  # pre-activation, relu, its grad
        support.record_figure(benchmark, f"training memory, {NETWORKS} networks (params+grads+Adam state)",
                              live / 2**20, "{:.2f} MiB")
        support.record_figure(benchmark, "training memory, hidden activations per step (estimate)",
                              activations / 2**20, "{:.2f} MiB")
        support.record_figure(benchmark, "process max RSS after batched training", support.max_rss_mib(),
                              "{:.0f} MiB")


@pytest.mark.parametrize("name,d", CASES)
def test_naive(benchmark, name, d):
    benchmark.group = f"training {name} d={d}"
    net0, x, y = get_problem(d)
    cls, hp = OPTIMIZERS[name]
    models = {}

    def setup():
        ms = []
        for i in range(NAIVE):
            m = torch.nn.Sequential(torch.nn.Linear(d, WIDTH), torch.nn.ReLU(), torch.nn.Linear(WIDTH, 1)).to(DTYPE)
            with torch.no_grad():
                m[0].weight.copy_(net0.weights[0][i])
                m[0].bias.copy_(net0.biases[0][i])
                m[2].weight.copy_(net0.weights[1][i])
                m[2].bias.copy_(net0.biases[1][i])
            ms.append(m)
        return (ms,), {}

    def run(ms):
        for i, m in enumerate(ms):
            opt = cls(m.parameters(), **hp)
            yi = y[i]
            for _ in range(STEPS):
                opt.zero_grad()
                loss = ((m(x) - yi) ** 2).mean()
                loss.backward()
                opt.step()
        models["trained"] = ms

    seconds = support.measure(benchmark, run, rounds=2, setup=setup)
    r = support.record_ratio(
        benchmark, ("training", name, d), f"training {name}, d={d}, {NETWORKS} nets x {STEPS} steps", "network",
        seconds / NAIVE, TARGET,
        notes=[f"naive timed on {NAIVE} networks and scaled linearly to {NETWORKS}"] if NAIVE < NETWORKS else [])
    if (name, d) in FINAL:  # same problem, same result (up to matmul rounding: different kernels)
        final = FINAL[(name, d)]
        m = models["trained"][0]
        got = [m[0].weight, m[0].bias, m[2].weight, m[2].bias]
        for g, f in zip(got, final):
            torch.testing.assert_close(g.detach(), f[0], rtol=1e-9, atol=1e-12)
    support.check_target(r)
