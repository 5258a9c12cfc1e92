"""The expectations file (``--xfails-file``): known deviations, one per line, at the grain of the
deviation (issue #19 item 2)::

    [@DTYPE,DTYPE ]THEOREM::SUBJECT[::TEST]  # reason

- ``THEOREM::SUBJECT`` lists every test of that theorem for that subject (``SUBJECT`` may be ``*``);
- ``::TEST`` narrows it to one test function (``test_low_precision_iterates_stay_within_the_rounding_bound``)
  or one parametrization of it (``test_x[bfloat16]``: the id as pytest prints it, after the subject);
- ``@float16,bfloat16`` narrows it to the checks that *compute* in those dtypes: a test's own dtype
  parameter (T4's low-precision test runs in float32, bfloat16 and float16 inside a float64 run) or,
  for a test without one, the run's ``--dtype``. A low-precision line therefore never silences a float64
  check.

An expectation silences exactly the deviation it names. kinkcheck ships one for the built-in
torch.optim subjects (``kinkcheck/expectations/torch-builtin.txt``), applied only in runs without
``--optimizer``. Plain text parsing, nothing else (no torch).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple


class ExpectationsError(ValueError):
    """A missing or malformed expectations file (a usage error)."""


BUILTIN = Path(__file__).resolve().parents[1] / "expectations" / "torch-builtin.txt"


class Line(NamedTuple):
    """One expectation: the cell (theorem, subject), optionally one test and a set of dtypes."""

    theorem: str
    subject: str
    test: str | None = None
    dtypes: frozenset | None = None  # None: every dtype
    lineno: int = 0

    @property
    def text(self) -> str:
        prefix = f"@{','.join(sorted(self.dtypes))} " if self.dtypes else ""
        return f"{prefix}{self.theorem}::{self.subject}" + (f"::{self.test}" if self.test else "")


_DTYPES = ("float64", "float32", "bfloat16", "float16")
_TEST = re.compile(r"^test_\w+(\[[^\]\s]+\])?$")


def read(path: str | None, *, dtype: str | None = None) -> dict[Line, str]:
    """The lines of the file at ``path`` -> their reasons. (``dtype`` is accepted for compatibility and
    ignored: a line's dtypes are matched per test, by the dtype the test computes in.)"""
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
        dtypes = None
        if line.startswith("@"):
            spec, _, line = line[1:].partition(" ")
            dtypes = frozenset(d.strip() for d in spec.split(",") if d.strip())
            unknown = sorted(dtypes - set(_DTYPES))
            if not dtypes or unknown:
                raise ExpectationsError(f"--xfails-file {path}:{n}: unknown dtype(s) {unknown or spec!r} after '@' "
                                        f"(valid: {', '.join(_DTYPES)})")
            line = line.strip()
        parts = [p.strip() for p in _split_cell(line)]
        if len(parts) not in (2, 3) or not all(parts):
            raise ExpectationsError(f"--xfails-file {path}:{n}: expected '[@dtypes ]THEOREM::SUBJECT[::TEST]  # "
                                    f"reason', got {raw!r}")
        test = parts[2] if len(parts) == 3 else None
        if test is not None and not _TEST.match(test):
            raise ExpectationsError(f"--xfails-file {path}:{n}: {test!r} is not a test name (test_..., optionally "
                                    f"with a parametrization id in brackets)")
        key = Line(parts[0], parts[1], test, dtypes, n)
        out[key] = reason.strip() or "listed as a known deviation"
    return out


def _split_cell(text: str) -> list[str]:
    """Split ``THEOREM::SUBJECT[::TEST]`` at ``::`` outside brackets (a subject label may hold them)."""
    parts, depth, current, i = [], 0, [], 0
    while i < len(text):
        ch = text[i]
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth = max(0, depth - 1)
        if depth == 0 and text.startswith("::", i):
            parts.append("".join(current))
            current = []
            i += 2
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _test_matches(line_test: str | None, function: str | None, params_id: str | None) -> bool:
    if line_test is None:
        return True
    if function is None:
        return False
    name, _, rest = line_test.partition("[")
    if name != function:
        return False
    if not rest:
        return True
    return params_id is not None and rest.rstrip("]") in params_id.split("-")


def match(expectations: dict[Line, str], theorem: str, subject: str, *, test: str | None = None,
          params_id: str | None = None, dtype: str | None = None):
    """The (line, reason) of the first line that lists this check, or None.

    ``test``: the test function's name; ``params_id``: its parametrization id (``adam[fused]-bfloat16``);
    ``dtype``: the dtype the check computes in (its own dtype parameter, else the run's)."""
    for key, reason in expectations.items():
        if key.theorem != theorem or key.subject not in (subject, "*"):
            continue
        if key.dtypes is not None and (dtype or "float64") not in key.dtypes:
            continue
        if not _test_matches(key.test, test, params_id):
            continue
        return key, reason
    return None


def item_coordinates(item, run_dtype: str | None) -> dict:
    """``test``, ``params_id`` and ``dtype`` of a pytest item for ``match``: the dtype a test computes in
    is its own ``dtype`` parameter when it has one, else the run's ``--dtype``."""
    callspec = getattr(item, "callspec", None)
    own = callspec.params.get("dtype") if callspec is not None else None
    dtype = str(own).removeprefix("torch.") if own is not None else (run_dtype or "float64")
    return dict(test=getattr(item, "originalname", None) or item.name.split("[")[0],
                params_id=callspec.id if callspec is not None else None, dtype=dtype)
