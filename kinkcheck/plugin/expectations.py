"""The expectations file (``--xfails-file``): known deviations, one ``THEOREM::SUBJECT  # reason``
per line; ``THEOREM::*`` matches every subject. Plain text parsing, nothing else."""
from __future__ import annotations

from pathlib import Path


class ExpectationsError(ValueError):
    """A missing or malformed expectations file (a usage error)."""


def read(path: str | None) -> dict[tuple[str, str], str]:
    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise ExpectationsError(f"--xfails-file {path}: no such file")
    out = {}
    for n, raw in enumerate(file.read_text().splitlines(), 1):
        line, _, reason = raw.partition("#")
        line = line.strip()
        if not line:
            continue
        theorem, sep, subject = line.partition("::")
        if not sep or not theorem.strip() or not subject.strip():
            raise ExpectationsError(f"--xfails-file {path}:{n}: expected 'THEOREM::SUBJECT  # reason', got {raw!r}")
        out[(theorem.strip(), subject.strip())] = reason.strip() or "listed as a known deviation"
    return out


def match(expectations: dict[tuple[str, str], str], theorem: str, subject: str):
    """The (key, reason) of the line that lists this cell, or None."""
    for key in ((theorem, subject), (theorem, "*")):
        if key in expectations:
            return key, expectations[key]
    return None
