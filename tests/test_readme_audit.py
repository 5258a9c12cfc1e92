"""The README's audit table ("Auditing a framework") agrees with the audit measured here.

For each framework column of the table whose version is installed (torch 2.13.0 always; JAX and
TensorFlow columns when that version is installed), the spellings listed per derivative value
must be exactly the ReLU spellings the audit measures with that kink derivative (float64, CPU).
"""
import re
from pathlib import Path

import pytest
import torch

from kinkcheck.harness.audit import kinks
from kinkcheck.harness.audit import jax_kinks as kinks_jax
from kinkcheck.harness.audit import tf_kinks as kinks_tf

README = Path(__file__).resolve().parents[1] / "README.md"
pytestmark = pytest.mark.skipif(not torch.__version__.startswith("2.13.0"),
                                reason="the README table is measured on torch 2.13.0")


def _cells(row: str) -> list[str]:
    return [c.strip() for c in re.findall(r"(?:`[^`]*`|[^|`])+", row.strip().strip("|"))]


def readme_table() -> dict[str, dict[float, set[str]]]:
    """{column header: {derivative value: spelling names}} from the README's audit table."""
    text = README.read_text()
    section = text.split("## Auditing a framework", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = next(r for r in rows if _cells(r)[0].startswith("derivative at"))
    names = _cells(header)[1:]
    table = {n: {} for n in names}
    for row in rows[rows.index(header) + 1:]:
        cells = _cells(row)
        if not re.match(r"^-?[0-9.]+", cells[0]):
            continue
        value = float(re.match(r"^-?[0-9.]+", cells[0]).group())
        for name, cell in zip(names, cells[1:]):
            table[name][value] = _spellings(cell)
    return table


def _spellings(cell: str) -> set[str]:
    """Backticked names outside parenthetical remarks; "`relu6` (at 0 and 6)" gives relu6@0, relu6@6."""
    cell = cell.replace("(at 0 and 6)", "@BOTH")
    names, depth = set(), 0
    for code, plain in re.findall(r"`([^`]+)`|([^`]+)", cell):
        if code and depth == 0:
            names.add(code)
        elif plain:
            if "@BOTH" in plain and depth == 0 and names:
                last = sorted(names, key=lambda n: cell.rfind(f"`{n}`"))[-1]
                names |= {f"{last}@0", f"{last}@6"} - {last}
                names.discard(last)
            depth += plain.count("(") - plain.count(")")
    return names


def measured(rows) -> dict[float, set[str]]:
    out: dict[float, set[str]] = {}
    for m in rows:
        if m.dtype == "float64" and m.device == "cpu" and not m.relative and m.d_pos == m.d_neg:
            out.setdefault(float(m.d_pos), set()).add(m.spelling)
    return out


def _column(table, word):
    hits = [k for k in table if word in k.lower()]
    return table[hits[0]] if hits else None


def test_torch_column_agrees_with_the_audit():
    table = readme_table()
    column = _column(table, "torch") or table.get("spellings")
    assert column, f"no torch column in the README audit table: {list(table)}"
    got = measured(kinks.measure(kinks.SPELLINGS, ("float64",), ("eager",), "cpu", positions=False))
    assert {v: s for v, s in column.items() if s} == got


@pytest.mark.parametrize("word,adapter", [("jax", kinks_jax), ("tensorflow", kinks_tf)])
def test_optional_framework_column_agrees_with_the_audit(word, adapter):
    column = _column(readme_table(), word)
    if column is None:
        pytest.skip(f"no {word} column in the README")
    ok, text = adapter.available()
    if not ok:
        pytest.skip(text)
    title = next(k for k in readme_table() if word in k.lower())
    if adapter.version() not in title:
        pytest.skip(f"README column is for {title}, installed {text}")
    got = measured(adapter.measure(("float64",)))
    assert {v: s for v, s in column.items() if s} == {v: s for v, s in got.items() if v in column}
