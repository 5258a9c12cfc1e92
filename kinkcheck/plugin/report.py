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
import re
import textwrap
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from kinkcheck.harness.core.records import SUITE_ROW, USER_PROPERTY, TestRecord  # noqa: F401

# --------------------------------------------------------------------------- aggregation

_PRIORITY = ["error", "failed", "xpass", "xfail", "measured", "passed", "out-of-scope", "not-supported",
             "skipped"]
_SYMBOL = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "xfail": "xfail", "xpass": "XPASS",
           "measured": "measured", "out-of-scope": "out-of-scope", "not-supported": "n/s", "skipped": "skip"}
RAN = ("error", "failed", "xpass", "measured", "passed")  # outcomes of tests that ran and were judged
SIDE = (("xfail", "xfail"), ("out-of-scope", "oos"), ("not-supported", "n/s"), ("skipped", "skip"))
SEP = " · "


@dataclass
class Cell:
    outcome: str  # the worst outcome of its tests (_PRIORITY)
    tests: int
    cases: int
    out_of_scope: int = 0  # tests of the cell that reported "out of scope"
    precision: str = ""  # the catalogue's class(es) of its tests, short tags joined by "/" ("exact/real")
    measured: int = 0  # tests of the cell that measured an exact-arithmetic claim's low-precision effect
    lead: str = ""  # the worst outcome among the tests that ran (RAN), "" when none ran
    ran: int = 0  # tests that ran and were judged
    ran_cases: int = 0  # generated cases of the tests that ran
    not_supported: int = 0  # tests that did not run: the constructor lacks a hyperparameter (n/s)
    xfail: int = 0  # tests listed as expected deviations
    skipped: int = 0


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
        ran = [r for r in rs if r.outcome in RAN]
        count = lambda o: sum(r.outcome == o for r in rs)  # noqa: E731
        cells[key] = Cell(outcome, len(rs), sum(r.cases for r in rs), count("out-of-scope"),
                          _joined_tags(precision_of(r, index) for r in rs), count("measured"),
                          lead=min((r.outcome for r in ran), key=_PRIORITY.index) if ran else "",
                          ran=len(ran), ran_cases=sum(r.cases for r in ran), not_supported=count("not-supported"),
                          xfail=count("xfail"), skipped=count("skipped"))
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
    """What ran and what did not, side by side: the worst verdict of the tests that ran with their
    generated cases ("pass 15"), then the tests that did not run or were not judged ("· n/s 7")."""
    if cell is None:
        return "n/a"
    parts = [f"{_SYMBOL[cell.lead]} {cell.ran_cases}"] if cell.lead else []
    parts += [f"{word} {getattr(cell, field)}" for field, word in
              (("xfail", "xfail"), ("out_of_scope", "oos"), ("not_supported", "n/s"), ("skipped", "skip"))
              if getattr(cell, field)]
    text = SEP.join(parts) or _SYMBOL[cell.outcome]
    if tags and cell.precision:
        text += f" [{cell.precision}]"
    return text


# --------------------------------------------------------------------------- legend
LEGEND = [
    ("pass N", "every test of the cell that ran held, on N generated cases in all"),
    ("FAIL", "the subject violates the theorem (the failure above names it and prints a reproduce: command)"),
    ("ERROR", "a bug of the suite itself, not a verdict on the subject (please report it)"),
    ("XPASS", "a listed expected deviation no longer happens (remove its line)"),
    ("measured", "an exact-arithmetic claim measured in a low-precision dtype: the figure is reported, not "
                 "judged"),
    ("xfail N", "N tests are listed expected deviations (the --kinkcheck-xfails-file, or torch's own known ones, "
                "which are not run: their cell reads 'xfail N' with no cases)"),
    ("oos N", "N tests ran a configuration outside the theorem's hypothesis (a weight decay > 0) and report it "
              "out of scope with the measured displacement"),
    ("n/s N", "N tests did not run: the subject's constructor lacks a hyperparameter they need (names in the "
              "coverage lines; --kinkcheck-require-coverage makes that fail the run)"),
    ("skip N", "N tests were skipped (pytest -rs shows why)"),
    ("n/a", "the theorem does not apply to the subject (its family, or its kind of subject)"),
    ("(suite)", "the row of tests whose outcome depends on no subject: exact probabilities, oracles, landscapes"),
    ("activation NAME", "the row of the activation under test (--kinkcheck-activation; default torch:relu)"),
]


def legend_lines(theorems, *, shown: str | None = None) -> list[str]:
    """The words a cell can hold (those that occur in ``shown``, the table's text, when given), the theorems
    of the table with their titles, and the sources they cite."""
    from kinkcheck import catalog

    words = [(w, m) for w, m in LEGEND if shown is None or re.search(
        r"(?<![\w/])" + re.escape(w.split()[0]) + r"(?![\w/])", shown)]
    lines = ["legend: " + "; ".join(f"{word}: {meaning}" for word, meaning in words)]
    keys = []
    for t in theorems:
        entry = catalog.lookup(t)
        if entry is None:
            continue
        lines.append(f"{t}: {entry.title} — {entry.source}")
        keys += [k for k in re.findall(r"\[[A-Za-z0-9]+\]", entry.source) if k in catalog.SOURCES]
    for key in dict.fromkeys(keys):
        lines.append(f"{key} {catalog.SOURCES[key]}")
    return lines


def _wrap(text: str, width: int | None) -> list[str]:
    if not width:
        return text.splitlines()
    return [w for line in text.splitlines() for w in (textwrap.wrap(line, width, subsequent_indent="  ",
                                                                    break_on_hyphens=False) or [""])]


def _grid(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def table_lines(theorems, subjects, cells, *, tags: bool = False, width: int | None = None) -> list[str]:
    """Subjects as rows, theorems as columns; when the table is wider than ``width`` the theorem columns
    are split into blocks that fit (the subject column repeated), and when not even one column fits
    next to the subject, one block per subject lists its cells."""
    text = {(t, s): _cell_text(cells.get((t, s)), tags) for t in theorems for s in subjects}
    full = _grid([["subject"] + theorems] + [[s] + [text[(t, s)] for t in theorems] for s in subjects])
    if not width or max(len(line) for line in full) <= width:
        return full
    label = max(len(s) for s in subjects + ["subject"])
    if label + 2 + max(max(len(t), len(v)) for (t, _), v in text.items()) > width:
        out = []
        for s in subjects:
            out.append(s)
            out += textwrap.wrap("; ".join(f"{t} {text[(t, s)]}" for t in theorems), width, initial_indent="  ",
                                 subsequent_indent="  ", break_on_hyphens=False)
        return out
    blocks, current, used = [], [], label
    for t in theorems:
        column = max(len(t), *(len(text[(t, s)]) for s in subjects))
        if current and used + 2 + column > width:
            blocks.append(current)
            current, used = [], label
        current.append(t)
        used += 2 + column
    blocks.append(current)
    out = []
    for k, block in enumerate(blocks):
        if k:
            out.append("")
        out += _grid([["subject"] + block] + [[s] + [text[(t, s)] for t in block] for s in subjects])
    return out


def terminal_table(records: list[TestRecord], header: str = "", dtype=None, *, width: int | None = None,
                   figures: bool = True, legend: bool = True, every_row: bool = False) -> str:
    """Subjects as rows, theorems as columns; a cell is the worst verdict of the tests that ran with their
    generated cases, then what did not run (and, when ``dtype`` is not float64, the precision class of its
    tests). ``width``: fit the terminal (None: no limit); ``figures``: the measured figures (``-v``)."""
    if not records:
        return "kinkcheck: no theorem tests ran"
    theorems, subjects, cells = conformance_rows(records)
    tags = shows_precision(dtype)
    lines = _wrap(header, width) if header else []
    grid = table_lines(theorems, subjects, cells, tags=tags, width=width)
    lines += grid
    totals = defaultdict(int)
    for c in cells.values():
        totals[c.outcome] += 1
    notes = ["cells: " + ", ".join(f"{totals[o]} {o}" for o in _PRIORITY if totals[o])]
    notes += coverage_lines(records, every_row=every_row)
    if legend:
        notes += legend_lines(theorems, shown="\n".join(grid))
    if tags:
        notes.append(f"precision classes in {str(dtype).removeprefix('torch.')}: [exact] asserted exactly in this "
                     "dtype; [rounding] within a tolerance derived from its unit roundoff and the step count, "
                     "float64 reference; [real] an exact-arithmetic claim: in this dtype its behaviour is a "
                     "different fact, measured and reported ('measured': the figure and its interval), "
                     "never judged")
    notes.append("wall time per theorem (s, summed over its tests): " + ", ".join(
        f"{t} {s:.1f}" for t, s in seconds_by_theorem(records)))
    figs = figures_by_theorem(records)
    if figs and figures:
        notes.append("measured figures (range over subjects; the JSON report has each):")
        notes += [f"  {line}" for line in figure_lines(figs)]
    elif figs:
        notes.append(f"measured figures: {sum(len(v) for v in figs.values())} (shown with -v; in the JSON and "
                     "Markdown reports)")
    for note in notes:
        lines += _wrap(note, width)
    return "\n".join(lines)


def figure_lines(figs) -> list[str]:
    out = []
    for theorem in sorted(figs, key=_theorem_order):
        by_name = defaultdict(list)
        for _, name, value in figs[theorem]:
            by_name[name].append(value)
        for name, values in by_name.items():
            out.append(f"{theorem} {name}: {_value_range(values)}")
    return out


# --------------------------------------------------------------------------- coverage
def _not_supported_names(reason: str) -> str:
    return reason.split(" does not accept ", 1)[1].strip() if " does not accept " in reason else reason


def coverage(records: list[TestRecord]) -> dict[str, dict]:
    """Per subject row: how many of its applicable tests ran (judged), and which did not and why."""
    out: dict[str, dict] = {}
    for r in sorted(records, key=lambda r: (_theorem_order(r.theorem), r.nodeid)):
        c = out.setdefault(r.subject, {"applicable": 0, "ran": 0, "not_supported": 0, "out_of_scope": 0,
                                       "xfail": 0, "skipped": 0, "not_supported_tests": []})
        c["applicable"] += 1
        if r.outcome in RAN:
            c["ran"] += 1
        elif r.outcome == "not-supported":
            c["not_supported"] += 1
            c["not_supported_tests"].append({"theorem": r.theorem, "test": _test_key(r.nodeid)[1],
                                             "names": _not_supported_names(r.reason)})
        elif r.outcome == "out-of-scope":
            c["out_of_scope"] += 1
        elif r.outcome == "xfail":
            c["xfail"] += 1
        elif r.outcome == "skipped":
            c["skipped"] += 1
    return out


def _ns_summary(tests: list[dict]) -> str:
    by_theorem: dict[str, list[str]] = defaultdict(list)
    for t in tests:
        if t["names"] not in by_theorem[t["theorem"]]:
            by_theorem[t["theorem"]].append(t["names"])
    return ", ".join(f"{theorem} ({'; '.join(names)})" for theorem, names in by_theorem.items())


def coverage_lines(records: list[TestRecord], *, every_row: bool = False) -> list[str]:
    """"adam=mylib:X — 12 of 19 applicable tests ran; n/s 7: T2 (maximize), T4 (eps)" for every row with
    an n/s test, and with ``every_row`` (a run of the user's own subjects) for every row."""
    lines = []
    for subject, c in sorted(coverage(records).items(), key=lambda kv: (kv[0] == SUITE_ROW, kv[0])):
        if not (c["not_supported"] or (every_row and subject != SUITE_ROW)):
            continue
        text = f"{subject} — {c['ran']} of {c['applicable']} applicable tests ran"
        if c["not_supported"]:
            text += f"; n/s {c['not_supported']}: {_ns_summary(c['not_supported_tests'])}"
        text += "".join(f"; {word} {c[key]}" for key, word in (("out_of_scope", "oos"), ("xfail", "xfail"),
                                                                ("skipped", "skip")) if c[key])
        lines.append(text)
    return lines


def not_supported_by_subject(records: list[TestRecord]) -> dict[str, list[dict]]:
    return {s: c["not_supported_tests"] for s, c in coverage(records).items() if c["not_supported"]}


def require_coverage_line(missing: dict[str, list[dict]]) -> str:
    """The reason --kinkcheck-require-coverage fails a run: the subjects and their n/s tests."""
    return ("kinkcheck: --kinkcheck-require-coverage: tests did not run because a constructor lacks a "
            "hyperparameter (n/s), so this run fails: " + "; ".join(
                f"{subject}: " + ", ".join(f"{t['theorem']} {t['test']} ({t['names']})" for t in tests)
                for subject, tests in missing.items())
            + ". Add the hyperparameters to the constructor, or drop the option to accept n/s.")


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


def markdown_table(records: list[TestRecord], header: str = "", dtype=None, *, every_row: bool = False) -> str:
    """The table, then the coverage lines, the legend and the measured figures."""
    theorems, subjects, cells = conformance_rows(records)
    tags = shows_precision(dtype)
    lines = [header, ""] if header else []
    lines.append("| subject | " + " | ".join(theorems) + " |")
    lines.append("|---" * (len(theorems) + 1) + "|")
    for s in subjects:
        lines.append(f"| `{s}` | " + " | ".join(_cell_text(cells.get((t, s)), tags) for t in theorems) + " |")
    cover = coverage_lines(records, every_row=every_row)
    if cover:
        lines += ["", "**Coverage**", ""] + [f"- {line}" for line in cover]
    lines += ["", "**Legend**", ""] + [f"- {word}: {meaning}" for word, meaning in LEGEND]
    lines += [f"- {line}" for line in legend_lines(theorems)[1:]]
    figs = figures_by_theorem(records)
    if figs:
        lines += ["", "**Measured figures** (range over subjects)", ""] + [f"- {x}" for x in figure_lines(figs)]
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
        "coverage": [{"subject": s, **c} for s, c in sorted(coverage(records).items())],
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
             f"device {where.device}, dtype {str(where.dtype).removeprefix('torch.')}",
             f"kinkcheck activation {state.activation.name}, hypothesis profile {profiles.effective_name(chosen)}"
             + (" (gate: subject-dependent theorems only)" if state.gate else ""),
             f"kinkcheck subjects ({len(state.optimizers)}): {subjects}"]
    env_vars = options.kinkcheck_environment()
    if env_vars:
        lines.append("kinkcheck environment: " + " ".join(f"{k}={v}" for k, v in env_vars.items()))
    return "\n".join(lines)


def not_run_line(state) -> str | None:
    """The theorems a gate did not run because their outcome does not depend on the subject: the
    ones it deselected (serial run), else (xdist: workers collect) the catalogue's suite-level
    theorems among those that ran; and, in an optimizer-only gate, the default activation's tests."""
    if not state.gate:
        return None
    from kinkcheck import catalog

    ids = set(state.not_run)
    unknown = not ids and not state.not_run_activation  # xdist: the workers collected, not this process
    if unknown:
        ran = {r.theorem.split("(")[0] for r in state.records}
        ids = {e.id for e in catalog.CATALOG if e.suite_level and e.id in ran}
    parts = []
    if ids:
        parts.append("suite-level parts of " + ", ".join(sorted(ids, key=_theorem_order)))
    if not state.user_activation and (state.not_run_activation or unknown):
        which = ", ".join(sorted(state.not_run_activation, key=_theorem_order))
        parts.append(f"the default activation {state.activation.name}'s tests" + (f" of {which}" if which else "")
                     + " (--kinkcheck-activation checks yours)")
    if not parts:
        return None
    return "not run: independent of the subject: " + "; ".join(parts) + ". --kinkcheck-all-theorems runs them"


def _width(tr) -> int:
    width = getattr(getattr(tr, "_tw", None), "fullwidth", None)
    return max(40, int(width)) if width else 80


def write_summary(tr, exitstatus, config, state) -> None:
    from kinkcheck.plugin import options, profiles

    records = state.records
    if not records and not state.expectations:
        return
    head = header(config, state)
    width = _width(tr)
    tr.section("kinkcheck conformance")
    tr.write_line(terminal_table(records, head, state.placement.dtype, width=width,
                                 figures=config.getoption("verbose", 0) > 0, every_row=state.user_subjects))
    if (line := not_run_line(state)) is not None:
        for part in _wrap(line, width):
            tr.write_line(part)
    stale = [key.text for key in state.expectations if key not in state.matched]
    fixed = sorted({f"{r.theorem}::{r.subject}" for r in records if r.outcome == "xpass"})
    if stale:
        for part in _wrap("expectations file lists deviations that match no test: " + ", ".join(stale), width):
            tr.write_line(part, yellow=True)
    if fixed:
        for part in _wrap("expected deviations that no longer happen (remove them from the file): "
                          + ", ".join(fixed), width):
            tr.write_line(part, yellow=True)
    chosen = config.getoption("hypothesis_profile", None)
    dtype = str(state.placement.dtype).removeprefix("torch.")
    meta = {"exitstatus": int(exitstatus), "header": head, "dtype": dtype,
            "hypothesis_profile": profiles.effective_name(chosen),
            "hypothesis_seed": config.getoption("hypothesis_seed", None),
            "subjects": [s.label for s in state.optimizers], "activation": state.activation.name,
            "gate": state.gate, "not_run": not_run_line(state)}
    if options.value(config, "report_json"):
        Path(config.invocation_params.dir, options.value(config, "report_json")).write_text(json_report(records, meta))
    if options.value(config, "report_md"):
        Path(config.invocation_params.dir, options.value(config, "report_md")).write_text(
            markdown_table(records, head, dtype, every_row=state.user_subjects))
