"""The plugin's start-up cost in a run that does not use kinkcheck ([#10]: a guest in every pytest
run of the environment): an unrelated project with one Hypothesis test, run with the plugin loaded
(the installed entry point) and with ``-p no:kinkcheck``, interleaved, in one session.
Target: at most 0.2 s more per run; the ratio (with / without) is stated too."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks import support

UNRELATED = '''
from hypothesis import given, strategies as st

@given(st.integers())
def test_unrelated(x):
    assert isinstance(x, int)
'''
TARGET_EXTRA_S = 0.2


def _wall(cwd, *extra) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KINKCHECK_", "PYTEST_"))}
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_unrelated.py", *extra],
                       cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert r.returncode == 0, r.stdout + r.stderr
    return elapsed


def test_plugin_start_up_in_an_unrelated_run(benchmark, tmp_path):
    (tmp_path / "test_unrelated.py").write_text(UNRELATED)
    rounds = support.scaled(7, minimum=2)
    with_plugin, without = [], []

    def both():
        with_plugin.append(_wall(tmp_path))
        without.append(_wall(tmp_path, "-p", "no:kinkcheck"))

    benchmark.pedantic(both, rounds=rounds, iterations=1, warmup_rounds=1)
    w, wo = sorted(with_plugin)[len(with_plugin) // 2], sorted(without)[len(without) // 2]
    support.record_figure(benchmark, "plugin start-up: median run with / without (s)", f"{w:.3f} / {wo:.3f}",
                          fmt="{}")
    support.record_figure(benchmark, "plugin start-up: ratio with/without", w / wo, fmt="{:.3f}x")
    support.record_figure(benchmark, "plugin start-up: extra seconds (target <= 0.2)", w - wo, fmt="{:+.3f}")
    if support.ASSERT_TARGETS and support.FULL:
        assert w - wo <= TARGET_EXTRA_S, f"the plugin adds {w - wo:.3f} s > {TARGET_EXTRA_S} s to an unrelated run"
