"""Self-tests of T6 (theorems/test_nonconvergence_depth.py): the depth-monotonicity test on
independent samples and the born-dead regression against the independent reference can fail."""
import pytest

from kinkcheck.harness.core.device import placement as make_placement
from kinkcheck.harness.core.networks import Network, dead_layers_on_box
from kinkcheck.harness.oracles.inactivity import BORN_DEAD_REFERENCE, BORN_DEAD_REFERENCE_NETWORKS, \
    born_dead_reference_counts
from kinkcheck.theorems.test_nonconvergence_depth import assert_same_proportion, check_monotone_in_depth

PLACEMENT = make_placement()


def _events(widths_by_depth, seed=5, n=1 << 14):
    gen = PLACEMENT.generator(seed)
    lo, hi = PLACEMENT.tensor([-1.0]), PLACEMENT.tensor([1.0])
    return [dead_layers_on_box(Network.random([1] + w + [1], n, generator=gen, dtype=PLACEMENT.dtype), lo, hi).any(1)
            for w in widths_by_depth]


def test_t6_monotone_passes_on_independent_depths_and_rejects_mislabelled_depths():
    """Independent samples per depth pass; the same samples handed over deepest first (a sampler that
    mislabels depth) are rejected — the old running-maximum version could not fail."""
    events = _events([[2] * L for L in range(1, 7)])
    check_monotone_in_depth(events, "self-test")
    with pytest.raises(AssertionError, match="decreased from depth"):
        check_monotone_in_depth(events[::-1], "self-test")


def test_t6_born_dead_reference_is_reproducible_and_a_shifted_reference_is_rejected():
    """A fresh run of the independent computation (2000 networks, same seed) agrees with the stored
    reference under the same two-sample test, and a reference shifted by 0.1 is rejected."""
    small = born_dead_reference_counts(2, (2, 5), 2000, seed=1002)
    for depth in (2, 5):
        assert_same_proportion(small[depth], 2000, BORN_DEAD_REFERENCE[(2, depth)], BORN_DEAD_REFERENCE_NETWORKS,
                               what=f"reference w=2 L={depth}")
    k = BORN_DEAD_REFERENCE[(3, 10)]
    with pytest.raises(AssertionError, match="differs from the reference"):
        assert_same_proportion(k - 2000, BORN_DEAD_REFERENCE_NETWORKS, k, BORN_DEAD_REFERENCE_NETWORKS,
                               what="shifted reference")
