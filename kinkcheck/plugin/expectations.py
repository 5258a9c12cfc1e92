"""The expectations file (``--xfails-file``): known deviations, one ``THEOREM::SUBJECT  # reason``
per line; ``THEOREM::*`` matches every subject; a line may start with ``@float16,bfloat16`` to apply
only in runs of those ``--dtype``s. kinkcheck ships one for the built-in torch.optim subjects
(``kinkcheck/expectations/torch-builtin.txt``). Plain text parsing, nothing else."""
from __future__ import annotations

from pathlib import Path


class ExpectationsError(ValueError):
    """A missing or malformed expectations file (a usage error)."""


BUILTIN = Path(__file__).resolve().parents[1] / "expectations" / "torch-builtin.txt"


def read(path: str | None, *, dtype: str | None = None) -> dict[tuple[str, str], str]:
    """The lines of the file at ``path`` that apply in a run of ``dtype`` (float64 when None)."""
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
        if line.startswith("@"):
            dtypes, _, line = line[1:].partition(" ")
            if (dtype or "float64") not in {d.strip() for d in dtypes.split(",")}:
                continue
            line = line.strip()
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
