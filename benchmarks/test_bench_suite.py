"""The whole theorem suite as a user runs it (issue #13 items 1 and 3), in reference units.

Two subprocess runs, each timed by wall clock:
- quickstart: README command 1, ``pytest theorems/ -n auto`` (dev profile);
- gate: ``pytest theorems/ --kinkcheck-optimizer adam=torch.optim:Adam --hypothesis-profile kinkcheck-ci -n 2``.

Absolute seconds depend on the machine and its load, so each is divided by a *reference workload*
timed in this same process just before and just after (the faster of the two): a fixed float64
matmul chain (torch, one thread) plus a fixed pure-Python integer loop, the two kinds of work the
suite does. The ratio "suite seconds / reference seconds" moves when the suite's cost moves, on any
machine; the per-theorem seconds come from the run's JSON report (``--kinkcheck-report-json``).

Targets (issue #13): quickstart <= 60 s and gate <= 20 s on an unloaded 2-core machine, stated in
reference units with ``REFERENCE_S_AT_TARGET``, the reference workload's time on the machine of
the statement (measured there, see README.md). Printed; asserted only with KINKCHECK_BENCH_ASSERT=1.
In smoke mode (KINKCHECK_BENCH_SCALE < 1) the suite is not run (``tests/test_benchmarks_smoke.py`` must
stay a few seconds): the reference workload runs, and the JSON summary is read from a stub report.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks import support

ROOT = Path(__file__).resolve().parents[1]
# The reference workload's seconds on the unloaded 2-core machine the targets are stated for. A stand-in:
# measured 0.58-0.66 s on the shared 2-core machine at load average 6.3 (README.md); re-measure unloaded.
REFERENCE_S_AT_TARGET = 0.50
RUNS = {
    "quickstart": (["theorems/", "-n", "auto"], 60.0),
    "gate adam": (["theorems/", "--kinkcheck-optimizer", "adam=torch.optim:Adam",
                   "--hypothesis-profile", "kinkcheck-ci", "-n", "2"], 20.0),
}


def reference_workload() -> float:
    """Seconds for a fixed mixed workload: 40 float64 256x256 matmuls (one thread) and 10^6 Python
    integer operations. Deterministic work; only the machine's speed and load change its time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.linspace(-1, 1, 256 * 256, dtype=torch.float64).reshape(256, 256) / 256
        start = time.perf_counter()
        x = a
        for _ in range(40):
            x = torch.tanh(x @ a + a)
        total = 0
        for i in range(1_000_000):
            total = (total + i * i) % 1_000_003
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    assert total >= 0 and bool(torch.isfinite(x).all())
    return elapsed


def _run_suite(args, report: Path) -> tuple[float, subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KINKCHECK_", "PYTEST_"))}
    env.pop("OMP_NUM_THREADS", None)  # the plugin sets threads per xdist worker (issue #13 item 0)
    cmd = [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider", f"--kinkcheck-report-json={report}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def _slowest_theorems(report: Path, n: int = 5) -> str:
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return "no JSON report"
    per: dict[str, float] = {}
    for t in data.get("tests", []):
        key = t.get("theorem") or t.get("theorem_id") or "?"
        per[key] = per.get(key, 0.0) + float(t.get("seconds") or 0.0)
    top = sorted(per.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} {v:.1f} s" for k, v in top) if top else "no per-test seconds"


@pytest.mark.parametrize("name", list(RUNS))
def test_whole_suite_in_reference_units(benchmark, name, tmp_path):
    benchmark.group = "whole suite"
    args, target_s = RUNS[name]
    report = tmp_path / "report.json"
    out = {}
    if not support.FULL:
        report.write_text(json.dumps({"tests": [{"theorem": "T0", "seconds": 0.5}]}))
        ref = reference_workload()
        assert _slowest_theorems(report) == "T0 0.5 s"
        support.record_figure(benchmark, f"suite {name}: reference workload (s), smoke mode: suite not run", ref,
                              "{:.3f}")
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
        return

    def run():
        ref_before = reference_workload()
        out["wall"], out["proc"] = _run_suite(args, report)
        out["ref"] = min(ref_before, reference_workload())

    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    proc = out["proc"]
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: a subject failed a theorem
    wall, ref = out["wall"], out["ref"]
    units = wall / ref
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    benchmark.extra_info.update({"wall_s": wall, "reference_s": ref, "ratio": units, "target_s": target_s,
                                 "target_ratio": target_s / REFERENCE_S_AT_TARGET, "load": load,
                                 "returncode": proc.returncode})
    support.record_figure(benchmark, f"suite {name}: wall s / reference s (target <= "
                          f"{target_s / REFERENCE_S_AT_TARGET:.0f})", units, "{:.1f}")
    support.record_figure(benchmark, f"suite {name}: wall, reference (s), load average",
                          f"{wall:.1f} s, {ref:.3f} s, load {load}", fmt="{}")
    if support.FULL:
        support.record_figure(benchmark, f"suite {name}: slowest theorems", _slowest_theorems(report), fmt="{}")
        if support.ASSERT_TARGETS:
            assert units <= target_s / REFERENCE_S_AT_TARGET, (
                f"{name}: {wall:.1f} s = {units:.1f} reference units > {target_s / REFERENCE_S_AT_TARGET:.0f} "
                f"({target_s} s at reference {REFERENCE_S_AT_TARGET} s)")
