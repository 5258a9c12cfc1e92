"""Exact inactivity on a box ([GM] Setting 3.1; T5/T6's Monte Carlo):
``kinkcheck.harness.core.networks.inactive_on_box``
on 10^6 sampled first layers (width 16, 2-D input, box [-1, 1] x [0, 1], float64) at once, vs naive
per-network loops over a subset, scaled linearly: (a) the same function called on one network at a
time, (b) plain Python floats, neuron by neuron. The batched result is checked against both.
"""
from __future__ import annotations

import pytest
import torch

from benchmarks import support
from kinkcheck.harness.core.device import seeded_generator
from kinkcheck.harness.core.networks import inactive_on_box

NETWORKS = support.scaled(10**6)
NAIVE = min(NETWORKS, support.scaled(2000))
WIDTH, D = 16, 2
CHUNK = 2**16  # networks per call in the chunked variant (temporaries stay in cache-sized blocks)
TARGET = 10**6  # networks/s, from the issue
DTYPE = torch.float64
LO = torch.tensor([-1.0, 0.0], dtype=DTYPE)
HI = torch.tensor([1.0, 1.0], dtype=DTYPE)

_LAYERS = {}


def layers():
    """Sampled first layers, torch init U(+-1/sqrt(d)) (seeded, shared by all benchmarks)."""
    if not _LAYERS:
        gen = seeded_generator(99, "cpu")
        bound = D ** -0.5
        _LAYERS["w"] = (torch.rand(NETWORKS, WIDTH, D, generator=gen, dtype=DTYPE) * 2 - 1) * bound
        _LAYERS["b"] = (torch.rand(NETWORKS, WIDTH, generator=gen, dtype=DTYPE) * 2 - 1) * bound
    return _LAYERS["w"], _LAYERS["b"]


RESULT = {}


@pytest.mark.parametrize("chunk", [None, CHUNK], ids=["one-call", f"chunks-of-{CHUNK}"])
def test_batched(benchmark, chunk):
    benchmark.group = "inactivity on a box"
    w, b = layers()

    def run():
        if chunk is None:
            return inactive_on_box(w, b, LO, HI)
        return torch.cat([inactive_on_box(w[i:i + chunk], b[i:i + chunk], LO, HI)
                          for i in range(0, NETWORKS, chunk)])

    out = {}
    seconds = support.measure(benchmark, lambda: out.setdefault("r", run()), rounds=5)
    RESULT["inactive"] = out["r"]
    rate = NETWORKS / seconds
    label = "one call" if chunk is None else f"chunks of {CHUNK}"
    support.record_batched(("inactivity", chunk), seconds / NETWORKS)
    support.record_figure(benchmark, f"inactivity, batched ({label}): networks/s", rate, "{:.3g}")
    support.record_figure(benchmark, f"inactivity, batched ({label}): target >= {TARGET:.0e} networks/s met",
                          "yes" if rate >= TARGET else "NO", "{}")
    if chunk is None:
        temporaries = 3 * w.numel() * w.element_size() + 2 * b.numel() * b.element_size()
        support.record_figure(benchmark, f"inactivity memory, {NETWORKS} layers (w, b)",
                              support.nbytes([w, b]) / 2**20, "{:.0f} MiB")
        support.record_figure(benchmark, "inactivity memory, one-call temporaries (w*lo, w*hi, max, sums)",
                              temporaries / 2**20, "{:.0f} MiB")
        support.record_figure(benchmark, "process max RSS after one-call inactivity", support.max_rss_mib(),
                              "{:.0f} MiB")
    assert out["r"].any() and not out["r"].all()  # both outcomes occur: the check is not vacuous


def naive_torch(w, b):
    return [inactive_on_box(w[i:i + 1], b[i:i + 1], LO, HI)[0] for i in range(w.shape[0])]


def naive_python(w, b):
    lo, hi = LO.tolist(), HI.tolist()
    out = []
    for wi, bi in zip(w.tolist(), b.tolist()):
        out.append([bj + sum(max(wji * l, wji * h) for wji, l, h in zip(wj, lo, hi)) <= 0.0
                    for wj, bj in zip(wi, bi)])
    return out


@pytest.mark.parametrize("how", ["per-network-torch", "python-floats"])
def test_naive(benchmark, how):
    benchmark.group = "inactivity on a box"
    w, b = layers()
    w, b = w[:NAIVE], b[:NAIVE]
    fn = naive_torch if how == "per-network-torch" else naive_python
    out = {}
    seconds = support.measure(benchmark, lambda: out.setdefault("r", fn(w, b)), rounds=2)
    support.record_figure(benchmark, f"inactivity, naive ({how}): networks/s", NAIVE / seconds, "{:.3g}")
    for chunk in (None, CHUNK):
        support.record_ratio(benchmark, ("inactivity", chunk),
                                 f"inactivity {NETWORKS} layers, {'one call' if chunk is None else 'chunked'} vs {how}",
                                 "network", seconds / NAIVE, None,
                                 notes=([f"naive timed on {NAIVE} networks and scaled linearly"]
                                        if NAIVE < NETWORKS else []))
    if "inactive" in RESULT:
        expected = RESULT["inactive"][:NAIVE]
        got = torch.stack(out["r"]) if how == "per-network-torch" else torch.tensor(out["r"])
        # same formula, same summation order (0 + t_1 + t_2 is exact in its first addition): equal
        assert torch.equal(got, expected), f"{int((got != expected).sum())} neurons differ"
