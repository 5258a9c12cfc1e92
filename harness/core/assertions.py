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
