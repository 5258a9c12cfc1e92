"""``run_objective`` (T10-T14's driver: one subject on an explicit objective, every iterate recorded)
against the per-step loop it replaced (issue #13 item 1): autograd backward, ``optimizer.zero_grad()``,
``float(loss)`` and a fused finiteness check (one host sync) at every step.

Two checks and one ratio:
- bit for bit: on lam*||b||_1 (``lasso(lam)``, which carries its gradient ``lam * sign(b)``) every
  builtin subject, in float64, float32, float16 and bfloat16, for lam in {0.3, 1, 2^-5}, ends with
  the same iterates and the same losses (or raises the same error) under both drivers (smoke mode:
  float64, one implementation per family, lam = 0.3);
- a subject that goes non-finite is reported at the same first step with the same message;
- the time per step of both, on RMSProp (eps = 0) on the toy LASSO for ``STEPS`` steps (T12's
  phase-transition test runs 500-2000 such steps per example).
"""
from __future__ import annotations

import pytest
import torch

from benchmarks import support
from kinkcheck.harness.core.outcomes import NonFiniteError
from kinkcheck.harness.core.records import theorem_id
from kinkcheck.harness.core.training import guarded_step
from kinkcheck.harness.experiments.nonsmooth_runs import lasso, run_objective
from kinkcheck.harness.subjects.specs import OptimizerSubject, SubjectError, builtin_subjects, check_finite

STEPS = support.scaled(2000, minimum=20)
TARGET = 2.0  # old / new seconds per step
RMSPROP_HP = dict(lr=2.0 ** -5, alpha=0.9, eps=0.0, momentum=0.0, centered=False, weight_decay=0.0)
BETA0 = [0.3, -0.7, 0.11, 0.9, -2.0 ** -6, 0.0]


def per_step_loop(subject, beta0, objective, hp, steps):
    """The driver before issue #13 (one host sync per step; autograd for every objective)."""
    p = beta0.detach().clone().requires_grad_(True)
    optimizer = subject.build([p], **hp)
    iterates = torch.empty((steps + 1,) + tuple(p.shape), dtype=p.dtype, device=p.device)
    iterates[0] = p.detach()
    losses = []
    for k in range(1, steps + 1):
        optimizer.zero_grad()
        value = objective(p)
        value.backward()
        losses.append(float(value.detach()))
        guarded_step(optimizer, subject, None, k)
        check_finite(subject, [p], f"after step {k} in {theorem_id()}")
        iterates[k] = p.detach()
    return iterates, losses


def _outcome(fn):
    try:
        return fn()
    except Exception as exc:  # the same error (type and text) is the same outcome
        return (type(exc).__name__, str(exc))


def _lasso_by_autograd(lam):
    return lambda p: lam * p.abs().sum()


DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16] if support.FULL else [torch.float64]
LAMS = (0.3, 1.0, 2.0 ** -5) if support.FULL else (0.3,)


def test_bit_for_bit_against_the_per_step_loop(benchmark):
    benchmark.group = "run_objective"
    steps = support.scaled(60, minimum=5)
    compared = {"same iterates": 0, "same error": 0}

    def check():
        for dtype in DTYPES:
            subjects = builtin_subjects(torch.device("cpu"), dtype)
            if not support.FULL:  # smoke mode: one implementation per family
                subjects = list({s.family: s for s in subjects}.values())
            for subject in subjects:
                for lam in LAMS:
                    b0 = torch.tensor(BETA0, dtype=dtype)
                    new = _outcome(lambda: run_objective(subject, b0, lasso(lam), {"lr": 0.01}, steps))
                    old = _outcome(lambda: per_step_loop(subject, b0, _lasso_by_autograd(lam), {"lr": 0.01}, steps))
                    if isinstance(old, tuple) and isinstance(old[0], str):
                        assert new == old, f"{subject.label} {dtype} lam={lam}: {new!r} != {old!r}"
                        compared["same error"] += 1
                        continue
                    assert not isinstance(new, tuple), f"{subject.label} {dtype}: new driver raised {new}"
                    assert torch.equal(new.iterates, old[0]) and new.losses == old[1], (
                        f"{subject.label} {dtype} lam={lam}: run_objective differs from the per-step loop")
                    compared["same iterates"] += 1

    support.measure(benchmark, check, rounds=1)
    assert compared["same iterates"] > 0
    support.record_figure(benchmark, "run_objective vs per-step loop: (subject, dtype, lam) runs bit for bit",
                          f"{compared['same iterates']} same iterates and losses, {compared['same error']} same error",
                          fmt="{}")


class _GoesNonFinite(torch.optim.SGD):
    """Plain SGD that writes inf into coordinate 1 at step 3 and raises at step 5."""

    def step(self, closure=None):
        self.k = getattr(self, "k", 0) + 1
        out = super().step(closure)
        if self.k == 3:
            with torch.no_grad():
                self.param_groups[0]["params"][0][1] = float("inf")
        if self.k == 5:
            raise RuntimeError("step on a non-finite parameter")
        return out


@pytest.mark.parametrize("steps", [4, 10])
def test_first_non_finite_step_is_reported(steps):
    subject = OptimizerSubject("sgd", "broken", "benchmarks:_GoesNonFinite", _GoesNonFinite, True)
    b0 = torch.tensor(BETA0, dtype=torch.float64)
    new = _outcome(lambda: run_objective(subject, b0, lasso(1.0), {"lr": 0.01}, steps))
    old = _outcome(lambda: per_step_loop(subject, b0, _lasso_by_autograd(1.0), {"lr": 0.01}, steps))
    assert new == old and new[0] == NonFiniteError.__name__ and "after step 3" in new[1], (new, old)
    assert issubclass(NonFiniteError, SubjectError)  # a FAIL of the subject, as before


@pytest.mark.parametrize("driver", ["run_objective", "per-step loop"])
def test_time_per_step(benchmark, driver):
    benchmark.group = "run_objective"
    subject = next(s for s in builtin_subjects(torch.device("cpu"), torch.float64) if s.family == "rmsprop")
    b0 = torch.tensor(BETA0[:4], dtype=torch.float64)
    if driver == "run_objective":
        seconds = support.measure(benchmark, lambda: run_objective(subject, b0, lasso(1.0), RMSPROP_HP, STEPS),
                                  rounds=3)
        support.record_batched(("run_objective",), seconds / STEPS)
    else:
        seconds = support.measure(benchmark, lambda: per_step_loop(subject, b0, _lasso_by_autograd(1.0), RMSPROP_HP,
                                                                   STEPS), rounds=3)
        r = support.record_ratio(benchmark, ("run_objective",), f"run_objective, rmsprop on lasso, {STEPS} steps",
                                 "step", seconds / STEPS, TARGET,
                                 notes=["'naive' = the per-step driver before issue #13 (autograd, zero_grad, "
                                        "float(loss), finiteness check every step)"])
        support.check_target(r)
