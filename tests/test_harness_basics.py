"""Self-checks of small harness pieces every theorem relies on (no theorem of their own)."""
import torch

from kinkcheck.harness.core.assertions import assert_bitwise_equal
from kinkcheck.harness.core.networks import Network, box_maximum, dead_layers_on_box, inactive_on_data, interval_bounds


def test_bitwise_equality_sees_signed_zeros_only_when_asked():
    assert_bitwise_equal(torch.tensor([-0.0]), torch.tensor([0.0]))
    try:
        assert_bitwise_equal(torch.tensor([-0.0]), torch.tensor([0.0]), signed_zeros=True)
    except AssertionError:
        pass
    else:
        raise AssertionError("-0.0 and 0.0 compared equal with signed_zeros=True")
    try:
        assert_bitwise_equal(torch.tensor([1.0]), torch.tensor([1.0 + 2**-23]))
    except AssertionError:
        return
    raise AssertionError("one ulp went unnoticed")


def test_box_maximum_is_attained_at_a_vertex():
    w = torch.tensor([[[1.0, -2.0]]], dtype=torch.float64)
    b = torch.tensor([[0.5]], dtype=torch.float64)
    lo, hi = torch.tensor([0.0, -1.0], dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64)
    assert box_maximum(w, b, lo, hi).item() == 0.5 + 1.0 + 2.0
    vertex = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    pre = (vertex @ w[0].T + b[0]).unsqueeze(0)
    assert pre.item() == 3.5 and not bool(inactive_on_data(pre).any())


def test_interval_bounds_contain_every_sampled_preactivation():
    gen = torch.Generator().manual_seed(0)
    net = Network.random([2, 4, 3, 1], 64, generator=gen, init="normal")
    lo, hi = torch.tensor([-1.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64)
    x = lo + torch.rand(500, 2, generator=gen, dtype=torch.float64) * (hi - lo)
    for (low, high), pre in zip(interval_bounds(net, lo, hi), net.preactivations(x)):
        assert bool((pre >= low.unsqueeze(1) - 1e-12).all() and (pre <= high.unsqueeze(1) + 1e-12).all())
    dead = dead_layers_on_box(net, lo, hi)
    for k, pre in enumerate(net.preactivations(x)):
        assert bool((pre[dead[:, k]] <= 0).all()), "a certified dead layer was active on a sample"
