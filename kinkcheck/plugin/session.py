"""The state of a run that uses kinkcheck, built lazily: placement, subjects, activation,
expectations, the records of the conformance table.

Nothing here is built (and torch is not imported) until a kinkcheck theorem is collected or a
kinkcheck option is given: a run that never touches kinkcheck pays nothing for the plugin.
"""
from __future__ import annotations

import functools
import os
import re
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
    not_run_activation: set = field(default_factory=set)  # theorems whose default-activation tests it deselected
    user_activation: bool = False  # the activation under test was given (option, variable or ini)


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
        where = make_placement(options.value(config, "device"), options.value(config, "dtype"))
        specs = options.value(config, "optimizers")
        optimizers = parse_optimizer_specs(specs) if specs else builtin_subjects(where.device, where.dtype)
        activation = parse_activation_spec(options.value(config, "activation"))
        dtype_name = str(where.dtype).removeprefix("torch.")
        expectations = expect.read(options.value(config, "xfails_file"), dtype=dtype_name)
        builtin_expectations = {} if specs else expect.read(str(expect.BUILTIN), dtype=dtype_name)
    except (SpecError, expect.ExpectationsError, ValueError) as exc:
        raise pytest.UsageError(usage_message(config, str(exc))) from None
    state = RunState(where, optimizers, activation, bool(specs), options.is_gate(config), expectations,
                     builtin_expectations=builtin_expectations,
                     user_activation=bool(options.value(config, "activation")))
    config.stash[STATE] = state
    return state


def usage_message(config, message: str) -> str:
    """A parse error of the harness, worded with the setting the value came from (the harness says
    ``--optimizer``; the spec may have come from KINKCHECK_OPTIMIZERS or the ini file), plus a hint when
    a module of the run's own directory cannot be imported."""
    for name, word in (("optimizers", "--optimizer"), ("activation", "--activation"),
                       ("xfails_file", "--xfails-file")):
        where = options.source(config, name)
        if where and (message.startswith(word) or f"{word} given twice" in message):
            message = message.replace(word, where, 1)
    text = f"kinkcheck: {message}"
    missing = re.search(r"No module named '([\w.]+)'", message)
    if missing:
        text += "\n" + import_hint(config, missing.group(1))
    return text


def import_hint(config, module: str) -> str:
    """How to make ``module`` importable: the usual cause is a module in the current directory, which
    ``pytest`` (unlike ``python -m pytest``) does not put on sys.path."""
    top = module.split(".")[0]
    here = Path(config.invocation_params.dir)
    local = [p for p in (here / f"{top}.py", here / top) if p.exists()]
    where = f"{local[0]} exists, but the" if local else "the"
    return (f"hint: {where} module {top!r} is not on sys.path: pytest does not add the current directory. "
            f"Run `python -m pytest ...` from the directory holding it, or set PYTHONPATH=. (or the directory "
            f"holding it), or add `pythonpath = .` to the [pytest] ini section; a package: `pip install -e .`")


def get(config) -> RunState | None:
    return config.stash.get(STATE, None)
