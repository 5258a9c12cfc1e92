"""Monte-Carlo Adam chains for T9 ([NV] Thm 1.1; ``kinkcheck.harness.experiments.adam_chains.coupled_run``): T9's size,
2 x 3 splits x 2,048 chains (6,144 coupled pairs), 400 steps, Gaussian X, mini-batches of 2, in
float64: batched (all chains one (12288,) tensor) vs a per-pair Python loop (``coupled_run`` with
one chain pair and one split per call, the smallest unit of the coupling experiment), timed on a
subset of pairs and scaled linearly. Steppers: the reference recursion (``ReferenceAdam``) and an
``adam`` subject (torch.optim.Adam through ``SubjectAdam``).
"""
from __future__ import annotations

import pytest
import torch

from benchmarks import support
from kinkcheck.harness.experiments.adam_chains import ReferenceAdam, SubjectAdam, coupled_run
from kinkcheck.harness.core.device import seeded_generator
from kinkcheck.harness.subjects.specs import OptimizerSubject

CHAINS = support.scaled(2048)
STEPS = support.scaled(400, minimum=4)
SPLITS = [STEPS // 4, STEPS // 2, STEPS - 1]
PAIRS = len(SPLITS) * CHAINS  # the items: one coupled pair at one split step
NAIVE = min(PAIRS, support.scaled(30))
LAW, BATCH, LR = "gaussian", 2, 0.05
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
TARGET = 50  # naive/batched
ADAM = OptimizerSubject("adam", "adam", "torch.optim:Adam", torch.optim.Adam, True)
STEPPERS = {
    "reference": lambda th: ReferenceAdam(th, BETA1, BETA2, EPS),
    "subject": lambda th: SubjectAdam(ADAM, th, BETA1, BETA2, EPS, LR),
}


@pytest.mark.parametrize("stepper", STEPPERS)
def test_batched(benchmark, stepper):
    benchmark.group = f"adam chains {stepper}"
    out = {}

    def run():
        out["run"] = coupled_run(STEPPERS[stepper], LAW, BATCH, CHAINS, SPLITS, STEPS, lambda k: LR,
                                 seeded_generator(5, "cpu"), snapshot_steps=(STEPS,))

    seconds = support.measure(benchmark, run, rounds=3)
    support.record_batched(("chains", stepper), seconds / PAIRS)
    run_ = out["run"]
    assert run_.coupled_exactly and all(float(d.max()) > 0 for d in run_.differences.values())
    if stepper == "subject":
        chains = 2 * PAIRS
        state = chains * 4 * 8  # theta, grad, m, v (float64)
        samples = chains * BATCH * 8 * 2  # one step's mini-batches, drawn for both copies
        support.record_figure(benchmark, f"adam chains memory, {chains} chains (theta, grad, m, v)",
                              state / 2**20, "{:.2f} MiB")
        support.record_figure(benchmark, "adam chains memory, one step's samples", samples / 2**20, "{:.2f} MiB")
        support.record_figure(benchmark, "process max RSS after the chains", support.max_rss_mib(), "{:.0f} MiB")


@pytest.mark.parametrize("stepper", STEPPERS)
def test_naive(benchmark, stepper):
    benchmark.group = f"adam chains {stepper}"

    def run():
        for i in range(NAIVE):
            coupled_run(STEPPERS[stepper], LAW, BATCH, 1, [SPLITS[i % len(SPLITS)]], STEPS, lambda k: LR,
                        seeded_generator(100 + i, "cpu"))

    seconds = support.measure(benchmark, run, rounds=1)
    r = support.record_ratio(benchmark, ("chains", stepper),
                             f"adam chains ({stepper}): {PAIRS} pairs x {STEPS} steps, loop over pairs", "pair",
                             seconds / NAIVE, TARGET,
                             notes=[f"naive timed on {NAIVE} pairs and scaled linearly"] if NAIVE < PAIRS else [])
    support.check_target(r)
