"""The kinkcheck pytest plugin: options, subjects, expectations, the conformance report.

Registered through the ``pytest11`` entry point (so ``pytest --pyargs theorems`` works from any
directory once installed) and by the checkout's root ``conftest.py``.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings

from harness import report as kreport
from harness.device import placement as make_placement
from harness.subjects import (OptimizerSubject, SpecError, builtin_subjects, parse_activation_spec,
                              parse_optimizer_specs, valid_families)

# ----------------------------------------------------------------------------- Hypothesis
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=20, **_COMMON)
settings.register_profile("ci", max_examples=20, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("thorough", max_examples=200, **_COMMON)
settings.register_profile("debug", parent=settings.get_profile("dev"), verbosity=Verbosity.verbose)
# the project's own mutation self-tests only need *a* failure, not a minimal one: no shrinking
settings.register_profile("selftest", parent=settings.get_profile("ci"), max_examples=10,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("dev")  # Hypothesis's own --hypothesis-profile, applied later, wins

_STATE = pytest.StashKey[dict]()


# ----------------------------------------------------------------------------- options
def pytest_addoption(parser):
    group = parser.getgroup("kinkcheck", "kinkcheck: the implementations under test")
    group.addoption("--optimizer", action="append", default=[], metavar="FAMILY=module:attr",
                    help="optimizer under test (repeatable); replaces the built-in torch.optim set. "
                         f"Families: {valid_families()}. Env: KINKCHECK_OPTIMIZERS (comma-separated)")
    group.addoption("--activation", default=None, metavar="module:attr",
                    help="activation used wherever the theorems say ReLU (default torch:relu). "
                         "Env: KINKCHECK_ACTIVATION")
    group.addoption("--xfails-file", default=None, metavar="PATH",
                    help="known deviations, one 'THEOREM::SUBJECT  # reason' per line")
    group.addoption("--device", default=None, help="cpu (default) or cuda")
    group.addoption("--dtype", default=None, help="default floating dtype (default float64)")
    group.addoption("--report-json", default=None, metavar="PATH", help="write the conformance report as JSON")
    group.addoption("--report-md", default=None, metavar="PATH", help="write the conformance table as Markdown")


def _usage_error(message: str):
    return pytest.UsageError(f"kinkcheck: {message}")


def pytest_configure(config):
    config.addinivalue_line("markers", "theorem(id, families=None): the THEOREMS.md result a test checks")
    config.addinivalue_line("markers", "thirdparty: runs the gate against optimizer packages from PyPI")
    try:
        where = make_placement(config.getoption("--device"), config.getoption("--dtype"))
        specs = config.getoption("--optimizer") or [os.environ.get("KINKCHECK_OPTIMIZERS", "")]
        specs = [s for s in specs if s.strip()]
        optimizers = parse_optimizer_specs(specs) if specs else builtin_subjects(where.device, where.dtype)
        activation = parse_activation_spec(config.getoption("--activation")
                                           or os.environ.get("KINKCHECK_ACTIVATION"))
        expectations = _read_expectations(config.getoption("--xfails-file"))
    except (SpecError, ValueError) as exc:
        raise _usage_error(str(exc)) from None
    config.stash[_STATE] = {
        "placement": where, "optimizers": optimizers, "activation": activation,
        "user_subjects": bool(specs), "expectations": expectations, "records": [],
        "matched": set(),
    }
    config.pluginmanager.register(_Collector(config.stash[_STATE]["records"]), "kinkcheck-collector")


def _read_expectations(path: str | None) -> dict[tuple[str, str], str]:
    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"--xfails-file {path}: no such file")
    out = {}
    for n, raw in enumerate(file.read_text().splitlines(), 1):
        line, _, reason = raw.partition("#")
        line = line.strip()
        if not line:
            continue
        theorem, sep, subject = line.partition("::")
        if not sep or not theorem.strip() or not subject.strip():
            raise SpecError(f"--xfails-file {path}:{n}: expected 'THEOREM::SUBJECT  # reason', got {raw!r}")
        out[(theorem.strip(), subject.strip())] = reason.strip() or "listed as a known deviation"
    return out


# ----------------------------------------------------------------------------- subjects
def _state(config) -> dict:
    return config.stash[_STATE]


def _theorem_marker(node):
    return node.get_closest_marker("theorem")


def pytest_generate_tests(metafunc):
    if "optimizer_subject" not in metafunc.fixturenames:
        return
    marker = _theorem_marker(metafunc.definition)
    families = marker.kwargs.get("families") if marker else None
    subjects = [s for s in _state(metafunc.config)["optimizers"]
                if families is None or s.family in families]
    metafunc.parametrize("optimizer_subject", subjects, ids=[s.label for s in subjects])


@pytest.fixture(scope="session")
def placement(request):
    """Device and default dtype of the run (``--device``, ``--dtype``)."""
    return _state(request.config)["placement"]


@pytest.fixture(scope="session")
def activation(request):
    """The activation under test (``--activation``), as a harness Activation."""
    return _state(request.config)["activation"]


# ----------------------------------------------------------------------------- expectations
def _subject_of(item) -> str | None:
    """The table row of a test: its optimizer subject, the activation, or the suite; None for a
    test whose theorem applies to no subject of this run (it is deselected)."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "optimizer_subject" in callspec.params:
        subject = callspec.params["optimizer_subject"]
        return subject.label if isinstance(subject, OptimizerSubject) else None
    if "activation" in getattr(item, "fixturenames", ()):
        return f"activation {_state(item.config)['activation'].name}"
    return kreport.SUITE_ROW


def pytest_collection_modifyitems(session, config, items):
    expectations = _state(config)["expectations"]
    not_applicable = [i for i in items if _theorem_marker(i) is not None and _subject_of(i) is None]
    if not_applicable:  # no subject of a family the theorem covers: n/a in the table
        config.hook.pytest_deselected(items=not_applicable)
        items[:] = [i for i in items if i not in not_applicable]
    for item in items:
        marker = _theorem_marker(item)
        if marker is None:
            continue
        key = (marker.args[0], _subject_of(item))
        for pattern in (key, (key[0], "*")):
            if pattern in expectations:
                _state(config)["matched"].add(pattern)
                item.add_marker(pytest.mark.xfail(reason=f"expected deviation: {expectations[pattern]}",
                                                  strict=False))


# ----------------------------------------------------------------------------- per test
_RECORD = pytest.StashKey[object]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = _theorem_marker(item)
    if marker is None:
        yield
        return
    record = kreport.TestRecord(item.nodeid, marker.args[0], _subject_of(item))
    item.stash[_RECORD] = record
    token = kreport.begin(record)
    inner_holder = getattr(getattr(item.obj, "hypothesis", None), "inner_test", None)
    if inner_holder is not None:
        original = item.obj.hypothesis.inner_test

        @functools.wraps(original)
        def counted(*args, **kwargs):
            kreport.count_case()
            return original(*args, **kwargs)

        item.obj.hypothesis.inner_test = counted
    else:
        record.cases = 1
    try:
        yield
    finally:
        if inner_holder is not None:
            item.obj.hypothesis.inner_test = original
        kreport.end(token)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    marker = _theorem_marker(item)
    if marker is None:
        return
    if call.when == "call" or (call.when == "setup" and rep.outcome != "passed"):
        record = item.stash.get(_RECORD, None) or kreport.TestRecord(
            item.nodeid, marker.args[0], _subject_of(item))
        if hasattr(rep, "wasxfail"):
            record.outcome = "xpass" if rep.passed else "xfail"
        elif rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            record.reason = reason.removeprefix("Skipped: ")
            record.outcome = "out-of-scope" if "out of scope" in reason else "skipped"
        else:
            record.outcome = rep.outcome
        rep.user_properties.append((kreport.USER_PROPERTY, vars(record)))


class _Collector:
    """Gathers the records of every test report this process sees (the controller's under xdist)."""

    def __init__(self, records: list):
        self.records = records

    def pytest_runtest_logreport(self, report):
        for name, value in getattr(report, "user_properties", ()):
            if name == kreport.USER_PROPERTY:
                self.records.append(kreport.TestRecord(**value))


# ----------------------------------------------------------------------------- summary
def _header(config) -> str:
    st = _state(config)
    where = st["placement"]
    env = kreport.environment()
    profile = settings._current_profile
    return (f"kinkcheck {env['kinkcheck']} conformance — torch {env['torch']}, python {env['python']}, "
            f"device {where.device}, dtype {str(where.dtype).removeprefix('torch.')}, "
            f"activation {st['activation'].name}, hypothesis profile {profile}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput") or _STATE not in config.stash:
        return
    st = _state(config)
    records = st["records"]
    if not records and not st["expectations"]:
        return
    tr = terminalreporter
    tr.section("kinkcheck conformance")
    tr.write_line(kreport.terminal_table(records, _header(config)))
    stale = [f"{t}::{s}" for (t, s) in st["expectations"] if (t, s) not in st["matched"]]
    fixed = sorted({f"{r.theorem}::{r.subject}" for r in records if r.outcome == "xpass"})
    if stale:
        tr.write_line("expectations file lists deviations that match no test: " + ", ".join(stale), yellow=True)
    if fixed:
        tr.write_line("expected deviations that no longer happen (remove them from the file): "
                      + ", ".join(fixed), yellow=True)
    meta = {"exitstatus": int(exitstatus), "header": _header(config),
            "hypothesis_profile": settings._current_profile,
            "hypothesis_seed": config.getoption("hypothesis_seed", None),
            "subjects": [s.label for s in st["optimizers"]], "activation": st["activation"].name}
    if config.getoption("--report-json"):
        Path(config.getoption("--report-json")).write_text(kreport.json_report(records, meta))
    if config.getoption("--report-md"):
        Path(config.getoption("--report-md")).write_text(kreport.markdown_table(records, _header(config)))

