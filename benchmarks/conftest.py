"""Prints the naive/batched ratios measured in this run (benchmarks/support.py) after the
pytest-benchmark tables."""
from __future__ import annotations

import os

import torch

from benchmarks import support


def pytest_report_header(config):
    return (f"kinkcheck benchmarks: KINKCHECK_BENCH_SCALE={support.SCALE:g}, torch threads "
            f"{torch.get_num_threads()}, cpus {os.cpu_count()}, load average "
            f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not support.RATIOS and not support.FIGURES:
        return
    tr = terminalreporter
    tr.section("kinkcheck benchmarks: ratios measured in this run")
    tr.write_line(f"scale {support.SCALE:g}, torch threads {torch.get_num_threads()}, load average "
                  f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
                  + ("" if support.FULL else "  (smoke mode: sizes too small for the ratios to mean anything)"))
    rows = [("benchmark", "batched s/item", "naive s/item", "naive/batched", "target", "met")]
    for r in support.RATIOS:
        rows.append((r.what, f"{r.batched_per_item:.3g}", f"{r.naive_per_item:.3g}", f"{r.ratio:.1f}x",
                     "-" if r.target is None else f">= {r.target:g}x", r.met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        tr.write_line("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if k == 0:
            tr.write_line("  ".join("-" * w for w in widths))
    notes = [f"- {r.what}: {n}" for r in support.RATIOS for n in r.notes]
    for line in notes:
        tr.write_line(line)
    for name, value in support.FIGURES:
        tr.write_line(f"{name}: {value}")
