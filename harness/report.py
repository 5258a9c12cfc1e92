"""Per-theorem outcomes and measured figures: collection, terminal table, JSON, Markdown.

Inside a property, ``figure(name, value)`` records a measured figure and ``theorem_id()``
names the theorem being checked (the plugin sets both up per test). Records travel from
pytest-xdist workers to the controller in ``report.user_properties``, so the table is one
table under ``-n auto`` too.
"""
from __future__ import annotations

import contextvars
import json
import platform
from collections import defaultdict
from dataclasses import asdict, dataclass, field

USER_PROPERTY = "kinkcheck"
SUITE_ROW = "(suite)"


@dataclass
class TestRecord:
    __test__ = False  # not a pytest test class

    nodeid: str
    theorem: str
    subject: str
    outcome: str = "passed"  # passed | failed | xfail | xpass | out-of-scope | skipped
    cases: int = 0
    figures: dict = field(default_factory=dict)
    reason: str = ""


_current: contextvars.ContextVar[TestRecord | None] = contextvars.ContextVar("kinkcheck_record", default=None)


def begin(record: TestRecord):
    return _current.set(record)


def end(token) -> None:
    _current.reset(token)


def current() -> TestRecord | None:
    return _current.get()


def theorem_id() -> str:
    rec = _current.get()
    return rec.theorem if rec else "?"


def figure(name: str, value, keep: str = "last") -> None:
    """Record a measured figure for the running test (``keep``: last | max | min | sum)."""
    rec = _current.get()
    if rec is None:
        return
    if isinstance(value, float):
        value = float(f"{value:.6g}")
    old = rec.figures.get(name)
    if old is None or keep == "last":
        rec.figures[name] = value
    elif keep == "max":
        rec.figures[name] = max(old, value)
    elif keep == "min":
        rec.figures[name] = min(old, value)
    elif keep == "sum":
        rec.figures[name] = old + value
    else:
        raise ValueError(f"keep={keep!r}")


def count_case() -> None:
    rec = _current.get()
    if rec is not None:
        rec.cases += 1


# --------------------------------------------------------------------------- aggregation

_PRIORITY = ["failed", "xpass", "xfail", "passed", "out-of-scope", "skipped"]
_SYMBOL = {"passed": "pass", "failed": "FAIL", "xfail": "xfail", "xpass": "XPASS",
           "out-of-scope": "out-of-scope", "skipped": "skip"}


@dataclass
class Cell:
    outcome: str
    tests: int
    cases: int
    out_of_scope: int = 0  # tests of the cell that reported "out of scope"


def aggregate(records: list[TestRecord]) -> dict[tuple[str, str], Cell]:
    groups: dict[tuple[str, str], list[TestRecord]] = defaultdict(list)
    for r in records:
        groups[(r.theorem, r.subject)].append(r)
    cells = {}
    for key, rs in groups.items():
        outcome = min((r.outcome for r in rs), key=_PRIORITY.index)
        cells[key] = Cell(outcome, len(rs), sum(r.cases for r in rs),
                          sum(r.outcome == "out-of-scope" for r in rs))
    return cells


def _theorem_order(t: str):
    return (0, int(t[1:])) if t[1:].isdigit() else (1, t)


def conformance_rows(records: list[TestRecord]):
    cells = aggregate(records)
    theorems = sorted({t for t, _ in cells}, key=_theorem_order)
    subjects = sorted({s for _, s in cells}, key=lambda s: (s == SUITE_ROW, s))
    return theorems, subjects, cells


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "n/a"
    text = _SYMBOL[cell.outcome]
    if cell.outcome in ("passed", "failed", "xfail", "xpass"):
        text += f" {cell.cases}"
        if cell.out_of_scope:
            text += "+oos"
    return text


def terminal_table(records: list[TestRecord], header: str = "") -> str:
    """Subjects as rows, theorems as columns; a cell is the outcome and the generated cases."""
    if not records:
        return "kinkcheck: no theorem tests ran"
    theorems, subjects, cells = conformance_rows(records)
    rows = [["subject"] + theorems]
    for s in subjects:
        rows.append([s] + [_cell_text(cells.get((t, s))) for t in theorems])
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
                 "hypothesis (decay) were checked and reported out of scope; n/a: does not apply")
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


def markdown_table(records: list[TestRecord], header: str = "") -> str:
    theorems, subjects, cells = conformance_rows(records)
    lines = [header, ""] if header else []
    lines.append("| subject | " + " | ".join(theorems) + " |")
    lines.append("|---" * (len(theorems) + 1) + "|")
    for s in subjects:
        lines.append(f"| `{s}` | " + " | ".join(_cell_text(cells.get((t, s))) for t in theorems) + " |")
    return "\n".join(lines) + "\n"


def environment() -> dict:
    import torch

    from kinkcheck import __version__

    return {"kinkcheck": __version__, "torch": torch.__version__, "python": platform.python_version()}


def json_report(records: list[TestRecord], meta: dict) -> str:
    theorems, subjects, cells = conformance_rows(records)
    payload = {
        "meta": {**environment(), **meta},
        "cells": [{"theorem": t, "subject": s, **asdict(c)} for (t, s), c in sorted(cells.items())],
        "tests": [asdict(r) for r in sorted(records, key=lambda r: r.nodeid)],
    }
    return json.dumps(payload, indent=1, default=str)
