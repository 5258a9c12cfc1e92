"""Whose fault a failed kinkcheck test is, and which kind of failure it is (issue #19: blame follows
the call).

The subject's FAIL is, and only is:

- a ``SubjectError``: raised by the one guarded path into the subject
  (``kinkcheck.harness.core.guard``: the subject raised, kind ``raised``), by the non-finite check
  (``non-finite``), or by construction (``not an optimizer``);
- a claim: an ``AssertionError`` raised where the suite states claims -- in a theorem module, or in the
  claim helpers ``harness/core/assertions.py`` (bit-for-bit equality, non-vacuity) and
  ``harness/core/stats.py`` (exact tests);
- ``SubjectTimeout``: the subject hung (``hung``): one call into it did not return for the time limit
  (``kinkcheck.plugin.verdicts``' watchdog).

Everything else -- an ``assert`` in a strategy or an oracle, any other exception type, a Hypothesis
error about the suite's strategies, a failing fixture, the suite's own code running past the time limit
between calls into the subject (``SuiteTimeout``) -- is the suite's ERROR, never the subject's.
"""
from __future__ import annotations

import functools
from pathlib import Path

CLAIM_HELPERS = ("harness/core/assertions.py", "harness/core/stats.py")


def leaves(exc) -> list[BaseException]:
    """The exceptions of a (possibly nested) exception group; Hypothesis reports several errors so."""
    subs = getattr(exc, "exceptions", None)
    if isinstance(subs, (tuple, list)):
        return [e for sub in subs for e in leaves(sub)]
    return [exc]


@functools.lru_cache(maxsize=1)
def _claim_roots() -> tuple[Path, ...]:
    from kinkcheck.harness.core import assertions, stats
    from kinkcheck.plugin.session import theorems_dir

    roots = [Path(assertions.__file__).resolve(), Path(stats.__file__).resolve()]
    root = theorems_dir()
    if root is not None:
        roots.append(root)
    return tuple(roots)


def _raised_in(exc: BaseException) -> Path | None:
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve()


def is_claim(exc: BaseException) -> bool:
    """An AssertionError the suite raised as a claim about the subject (see the module docstring)."""
    from kinkcheck.harness.core.outcomes import SubjectError

    if isinstance(exc, SubjectError):
        return True
    if not isinstance(exc, AssertionError):
        return False
    where = _raised_in(exc)
    if where is None:
        return False
    for root in _claim_roots():
        if where == root or root in where.parents:
            return True
    return False


def _is_subject_failure(exc: BaseException) -> bool:
    import pytest

    from kinkcheck.plugin.verdicts import SubjectTimeout

    return isinstance(exc, (SubjectTimeout, pytest.fail.Exception)) or is_claim(exc)


def is_suite_error(exc) -> bool:
    """Whether a failed test's exception is the suite's ERROR (not the subject's FAIL): some leaf is a
    ``HarnessError``, or no leaf is a failure of the subject."""
    from kinkcheck.harness.core.outcomes import HarnessError

    found = leaves(exc)
    if any(isinstance(e, HarnessError) for e in found):
        return True
    return not any(_is_subject_failure(e) for e in found)


def failure_kind(exc, theorem: str) -> str:
    """The report's word for a subject's failure: raised / non-finite / not an optimizer / hung /
    never reached the regime / does not follow the family recursion / violates the theorem."""
    from kinkcheck.harness.core.outcomes import SubjectError
    from kinkcheck.plugin.verdicts import SubjectTimeout

    kinds = []
    for e in leaves(exc):
        if isinstance(e, SubjectTimeout):
            kinds.append("hung")
        elif isinstance(e, SubjectError):
            kinds.append(e.kind)
        elif is_claim(e) or isinstance(e, AssertionError):
            text = str(e)
            if text.startswith("non-vacuity"):
                kinds.append("never reached the regime (vacuous)")
            elif "what torch.optim refuses" in text:
                kinds.append("accepts what torch.optim refuses")
            elif theorem.split("(")[0] == "T4":
                kinds.append("does not follow the family recursion")
            else:
                kinds.append("violates the theorem")
    return ", ".join(dict.fromkeys(kinds)) or "violates the theorem"


HINT = {
    "does not follow the family recursion":
        "T4 compares every iterate with the family's reference recursion: map the optimizer to the family "
        "whose update it implements (or to 'generic': only lr is passed and only family-independent "
        "theorems run); a decay law other than the family's is declared with ?decay_law='decoupled'; "
        "constructor names with ?rename={...}",
}
