"""The conformance report: per-theorem outcomes aggregated into cells, terminal table, JSON, Markdown.

Records travel from pytest-xdist workers to the controller in ``report.user_properties``, so the
table is one table under ``-n auto`` too.

Each cell carries the precision class of its tests (issue #15), read from the theorem catalogue: the
class of the catalogue part whose tests include the test ("exact" in any dtype, up to "rounding",
"real": an exact-arithmetic claim whose low-precision behaviour is measured, outcome "measured").
When the run's dtype is not float64 the table shows it as a short tag, "pass 20 [exact]".
"""
from __future__ import annotations

import json
import platform
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from kinkcheck.harness.core.records import SUITE_ROW, USER_PROPERTY, TestRecord  # noqa: F401

# --------------------------------------------------------------------------- aggregation

_PRIORITY = ["error", "failed", "xpass", "xfail", "measured", "passed", "out-of-scope", "not-supported",
             "skipped"]
_SYMBOL = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "xfail": "xfail", "xpass": "XPASS",
           "measured": "measured", "out-of-scope": "out-of-scope", "not-supported": "n/s", "skipped": "skip"}


@dataclass
class Cell:
    outcome: str
    tests: int
    cases: int
    out_of_scope: int = 0  # tests of the cell that reported "out of scope"
    precision: str = ""  # the catalogue's class(es) of its tests, short tags joined by "/" ("exact/real")
    measured: int = 0  # tests of the cell that measured an exact-arithmetic claim's low-precision effect


# --------------------------------------------------------------------------- precision classes
def _precision_tags() -> dict[str, str]:
    from kinkcheck import catalog

    return {catalog.EXACT: "exact", catalog.ROUNDING: "rounding", catalog.REAL: "real"}


def _test_key(nodeid: str) -> tuple[str, str]:
    """(module stem, function) of a node id, whatever the path prefix (checkout, --pyargs, site-packages)."""
    path, _, rest = nodeid.partition("::")
    stem = path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
    return stem, rest.split("[", 1)[0].split("::")[-1]


def _precision_index() -> dict[tuple[str, str, str], str]:
    """(theorem, module stem, function) -> the class of the catalogue entry (or part) listing that test."""
    from kinkcheck import catalog

    index = {}
    for entry in catalog.entries():
        if entry.precision_ is None:
            continue
        for test in entry.tests:
            index.setdefault((entry.base,) + _test_key(test), entry.precision_)
    return index


def precision_of(record: TestRecord, index: dict | None = None) -> str:
    """The short precision tag ("exact", "rounding", "real") of a record's test, "" when the
    catalogue does not list the test."""
    index = _precision_index() if index is None else index
    klass = index.get((record.theorem.split("(")[0],) + _test_key(record.nodeid), "")
    return _precision_tags().get(klass, "")


def _joined_tags(tags) -> str:
    present = set(tags)
    return "/".join(t for t in _precision_tags().values() if t in present)


def aggregate(records: list[TestRecord]) -> dict[tuple[str, str], Cell]:
    groups: dict[tuple[str, str], list[TestRecord]] = defaultdict(list)
    for r in records:
        groups[(r.theorem, r.subject)].append(r)
    index = _precision_index()
    cells = {}
    for key, rs in groups.items():
        outcome = min((r.outcome for r in rs), key=_PRIORITY.index)
        cells[key] = Cell(outcome, len(rs), sum(r.cases for r in rs),
                          sum(r.outcome == "out-of-scope" for r in rs),
                          _joined_tags(precision_of(r, index) for r in rs),
                          sum(r.outcome == "measured" for r in rs))
    return cells


def shows_precision(dtype) -> bool:
    """Whether the table tags each cell with its class: a run in a dtype other than float64."""
    return dtype is not None and str(dtype).removeprefix("torch.") not in ("", "float64")


def _theorem_order(t: str):
    return (0, int(t[1:])) if t[1:].isdigit() else (1, t)


def conformance_rows(records: list[TestRecord]):
    cells = aggregate(records)
    theorems = sorted({t for t, _ in cells}, key=_theorem_order)
    subjects = sorted({s for _, s in cells}, key=lambda s: (s == SUITE_ROW, s))
    return theorems, subjects, cells


def _cell_text(cell: Cell | None, tags: bool = False) -> str:
    if cell is None:
        return "n/a"
    text = _SYMBOL[cell.outcome]
    if cell.outcome in ("passed", "failed", "error", "xfail", "xpass", "measured"):
        text += f" {cell.cases}"
        if cell.out_of_scope:
            text += "+oos"
    if tags and cell.precision:
        text += f" [{cell.precision}]"
    return text


def terminal_table(records: list[TestRecord], header: str = "", dtype=None) -> str:
    """Subjects as rows, theorems as columns; a cell is the outcome and the generated cases (and, when
    ``dtype`` is not float64, the precision class of its tests)."""
    if not records:
        return "kinkcheck: no theorem tests ran"
    theorems, subjects, cells = conformance_rows(records)
    tags = shows_precision(dtype)
    rows = [["subject"] + theorems]
    for s in subjects:
        rows.append([s] + [_cell_text(cells.get((t, s)), tags) for t in theorems])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [header] if header else []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    totals = defaultdict(int)
    for c in cells.values():
        totals[c.outcome] += 1
    lines.append("cells: " + ", ".join(f"{totals[o]} {o}" for o in _PRIORITY if totals[o])
                 + "; numbers are generated cases run; +oos: configurations outside the theorem's "
                 "hypothesis (decay) were checked and reported out of scope; n/a: does not apply; n/s: the subject's "
                 "constructor does not accept a hyperparameter the check needs (not run); ERROR: a bug of the "
                 "suite, not a verdict on the subject")
    if tags:
        lines.append(f"precision classes in {str(dtype).removeprefix('torch.')}: [exact] asserted exactly in this "
                     "dtype; [rounding] within a tolerance derived from its unit roundoff and the step count, "
                     "float64 reference; [real] an exact-arithmetic claim: in this dtype its behaviour is a "
                     "different fact, measured and reported (\"measured\": the figure and its interval below), "
                     "never judged")
    lines.append("wall time per theorem (s, summed over its tests): " + ", ".join(
        f"{t} {s:.1f}" for t, s in seconds_by_theorem(records)))
    figs = figures_by_theorem(records)
    if figs:
        lines.append("measured figures (range over subjects; --report-json has each):")
        for theorem in sorted(figs, key=_theorem_order):
            by_name = defaultdict(list)
            for _, name, value in figs[theorem]:
                by_name[name].append(value)
            for name, values in by_name.items():
                lines.append(f"  {theorem} {name}: {_value_range(values)}")
    return "\n".join(lines)


def seconds_by_theorem(records: list[TestRecord]) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for r in records:
        totals[r.theorem] += r.seconds
    return [(t, totals[t]) for t in sorted(totals, key=_theorem_order)]


def _value_range(values: list) -> str:
    try:
        lo, hi = min(values), max(values)
    except TypeError:
        return ", ".join(sorted({str(v) for v in values}))
    return f"{lo}" if lo == hi else f"{lo} .. {hi} ({len(values)} subjects)"


def figures_by_theorem(records: list[TestRecord]) -> dict[str, list[tuple[str, str, object]]]:
    out: dict[str, list] = defaultdict(list)
    seen = set()
    for r in sorted(records, key=lambda r: r.nodeid):
        for name, value in r.figures.items():
            key = (r.theorem, r.subject, name)
            if key not in seen:
                seen.add(key)
                out[r.theorem].append((r.subject, name, value))
    return out


def markdown_table(records: list[TestRecord], header: str = "", dtype=None) -> str:
    theorems, subjects, cells = conformance_rows(records)
    tags = shows_precision(dtype)
    lines = [header, ""] if header else []
    lines.append("| subject | " + " | ".join(theorems) + " |")
    lines.append("|---" * (len(theorems) + 1) + "|")
    for s in subjects:
        lines.append(f"| `{s}` | " + " | ".join(_cell_text(cells.get((t, s)), tags) for t in theorems) + " |")
    return "\n".join(lines) + "\n"


def environment() -> dict:
    import torch

    from kinkcheck import __version__

    return {"kinkcheck": __version__, "torch": torch.__version__, "python": platform.python_version()}


def merge(payloads: list[dict]) -> tuple[list[TestRecord], dict]:
    """The records and meta of several JSON reports of disjoint shards of one run (pytest-split
    groups, CI matrix jobs): the cells re-aggregated from every shard's tests."""
    records, seen = [], {}
    for k, payload in enumerate(payloads):
        for test in payload.get("tests", []):
            if test["nodeid"] in seen:
                raise ValueError(f"test {test['nodeid']} is in shard {seen[test['nodeid']] + 1} and in shard {k + 1}: "
                                 "shards of one run must be disjoint")
            seen[test["nodeid"]] = k
            records.append(TestRecord(**test))
    metas = [p.get("meta", {}) for p in payloads]
    meta = dict(metas[0]) if metas else {}
    meta["shards"] = len(payloads)
    meta["exitstatus"] = max((int(m.get("exitstatus", 0)) for m in metas), default=0)
    meta["subjects"] = sorted({s for m in metas for s in m.get("subjects", [])})
    return records, meta


def json_report(records: list[TestRecord], meta: dict) -> str:
    theorems, subjects, cells = conformance_rows(records)
    payload = {
        "meta": {**environment(), **meta},
        "cells": [{"theorem": t, "subject": s, **asdict(c)} for (t, s), c in sorted(cells.items())],
        "tests": [asdict(r) for r in sorted(records, key=lambda r: r.nodeid)],
    }
    return json.dumps(payload, indent=1, default=str)


# --------------------------------------------------------------------------- the run's summary
def header(config, state) -> str:
    """The run header: printed at the start of the run, repeated above the table."""
    from kinkcheck.plugin import options, profiles

    env = environment()
    where = state.placement
    chosen = config.getoption("hypothesis_profile", None)
    subjects = ", ".join(s.label for s in state.optimizers)
    lines = [f"kinkcheck {env['kinkcheck']} — torch {env['torch']}, python {env['python']}, "
             f"device {where.device}, dtype {str(where.dtype).removeprefix('torch.')}, "
             f"activation {state.activation.name}, hypothesis profile {profiles.effective_name(chosen)}"
             + (" (gate: subject-dependent theorems only)" if state.gate else ""),
             f"kinkcheck subjects ({len(state.optimizers)}): {subjects}"]
    env_vars = options.kinkcheck_environment()
    if env_vars:
        lines.append("kinkcheck environment: " + " ".join(f"{k}={v}" for k, v in env_vars.items()))
    return "\n".join(lines)


def not_run_line(state) -> str | None:
    """The theorems a gate did not run because their outcome does not depend on the subject: the
    ones it deselected (serial run), else (xdist: workers collect) the catalogue's suite-level
    theorems among those that ran."""
    if not state.gate:
        return None
    from kinkcheck import catalog

    ids = set(state.not_run)
    if not ids:
        ran = {r.theorem.split("(")[0] for r in state.records}
        ids = {e.id for e in catalog.CATALOG if e.suite_level and e.id in ran}
    if not ids:
        return None
    return ("not run: independent of the subject (suite-level parts of "
            + ", ".join(sorted(ids, key=_theorem_order)) + "); --all-theorems runs them")


def write_summary(tr, exitstatus, config, state) -> None:
    from kinkcheck.plugin import profiles

    records = state.records
    if not records and not state.expectations:
        return
    head = header(config, state)
    tr.section("kinkcheck conformance")
    tr.write_line(terminal_table(records, head, state.placement.dtype))
    if (line := not_run_line(state)) is not None:
        tr.write_line(line)
    stale = [f"{t}::{s}" for (t, s) in state.expectations if (t, s) not in state.matched]
    fixed = sorted({f"{r.theorem}::{r.subject}" for r in records if r.outcome == "xpass"})
    if stale:
        tr.write_line("expectations file lists deviations that match no test: " + ", ".join(stale), yellow=True)
    if fixed:
        tr.write_line("expected deviations that no longer happen (remove them from the file): "
                      + ", ".join(fixed), yellow=True)
    chosen = config.getoption("hypothesis_profile", None)
    dtype = str(state.placement.dtype).removeprefix("torch.")
    meta = {"exitstatus": int(exitstatus), "header": head, "dtype": dtype,
            "hypothesis_profile": profiles.effective_name(chosen),
            "hypothesis_seed": config.getoption("hypothesis_seed", None),
            "subjects": [s.label for s in state.optimizers], "activation": state.activation.name,
            "gate": state.gate, "not_run": not_run_line(state)}
    if config.getoption("--report-json"):
        Path(config.getoption("--report-json")).write_text(json_report(records, meta))
    if config.getoption("--report-md"):
        Path(config.getoption("--report-md")).write_text(markdown_table(records, head, dtype))
