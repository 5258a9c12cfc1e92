"""Shared machinery of the benchmarks: problem scale, timing, and the ratios measured in one run.

``KINKCHECK_BENCH_SCALE`` (default 1) multiplies every problem size (networks, steps, chains);
``KINKCHECK_BENCH_SCALE=0.01 pytest benchmarks/ --benchmark-disable`` is the smoke mode the
self-tests run. Ratios are only meaningful at scale 1. ``KINKCHECK_BENCH_ASSERT=1`` turns the
targets into assertions.

Every pair of benchmarks (batched vs naive) records its per-item time here; the naive one, which
runs second, computes the ratio *from the same run*, stores it in ``benchmark.extra_info`` (so it
lands in ``--benchmark-save`` JSON) and in ``RATIOS``, which ``benchmarks/conftest.py`` prints at
the end of the session.
"""
from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass, field

import torch

SCALE = float(os.environ.get("KINKCHECK_BENCH_SCALE", "1"))
FULL = SCALE >= 1


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, round(n * SCALE))


def max_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB): a high-water mark, not a delta."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def optimizer_state_tensors(optimizer):
    return [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]


def measure(benchmark, fn, *, rounds: int, setup=None) -> float:
    """Run ``fn`` under pytest-benchmark (``rounds`` rounds, ``setup`` untimed before each) and
    return the fastest round's wall time in seconds, measured by us too, so that the figure
    exists in ``--benchmark-disable`` mode (one round) as well."""
    times = []

    def target(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
        return out

    benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)
    return min(times)


@dataclass
class Ratio:
    what: str
    items: str  # what one "item" is (network, chain pair, tensor)
    batched_per_item: float  # seconds
    naive_per_item: float
    target: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.naive_per_item / self.batched_per_item

    @property
    def met(self) -> str:
        if self.target is None:
            return "-"
        if not FULL:
            return "n/a (smoke)"
        return "yes" if self.ratio >= self.target else "NO"


TIMES: dict[str, float] = {}  # key -> seconds per item, filled by the batched benchmarks
RATIOS: list[Ratio] = []
FIGURES: list[tuple[str, str]] = []  # (name, formatted value): throughputs, memory


def record_batched(key: str, seconds_per_item: float) -> None:
    TIMES[key] = seconds_per_item


def record_ratio(benchmark, key: str, what: str, items: str, naive_per_item: float,
                 target: float | None, notes=()) -> Ratio | None:
    """Ratio naive/batched from this run; None if the batched benchmark of ``key`` did not run
    (e.g. deselected with -k)."""
    if key not in TIMES:
        return None
    r = Ratio(what, items, TIMES[key], naive_per_item, target, list(notes))
    RATIOS.append(r)
    benchmark.extra_info.update({"ratio": r.ratio, "batched_s_per_item": r.batched_per_item,
                                 "naive_s_per_item": r.naive_per_item, "target": target,
                                 "scale": SCALE, "threads": torch.get_num_threads(), "notes": r.notes})
    return r


def record_figure(benchmark, name: str, value, fmt: str = "{:.4g}") -> None:
    benchmark.extra_info[name] = value
    FIGURES.append((name, fmt.format(value)))


ASSERT_TARGETS = os.environ.get("KINKCHECK_BENCH_ASSERT", "") not in ("", "0")


def check_target(r: Ratio | None) -> None:
    """Targets are printed (column "met"), and asserted only with ``KINKCHECK_BENCH_ASSERT=1`` at
    full scale: on a machine shared with other work a timing target is not a property of the code.
    In smoke mode sizes are too small for ratios to mean anything."""
    if r is not None and ASSERT_TARGETS and FULL and r.target is not None:
        assert r.ratio >= r.target, f"{r.what}: naive/batched = {r.ratio:.1f}x < target {r.target}x"
