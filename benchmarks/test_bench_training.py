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

import time

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


def copy_bandwidth(nbytes: int, rounds: int = 7) -> float:
    """Bytes per second of ``b.copy_(a)`` on float64 buffers of ``nbytes`` each (read + write counted),
    one thread, best of ``rounds``: the streaming rate the batched step's elementwise passes can reach
    at the size of its activation tensors."""
    n = max(1, nbytes // 8)
    a, b = torch.rand(n, dtype=torch.float64), torch.empty(n, dtype=torch.float64)
    reps = max(1, (256 * 2**20) // (2 * n * 8))  # ~256 MiB moved per round
    b.copy_(a)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            b.copy_(a)
        best = min(best, (time.perf_counter() - start) / reps)
    return 2 * n * 8 / best


# Bytes the batched SGD step moves per network, in units of one network's hidden activation
# A = POINTS * WIDTH * 8 bytes (parameters and outputs are <= A/8 for d <= 2, ignored):
# forward  x W1^T (write A), + b1 (read A, write A), relu (read A, write A), . W2^T (read A);
# backward grad_out W2 (write A), grad W2 = grad_out^T relu (read A), relu backward (read 2A, write A),
#          grad b1 = sum over points (read A), grad W1 = grad^T x (read A).
# In all 7 reads + 5 writes = 12 A per step.
PASSES_PER_STEP = 12


def _best(fn, rounds=20):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_memory_bound_floor(benchmark):
    """Where the batched SGD step's time goes at one thread (issue #13 item 3). The step is a handful
    of passes over (networks, points, width) tensors, so bytes moved / streaming bandwidth is a lower
    bound on its time per network, and naive time / that floor the best ratio any such tensor program
    could reach. The figures also time the first layer's product the way ``Network.forward`` does it
    (``matmul`` of the shared (N, d) inputs with (B, l, d) weights: one tiny GEMM per network) against
    one GEMM over all B*l neurons: the gap between the measured step and the floor is that per-network
    GEMM cost, not memory traffic."""
    benchmark.group = "training memory floor"
    activation = NETWORKS * POINTS * WIDTH * DTYPE.itemsize
    out = {}

    def run():
        out["bw"] = copy_bandwidth(activation)

    support.measure(benchmark, run, rounds=1)
    per_network = PASSES_PER_STEP * POINTS * WIDTH * DTYPE.itemsize * STEPS  # bytes per network, whole run
    floor = per_network / out["bw"]
    support.record_figure(benchmark, f"copy bandwidth at the activation size ({activation / 2**20:.1f} MiB, 1 thread)",
                          out["bw"] / 1e9, "{:.1f} GB/s")
    support.record_figure(benchmark, f"batched SGD: bytes moved per network ({STEPS} steps, {PASSES_PER_STEP} passes "
                          "of A per step)", per_network / 2**20, "{:.2f} MiB")
    support.record_figure(benchmark, "batched SGD: memory floor per network (bytes / bandwidth)", floor * 1e3,
                          "{:.3f} ms")
    net0, x, _ = get_problem(1)
    w = net0.weights[0]
    per_net = _best(lambda: torch.matmul(x, w.transpose(-1, -2)))
    one_gemm = _best(lambda: x @ w.reshape(-1, w.shape[-1]).T)
    support.record_figure(benchmark, f"first layer x W1^T, d=1: batched matmul ({NETWORKS} tiny GEMMs) / one GEMM "
                          f"over {NETWORKS * WIDTH} neurons", per_net / one_gemm, "{:.1f}x")
    support.record_figure(benchmark, "first layer x W1^T, d=1: batched matmul per call / streaming floor of its output",
                          per_net / (NETWORKS * POINTS * WIDTH * 8 / out["bw"] * 2), "{:.1f}x")
    for d in (1, 2):
        key = ("training", "sgd", d)
        naive = next((r.naive_per_item for r in support.RATIOS if r.what.startswith(f"training sgd, d={d},")), None)
        if key in support.TIMES:
            support.record_figure(benchmark, f"batched SGD d={d}: measured / memory floor", support.TIMES[key] / floor,
                                  "{:.2f}x")
        if naive is not None:
            support.record_figure(benchmark, f"SGD d={d}: best reachable naive/batched at this bandwidth "
                                  "(naive / floor)", naive / floor, "{:.1f}x")
