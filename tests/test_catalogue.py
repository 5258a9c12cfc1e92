"""Self-tests of the theorem catalogue (kinkcheck/catalog.py): docs/theorems.md and README's theorem table
are generated from it, every theorem ID the code cites is catalogued, and every catalogued claim is
encoded by tests that exist, carry its marker, and gate (or not) as the catalogue says.

Reads the sources with ``ast`` and regular expressions: no torch, no harness import (fast).
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from kinkcheck import catalog

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("theorems", "harness", "strategies", "tests", "kinkcheck")
# A theorem ID as the code cites it: "T2", "T2(d)", "T1 (c)".
CITATION = re.compile(r"\bT(\d+)(?:\s?\(([a-z])\))?")
REGENERATE = "python -m kinkcheck.catalog --write"


def _normal(number: str, letter: str | None) -> str:
    return f"T{number}" + (f"({letter})" if letter else "")


def cited_ids(text: str) -> set[str]:
    return {_normal(n, a) for n, a in CITATION.findall(text)}


@lru_cache(maxsize=None)
def functions_in(path: str) -> dict[str, ast.FunctionDef]:
    """Top-level test functions of a checkout file, by name."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")}


def theorem_marker(fn: ast.FunctionDef) -> str | None:
    """The ID of ``@pytest.mark.theorem("T..", ...)`` on ``fn``, if any."""
    for dec in fn.decorator_list:
        if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "theorem"
                and dec.args and isinstance(dec.args[0], ast.Constant)):
            return dec.args[0].value
    return None


def marked_tests() -> dict[str, str]:
    """Every marked test of theorems/ as "theorems/x.py::name" -> marker ID."""
    out = {}
    for path in sorted((ROOT / "theorems").glob("test_*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for name, fn in functions_in(rel).items():
            if (marker := theorem_marker(fn)) is not None:
                out[f"{rel}::{name}"] = marker
    return out


def fixtures(test: str) -> set[str]:
    path, name = test.split("::")
    fn = functions_in(path)[name]
    return {a.arg for a in fn.args.args + fn.args.kwonlyargs}


def catalogued() -> set[str]:
    return {e.id for e in catalog.entries()}


# --- (a) generated files ---------------------------------------------------------------------------
def test_docs_theorems_md_is_the_generated_catalogue():
    """docs/theorems.md is exactly `kinkcheck theorems --markdown` (the catalogue rendered)."""
    on_disk = (ROOT / "docs" / "theorems.md").read_text(encoding="utf-8")
    assert on_disk == catalog.markdown(), f"docs/theorems.md is stale: regenerate it with `{REGENERATE}`"


def test_readme_theorem_table_is_generated_from_the_catalogue():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert catalog.replace_readme_section(readme) == readme, \
        f"README's '## The theorems' section differs from the catalogue: regenerate it with `{REGENERATE}`"
    assert "docs/theorems.md" in catalog.readme_section(), "README's theorem section must link docs/theorems.md"


@pytest.mark.slow
def test_cli_prints_the_catalogue():
    """The command end to end: `kinkcheck theorems --markdown` prints docs/theorems.md (slow only because the
    CLI's other subcommands import torch at start-up: ~5 s)."""
    run = subprocess.run([sys.executable, "-m", "kinkcheck", "theorems", "--markdown"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (ROOT / "docs" / "theorems.md").read_text(encoding="utf-8"), \
        "`kinkcheck theorems --markdown` differs from docs/theorems.md"


def test_text_listing_names_every_entry_with_its_gate_and_precision():
    lines = catalog.text().splitlines()
    for e in catalog.entries():
        row = next((line for line in lines if line.split()[:1] == [e.id]), None)
        assert row is not None, f"`kinkcheck theorems` does not list {e.id}"
        assert e.gate_label in row and e.precision in row and e.source in row, f"row of {e.id} incomplete: {row}"


# --- (b) citations <-> catalogue ---------------------------------------------------------------------
def test_every_id_cited_in_code_markers_and_readme_is_catalogued():
    known = catalogued()
    missing: dict[str, set[str]] = {}
    files = [p for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*.py"))] + [ROOT / "README.md"]
    assert len(files) > 50, f"only {len(files)} files scanned: wrong checkout root {ROOT}?"
    for path in files:
        for tid in cited_ids(path.read_text(encoding="utf-8")) - known:
            missing.setdefault(tid, set()).add(path.relative_to(ROOT).as_posix())
    for test, marker in marked_tests().items():
        if marker not in known:
            missing.setdefault(marker, set()).add(f"marker of {test}")
    assert not missing, "cited but not in kinkcheck/catalog.py: " + "; ".join(
        f"{tid} ({', '.join(sorted(where))})" for tid, where in sorted(missing.items()))


def test_every_marked_theorem_test_is_in_its_theorems_entry():
    """Vice versa, test side: every test of theorems/ is catalogued under the theorem its marker names."""
    by_theorem = {e.id: set(e.all_tests) for e in catalog.CATALOG}
    marked = marked_tests()
    assert len(marked) > 40, f"only {len(marked)} marked tests found in theorems/"
    stray = [f"{t} (marker {m})" for t, m in marked.items() if t not in by_theorem.get(m, ())]
    assert not stray, "tests not listed by the catalogue entry of their marker: " + ", ".join(stray)


def test_every_catalogue_entry_is_encoded_by_a_marked_test():
    """Vice versa, catalogue side: each ID has a test in theorems/ carrying its theorem's marker. The one
    exception is an audit of the framework (T1(c)): a suite-level report whose checks are self-tests."""
    marked = marked_tests()
    for e in catalog.entries():
        tests = e.all_tests
        assert tests, f"{e.id}: no test encodes it"
        in_theorems = [t for t in tests if marked.get(t) == e.base]
        if not in_theorems:
            assert not e.gates and e.suite_level and all(t.startswith("tests/") for t in tests), \
                f"{e.id}: no test in theorems/ with @pytest.mark.theorem({e.base!r}) encodes it"


# --- (c) modules, (d) tests named by an entry exist -------------------------------------------------
def test_every_top_level_module_exists():
    assert [e.id for e in catalog.CATALOG] == [f"T{i}" for i in range(1, len(catalog.CATALOG) + 1)]
    for e in catalog.CATALOG:
        assert (ROOT / "theorems" / f"{e.module}.py").is_file(), f"{e.id}: theorems/{e.module}.py does not exist"
        assert e.implemented, f"{e.id}: kinkcheck.theorems.{e.module} is not importable"
        assert f"theorems/{e.module}.py" in e.modules, f"{e.id}: none of its tests is in theorems/{e.module}.py"


def test_every_named_test_exists_in_its_module():
    for e in catalog.entries():
        for test in e.tests:
            path, _, name = test.partition("::")
            assert (ROOT / path).is_file(), f"{e.id}: {path} does not exist"
            assert name in functions_in(path), f"{e.id}: {path} has no test function {name}"


# --- the fields mean what they say ------------------------------------------------------------------
def test_gates_and_suite_level_follow_the_tests_fixtures():
    """gates: some test takes the optimizer/activation under test; suite-level: some test takes neither."""
    for e in catalog.entries():
        if not e.tests:
            continue
        takes = [bool(fixtures(t) & set(catalog.SUBJECT_FIXTURES)) for t in e.tests if t.startswith("theorems/")]
        gates = any(takes) or any(p.gates for p in e.parts)
        suite = (not all(takes)) or any(p.suite_level for p in e.parts) if takes else True
        assert (e.gates, e.suite_level) == (gates, suite), \
            f"{e.id}: catalogue says gates={e.gates}, suite_level={e.suite_level}; its tests say {gates}, {suite}"


def test_every_entry_is_complete():
    for e in catalog.entries():
        assert e.title and e.statement and e.sources, f"{e.id}: title, statement and sources are required"
        for s in e.sources:
            assert s.split()[0] in catalog.SOURCES or s == "torch.optim documentation", f"{e.id}: unknown source {s}"
        assert e.precisions and set(e.precisions) <= set(catalog.PRECISION_CLASSES), f"{e.id}: {e.precisions}"
        if "(" in e.id:
            assert e.precision_ and e.tests and not e.parts, f"{e.id}: a part needs its own tests and precision"
            assert lookup_parent(e).id == e.base


def lookup_parent(e):
    return next(t for t in catalog.CATALOG if e in t.parts)


def test_lookup_resolves_theorems_and_parts():
    t2, t2d = catalog.lookup("T2"), catalog.lookup("T2(d)")
    assert t2.id == "T2" and t2.title and t2.source and t2.module and t2.implemented
    assert t2d.id == "T2(d)" and t2d.title != t2.title and t2d.source
    assert catalog.lookup("T1 (c)").id == "T1(c)"
    assert catalog.lookup("T2" + "(z)") is None and catalog.lookup("T" + "99") is None and catalog.lookup("x") is None
    suite = [e.id for e in catalog.CATALOG if e.suite_level]
    assert "T7" in suite and "T3" not in suite, suite  # report.py lists these as not run in a gate
