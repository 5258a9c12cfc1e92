"""Measure T4's per-step low-precision bound (issue #20 item 3): the slack of torch's own paths (worst
deviation / bound over generated contract cases, per dtype and implementation) and the smallest per-step
relative error that fails (bisection over ``step_error`` of ``tests/broken/perstep.py``'s subjects).

    PYTHONPATH=. python scripts/perstep_slack.py [cases] [families]

Cases are drawn as T4's low-precision test draws them (``contract_cases``, the same step count), derandomized,
so the output is reproducible. Prints two tables."""
from __future__ import annotations

import sys

import torch
from hypothesis import HealthCheck, given, settings

from kinkcheck.harness.core.outcomes import NotSupported
from kinkcheck.harness.oracles.contract_runs import informative_steps, run_contract
from kinkcheck.harness.subjects.specs import builtin_subjects, parse_optimizer_spec
from kinkcheck.strategies.gradients import contract_cases

DTYPES = (torch.float16, torch.bfloat16, torch.float32)
MAX_STEPS = 20


def worst_ratio(subject, dtype, cases: int) -> float:
    """max over ``cases`` drawn contract cases of (max deviation / per-step bound)."""
    out = [0.0]
    steps = max(3, min(MAX_STEPS, informative_steps(dtype, per_step=True)))
    skip = frozenset(a for a, _ in subject.skip_axes)

    @settings(max_examples=cases, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=contract_cases(subject.family, torch.device("cpu"), dtype=dtype, max_steps=steps, skip_axes=skip,
                               max_groups=2))
    def draw(case):
        try:
            result = run_contract(subject, case)
        except NotSupported:
            return
        except Exception as exc:  # noqa: BLE001 -- a raising subject is infinitely far off
            out.append(float("inf") if "raised" in str(exc) or "non-finite" in str(exc) else 0.0)
            return
        out.append(result.max_deviation / result.bound)

    draw()
    return max(out)


def main(argv):
    cases = int(argv[1]) if len(argv) > 1 else 10
    families = argv[2].split(",") if len(argv) > 2 else ["momentum", "rmsprop", "adagrad", "adam"]
    print(f"slack: worst deviation / per-step bound, torch 2.13 CPU, {cases} cases per cell")
    print("subject".ljust(22) + "".join(str(d).removeprefix("torch.").rjust(10) for d in DTYPES))
    for subject in builtin_subjects(torch.device("cpu"), torch.float64):
        if subject.family not in families:
            continue
        print(subject.label.ljust(22) + "".join(f"{worst_ratio(subject, d, cases):10.3g}" for d in DTYPES),
              flush=True)
    print("\nsmallest per-step relative error that fails (bisection, 5 halvings in [0, 0.4])")
    print("subject".ljust(22) + "".join(str(d).removeprefix("torch.").rjust(10) for d in DTYPES))
    scaled = {"momentum": "ScaledStepSGD", "rmsprop": "ScaledStepRMSprop", "adagrad": "ScaledStepAdagrad",
              "adam": "ScaledStepAdam"}
    for family in families:
        row = []
        for dtype in DTYPES:
            lo, hi = 0.0, 0.4
            if dtype == torch.float32:
                lo, hi = 0.0, 1e-4
            for _ in range(5):
                mid = (lo + hi) / 2
                subject = parse_optimizer_spec(f"{family}=tests.broken.perstep:{scaled[family]}?step_error={mid}")
                if worst_ratio(subject, dtype, cases) > 1:
                    hi = mid
                else:
                    lo = mid
            row.append(f"{hi:10.3g}")
        print(family.ljust(22) + "".join(row), flush=True)


if __name__ == "__main__":
    main(sys.argv)
