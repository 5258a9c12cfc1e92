"""Fixtures for the self-tests: running the theorem suite on a subject in a subprocess."""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.zygote import ZYGOTE

ROOT = Path(__file__).resolve().parents[1]

REJECTED = "failed"  # the cell outcome that rejects a subject (an ERROR is a bug of the suite, not a verdict)
NOT_ACCEPTED = ("failed", "error")  # what a run that exits 0 cannot hold
_SECTION = re.compile(r"^_+ (\S+\[.*\]) _+$")


class SuiteRun:
    """The outcome of ``pytest theorems/<module> <args>`` run in a fresh interpreter, with the conformance
    report the run wrote (``--report-json``) when it wrote one."""

    def __init__(self, result, report: Path | None = None):
        self.result = result
        self.ret = int(result.ret)
        self.text = "\n".join(result.outlines + result.errlines)
        self.report = json.loads(report.read_text()) if report is not None and report.exists() else None

    # ------------------------------------------------------------------ per subject, from the JSON report
    def cells(self) -> dict[str, dict[str, str]]:
        """{subject label: {theorem: outcome}} of the conformance table ({} when no report was written).
        A subject's label is its spec string as given (``adam=tests.broken.recursions:OffByOneAdam``)."""
        out: dict[str, dict[str, str]] = {}
        for c in (self.report or {}).get("cells", []):
            out.setdefault(c["subject"], {})[c["theorem"]] = c["outcome"]
        return out

    def tests(self, subject: str) -> dict[str, set[str]]:
        """{test function: outcomes of its items} for one subject (parametrizations of a function merged)."""
        out: dict[str, set[str]] = {}
        for t in (self.report or {}).get("tests", []):
            if t["subject"] == subject:
                function = t["nodeid"].split("[")[0].split("::")[-1]
                out.setdefault(function, set()).add(t["outcome"])
        return out

    def failing_tests(self, subject: str) -> set[str]:
        """The test functions with a failed (FAIL or ERROR) item for ``subject``: its FAILED/ERROR lines."""
        return {f for f, outcomes in self.tests(subject).items() if outcomes & set(NOT_ACCEPTED)}

    def failed_theorems(self, subject: str | None = None) -> set[str]:
        """Theorem ids whose cell in the conformance table reads FAIL: for ``subject``'s row, or any row."""
        if self.report is not None:
            return {t for s, row in self.cells().items() if subject is None or s == subject
                    for t, outcome in row.items() if outcome == REJECTED}
        if subject is not None:
            return set()
        return self._failed_theorems_from_table()

    def failure_text(self, subject: str) -> str:
        """The FAILURES sections of the output that belong to ``subject`` (its kinkcheck note names it, or
        its test id is parametrized by it): what a message check of one subject of a batch must read."""
        sections, current = [], None
        for line in self.text.splitlines():
            if _SECTION.match(line) or line.startswith("====="):
                current = [line] if _SECTION.match(line) else None
                if current is not None:
                    sections.append(current)
            elif current is not None:
                current.append(line)
        mine = [s for s in sections
                if f"subject: {subject}" in s or f"[{subject}]" in s[0] or f"[{subject}-" in s[0]]
        return "\n".join("\n".join(s) for s in mine)

    def verdicts(self, rejected: dict[str, set[str]], accepted=()) -> list[str]:
        """What is wrong with a batch run: each subject of ``rejected`` must read FAIL in the cells of its
        theorems, each of ``accepted`` no FAIL or ERROR cell and no FAILED or ERROR test of its own (what
        ``ret == 0`` asserts of a run of it alone), and every subject must have run. One line per escape,
        naming the subject ([] when the batch holds)."""
        cells, wrong = self.cells(), []
        for subject, theorems in rejected.items():
            row = cells.get(subject)
            if not row:
                wrong.append(f"{subject}: no cell in the report (did not run)")
                continue
            failed = {t for t, o in row.items() if o == REJECTED}
            if not set(theorems) <= failed:
                wrong.append(f"{subject}: escaped {sorted(set(theorems) - failed)} (its cells: {row})")
        for subject in accepted:
            row = cells.get(subject)
            if not row:
                wrong.append(f"{subject}: no cell in the report (did not run)")
            elif any(o in NOT_ACCEPTED for o in row.values()):
                wrong.append(f"{subject}: a correct subject was not accepted (its cells: {row})")
            wrong += [f"{subject}: {line}" for line in self.text.splitlines()
                      if line.startswith(("FAILED ", "ERROR ")) and (f"[{subject}]" in line or f"[{subject}-" in line)]
        return wrong

    def _failed_theorems_from_table(self) -> set[str]:
        lines = self.text.splitlines()
        try:
            section = next(i for i, l in enumerate(lines) if "kinkcheck conformance" in l)
            start = next(i for i in range(section, len(lines)) if re.match(r"subject\s{2,}T", lines[i]))
        except StopIteration:
            return set()
        header = lines[start].split()[1:]
        failed = set()
        for line in lines[start + 2:]:
            if not line or line.startswith("cells:"):
                break
            cells = re.split(r"\s{2,}", line.strip())[1:]
            failed |= {t for t, c in zip(header, cells) if c.startswith("FAIL")}
        return failed


def optimizer_args(*specs: str) -> list[str]:
    """``--kinkcheck-optimizer S`` for each spec: one run, one row of the table per subject."""
    if len(set(specs)) != len(specs):
        raise ValueError(f"a batch needs distinct subject labels, got {specs}")
    return [a for s in specs for a in ("--kinkcheck-optimizer", s)]


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytester whose ``python -m pytest`` runs (``runpytest_subprocess``, ``run_suite``) are forked from a warm
    interpreter (tests/zygote.py: the same run, without paying the torch and Hypothesis imports each time);
    any other command, or an environment that differs in what is read at import time, is a real subprocess.

    The runs may write bytecode: pytest rewrites the asserts of every module of the kinkcheck distribution (a
    pytest11 plugin), about 180 modules for a whole-suite run, and caches the result in ``__pycache__`` unless
    PYTHONDONTWRITEBYTECODE is set (as it is on this project's CI machines); without the cache each of the
    self-tests' runs spent about 1.4 s rewriting them again (measured: collection of theorems/ 5.7 s -> 4.3 s)."""
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    fresh_popen = pytester.popen

    def popen(cmdargs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=pytester.CLOSE_STDIN, **kw):
        args = [os.fspath(a) for a in cmdargs]
        if args[:2] == [sys.executable, "-mpytest"] and stdin is pytester.CLOSE_STDIN and not kw \
                and hasattr(stdout, "fileno") and hasattr(stderr, "fileno"):
            env = os.environ.copy()  # what Pytester.popen gives the subprocess
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH", "")]))
            forked = ZYGOTE.popen(args[2:], cwd=os.getcwd(), env=env, stdout=stdout, stderr=stderr)
            if forked is not None:
                return forked
        return fresh_popen(cmdargs, stdout=stdout, stderr=stderr, stdin=stdin, **kw)

    pytester.popen = popen
    return pytester


@pytest.fixture
def run_suite(pytester, monkeypatch):
    """run_suite("--optimizer", "sgd=tests.broken.x:Y", modules=("test_frozen_coordinates.py",)).

    The ``kinkcheck-selftest`` profile is the ``kinkcheck-ci`` profile with 10 examples and no shrinking: a mutation
    self-test needs the failure, not the minimal counterexample. Every run writes its conformance report as JSON
    (``--report-json`` in pytester's directory, or the caller's own path when it passes one): ``SuiteRun.cells()``
    reads it, so one run can judge several subjects, each by its own row."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("KINKCHECK_OPTIMIZERS", raising=False)
    monkeypatch.delenv("KINKCHECK_ACTIVATION", raising=False)
    counter = itertools.count()

    def run(*args: str, modules: tuple[str, ...] = (), profile: str = "kinkcheck-selftest") -> SuiteRun:
        paths = [str(ROOT / "theorems" / m) for m in modules]
        names = ("--report-json", "--kinkcheck-report-json")
        given = [args[i + 1] for i, a in enumerate(args[:-1]) if a in names]
        given += [a.split("=", 1)[1] for a in args if a.startswith(tuple(f"{n}=" for n in names))]
        report = pytester.path / given[-1] if given else pytester.path / f"kinkcheck-report-{next(counter)}.json"
        extra = () if given else ("--kinkcheck-report-json", str(report))
        result = pytester.runpytest_subprocess(
            *paths, *args, *extra, "-p", "no:cacheprovider", "--hypothesis-profile", profile,
            "-W", "ignore::DeprecationWarning", f"--rootdir={ROOT}", "-q")
        return SuiteRun(result, report)

    return run
