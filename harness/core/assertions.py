"""Assertion helpers that say what they compare.

"Bit for bit" means the IEEE bit patterns agree (a NaN never equals a number): tensors are compared
through an integer view of their storage. The sign of a zero is ignored unless asked for
(``signed_zeros=True``): IEEE addition turns -0.0 + 0.0 into +0.0, so an optimizer that adds an
exactly-zero step to a parameter stored as -0.0 (L-BFGS does) leaves its value, not its sign bit.
"""
from __future__ import annotations

import torch

_INT_VIEW = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}


def bits(t: torch.Tensor, signed_zeros: bool = False) -> torch.Tensor:
    t = t.detach().contiguous()
    if not t.is_floating_point():
        return t
    if not signed_zeros:
        t = torch.where(t == 0, torch.zeros_like(t), t)
    return t.view(_INT_VIEW[t.element_size()])


def assert_bitwise_equal(actual: torch.Tensor, expected: torch.Tensor, what: str = "tensor",
                         signed_zeros: bool = False) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    differ = bits(actual, signed_zeros) != bits(expected, signed_zeros)
    if bool(differ.any()):
        idx = differ.nonzero()[0].tolist()
        raise AssertionError(f"{what} differ bit for bit at {int(differ.sum())} of {differ.numel()} "
                             f"entries, first at {idx}: {actual[tuple(idx)].item()!r} != "
                             f"{expected[tuple(idx)].item()!r}")


def assert_bitwise_equal_where(actual: torch.Tensor, expected: torch.Tensor, mask: torch.Tensor,
                               what: str = "tensor", signed_zeros: bool = False) -> None:
    """Bit-for-bit equality on the entries selected by ``mask``."""
    assert_bitwise_equal(actual[mask], expected[mask], what, signed_zeros)


def assert_all_exactly_zero(t: torch.Tensor, what: str) -> None:
    nonzero = t != 0
    if bool(nonzero.any()):
        idx = nonzero.nonzero()[0].tolist()
        raise AssertionError(f"{what} is not exactly zero at {int(nonzero.sum())} entries, "
                             f"first at {idx}: {t[tuple(idx)].item()!r}")


def assert_reached(reached, regime: str) -> None:
    """Non-vacuity, in one wording: the generated cases reached the regime the theorem is about
    (a neuron was inactive, the oscillation phase was entered, the subject moved). A property whose
    cases never get there checks nothing, so it fails rather than passes."""
    __tracebackhide__ = True
    if not bool(reached):
        from kinkcheck.harness.core.records import theorem_id

        raise AssertionError(f"non-vacuity ({theorem_id()}): the generated cases never reached the regime "
                             f"the theorem is about: {regime}")


# ----------------------------------------------------------------------------- non-vacuity over a test's cases
# "The subject moved" is decided per test, not per case. A case in which a correct subject moves nothing
# by design -- rectified Adam skipping its update while rho_t <= 4 (with beta2 = 0.5, rho_inf = 3: it never
# moves), an update below half an ulp of every coordinate -- tells nothing either way: the claim holds
# there trivially, and failing the whole test on it (as a per-case ``assert_reached`` did) failed correct
# subjects as "vacuous". Such a case is counted (a Hypothesis event, and the figure STILL_FIGURE in the
# report) and the test goes on. The test is vacuous -- the subject's FAIL "never reached the regime" --
# when fewer than MIN_MOVED_CASES of its cases moved:
#
#   MIN_MOVED_CASES = 1: the claims are universal (every case in the regime must satisfy them), so one
#   case that moved is one real check and a single counterexample among the cases that moved fails the
#   test as before; zero is no check at all. The claim's own assertions run on every case before it is
#   counted, so a subject that breaks the claim in the cases where it moves at all is caught there (a
#   moved frozen coordinate is a FAIL whether or not anything else moved), and one that never moves is
#   reported "never reached the regime". How many cases moved nothing is in the report beside the
#   verdict, so a pass that rests on few cases is visible.
#
# The decision needs the end of the test: ``case_moved`` tallies per test (the running record's node id)
# and the plugin calls ``close_cases`` when the test's call returns (kinkcheck.plugin.verdicts.time_limit).
# Outside a kinkcheck test record (no plugin) every case is its own test, as before.
MIN_MOVED_CASES = 1
STILL_FIGURE = "cases in which the subject moved nothing (counted, no verdict either way)"
STILL_EVENT = "the subject moved nothing in this case (counted, no verdict either way)"
_tallies: dict[str, list] = {}  # node id -> [cases moved, cases still, the first still case in words]


def case_moved(moved, regime: str, detail: str = "") -> bool:
    """Count one case of the running test: whether the subject moved in it (``regime`` says what moving
    means, ``detail`` describes the case: its hyperparameters, the horizon note). Returns ``moved``; the
    caller runs the checks that need a move (built state, ...) only when it is True. Never fails a case:
    the test-level rule above decides."""
    __tracebackhide__ = True
    from kinkcheck.harness.core.records import current, figure

    moved = bool(moved)
    record = current()
    if record is None:
        assert_reached(moved, f"{regime}{'; ' + detail if detail else ''}")
        return moved
    tally = _tallies.setdefault(record.nodeid, [0, 0, ""])
    if moved:
        tally[0] += 1
        return True
    tally[1] += 1
    tally[2] = tally[2] or f"{regime}{' (' + detail + ')' if detail else ''}"
    figure(STILL_FIGURE, 1, keep="sum")
    try:
        from hypothesis import event
        from hypothesis.control import currently_in_test_context

        if currently_in_test_context():
            event(STILL_EVENT)
    except ImportError:  # Hypothesis is a dependency; a test outside it still has its figure
        pass
    return False


def close_cases(nodeid: str, decide: bool = True) -> None:
    """The end of a test: forget its tally and, when ``decide`` (its call returned without failing) and
    it counted cases with ``case_moved``, fail it as vacuous when fewer than MIN_MOVED_CASES moved."""
    __tracebackhide__ = True
    tally = _tallies.pop(nodeid, None)
    if tally is None or not decide:
        return
    moved, still, first = tally
    if moved < MIN_MOVED_CASES:
        assert_reached(False, f"{first}; the subject moved in {moved} of the test's {moved + still} cases (at "
                              f"least {MIN_MOVED_CASES} needed: a case that moved nothing is counted, not judged)")
