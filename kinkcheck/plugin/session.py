"""The state of a run that uses kinkcheck, built lazily: placement, subjects, activation,
expectations, the records of the conformance table.

Nothing here is built (and torch is not imported) until a kinkcheck theorem is collected or a
kinkcheck option is given: a run that never touches kinkcheck pays nothing for the plugin.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import pytest

from kinkcheck.plugin import expectations as expect
from kinkcheck.plugin import options

STATE = pytest.StashKey["RunState"]()


@functools.lru_cache(maxsize=1)
def theorems_dir() -> Path | None:
    spec = find_spec("kinkcheck.theorems")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def is_theorem_path(path) -> bool:
    root = theorems_dir()
    if root is None:
        return False
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        return False
    return True


def run_targets_theorems(config) -> bool:
    """Whether the command line points at kinkcheck's theorems (used before collection)."""
    root = theorems_dir()
    if root is None:
        return False
    for arg in config.args:
        target = str(arg).split("::")[0]
        if config.getoption("pyargs", False) and target.startswith("kinkcheck.theorems"):
            return True
        path = Path(config.invocation_params.dir, target).resolve()
        if path == root or root in path.parents or path in root.parents:
            return True
    return False


@dataclass
class RunState:
    placement: object
    optimizers: list
    activation: object
    user_subjects: bool
    gate: bool
    expectations: dict
    builtin_expectations: dict = field(default_factory=dict)  # torch's own known deviations: not run
    records: list = field(default_factory=list)
    matched: set = field(default_factory=set)
    not_run: set = field(default_factory=set)  # theorems whose suite-level tests a gate deselected


def _worker_threads(config) -> int | None:
    """Intra-op threads per pytest-xdist worker so that workers x threads <= cores."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None
    workers = int(workerinput.get("workercount", 1))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def build(config) -> RunState:
    """Parse the subjects and placement (imports torch); a bad spec is a pytest.UsageError."""
    if STATE in config.stash:
        return config.stash[STATE]
    from kinkcheck.harness.core.device import placement as make_placement
    from kinkcheck.harness.subjects.specs import (SpecError, builtin_subjects, parse_activation_spec,
                                                  parse_optimizer_specs)

    threads = _worker_threads(config)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    try:
        where = make_placement(config.getoption("--device"), config.getoption("--dtype"))
        specs = options.optimizer_specs(config)
        optimizers = parse_optimizer_specs(specs) if specs else builtin_subjects(where.device, where.dtype)
        activation = parse_activation_spec(options.activation_spec(config))
        dtype_name = str(where.dtype).removeprefix("torch.")
        expectations = expect.read(config.getoption("--xfails-file"), dtype=dtype_name)
        builtin_expectations = {} if specs else expect.read(str(expect.BUILTIN), dtype=dtype_name)
    except (SpecError, expect.ExpectationsError, ValueError) as exc:
        raise pytest.UsageError(f"kinkcheck: {exc}") from None
    state = RunState(where, optimizers, activation, bool(specs), options.is_gate(config), expectations,
                     builtin_expectations=builtin_expectations)
    config.stash[STATE] = state
    return state


def get(config) -> RunState | None:
    return config.stash.get(STATE, None)
