"""The benchmarks stay runnable: ``pytest benchmarks/ --benchmark-disable`` at a tiny scale (smoke
mode, each benchmark body runs once on ~1% of its size) exits 0 and prints the ratio table."""
from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_in_smoke_mode(pytester, monkeypatch):
    monkeypatch.setenv("KINKCHECK_BENCH_SCALE", "0.01")
    monkeypatch.delenv("KINKCHECK_BENCH_ASSERT", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    result = pytester.runpytest_subprocess(str(ROOT / "benchmarks"), "--benchmark-disable", "-q",
                                           "-p", "no:cacheprovider", "-p", "no:xdist", f"--rootdir={ROOT}")
    elapsed = time.perf_counter() - start
    assert result.ret == 0, "\n".join(result.outlines[-40:] + result.errlines[-20:])
    text = "\n".join(result.outlines)
    assert "ratios measured in this run" in text and "smoke mode" in text
    for what in ("training sgd", "inactivity", "injection adam", "adam chains (reference)"):
        assert what in text, f"no ratio row for {what!r}"
    assert elapsed < 120, (f"smoke mode took {elapsed:.1f} s (a hang guard: ~5 s unloaded, 20 s budget; "
                           "CI shares 2 cores)")
