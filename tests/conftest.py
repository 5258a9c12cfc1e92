"""Fixtures for the self-tests: running the theorem suite on a subject in a subprocess."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class SuiteRun:
    """The outcome of ``pytest theorems/<module> <args>`` run in a fresh interpreter."""

    def __init__(self, result):
        self.result = result
        self.ret = int(result.ret)
        self.text = "\n".join(result.outlines + result.errlines)

    def failed_theorems(self) -> set[str]:
        """Theorem ids whose cell in the conformance table reads FAIL."""
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


@pytest.fixture
def run_suite(pytester, monkeypatch):
    """run_suite("--optimizer", "sgd=tests.broken.x:Y", modules=("test_frozen_coordinates.py",)).

    The ``kinkcheck-selftest`` profile is the ``kinkcheck-ci`` profile with 10 examples and no shrinking: a mutation
    self-test needs the failure, not the minimal counterexample."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("KINKCHECK_OPTIMIZERS", raising=False)
    monkeypatch.delenv("KINKCHECK_ACTIVATION", raising=False)

    def run(*args: str, modules: tuple[str, ...] = (), profile: str = "kinkcheck-selftest") -> SuiteRun:
        paths = [str(ROOT / "theorems" / m) for m in modules]
        result = pytester.runpytest_subprocess(
            *paths, *args, "-p", "no:cacheprovider", "--hypothesis-profile", profile,
            "-W", "ignore::DeprecationWarning", f"--rootdir={ROOT}", "-q")
        return SuiteRun(result)

    return run


