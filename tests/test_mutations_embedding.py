"""Mutation self-tests for T7 (embedding, levels, Prop 3.11, Prop 3.18, Cor 3.15-3.17) and T8: each
broken component (tests/broken/embedding.py) must be rejected, and the correct one accepted."""
import random
from fractions import Fraction

import pytest
import torch

from kinkcheck.harness.core.device import placement as make_placement
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.oracles import shallow_exact as ex
from kinkcheck.theorems import test_activation_hierarchies as hier
from kinkcheck.theorems import test_critical_point_risk as t8
from kinkcheck.theorems import test_inactive_neuron_deletion as t7e
from kinkcheck.theorems import test_local_minima_embedding as t7
from tests.broken import embedding as broken

PLACEMENT = make_placement()
F = Fraction
XS = [F(k, 4) for k in (-7, -3, 0, 2, 5, 8)]
YS = [F(k, 4) for k in (3, -2, 4, -5, 1, 6)]


def _shallow_case(seed=5):
    gen = PLACEMENT.generator(seed)
    net = Network.random([2, 3, 1], 16, generator=gen, dtype=PLACEMENT.dtype, init="normal")
    x = torch.rand(12, 2, generator=gen, dtype=PLACEMENT.dtype) * 4 - 2
    y = torch.randn(12, 1, generator=gen, dtype=PLACEMENT.dtype)
    return net, x, y


# ---------------------------------------------------------------------- T7(a)
def test_t7a_float_embedding_passes_and_broken_embeddings_rejected():
    net, x, y = _shallow_case()
    assert t7.check_embedding(net, 1, x, y) > 0
    with pytest.raises(AssertionError, match="new coordinates"):
        t7.check_embedding(net, 1, x, y, embed=broken.embed_active_neuron)
    with pytest.raises(AssertionError, match="rounding bound"):
        t7.check_embedding(net, 1, x, y, embed=broken.embed_perturbing_old_weight)


def test_t7a_bound_is_not_vacuous_at_one_ulp_scale():
    """The derived bound is tight enough to see a relative change of 2^-20 but admits the kernels'
    rounding (measured ratio difference/bound recorded by the property)."""
    net, x, y = _shallow_case(seed=424242)
    t7.check_embedding(net, 1, x, y)


def test_t7a_exact_embedding_passes_and_broken_embeddings_rejected():
    gen = torch.Generator().manual_seed(3)
    net = Network.random([2, 3, 2, 1], 1, generator=gen, init="normal")
    x = torch.rand(6, 2, generator=gen, dtype=torch.float64) * 4 - 2
    y = torch.randn(6, 1, generator=gen, dtype=torch.float64)
    t7.check_embedding_exact(net, 1, x, y)
    with pytest.raises(AssertionError, match="new coordinates"):
        t7.check_embedding_exact(net, 1, x, y, embed=broken.embed_active_neuron)
    with pytest.raises(AssertionError, match="T7\\(a\\)"):
        t7.check_embedding_exact(net, 2, x, y, embed=broken.embed_perturbing_old_weight)


# ---------------------------------------------------------------------- T7(b)
@pytest.mark.parametrize("embed", [broken.embed_exact_at_kink, broken.embed_exact_active])
def test_t7b_rejects_embeddings_that_break_local_minimality(embed):
    assert t7.check_local_minima_embed(XS, YS, widths=(1,), rng=random.Random(0)) > 0
    with pytest.raises(AssertionError, match="T7\\(b\\)"):
        t7.check_local_minima_embed(XS, YS, widths=(1,), embed=embed, rng=random.Random(0))


# ---------------------------------------------------------------------- T7(c)
def test_t7c_levels_pass_and_saddle_representative_rejected():
    reps = t7.landscape_levels(t7.LEVEL_XS, t7.LEVEL_YS, t7.REALIZING, t7.LEVEL_H)
    t7.check_levels(t7.LEVEL_XS, t7.LEVEL_YS, reps, t7.SADDLE_WIDTH_1, t7.LEVEL_H)
    saddle = t7.SADDLE_WIDTH_1
    while saddle.width < t7.LEVEL_H:
        saddle = ex.embed(saddle, None, -1)
    with pytest.raises(AssertionError, match="not a certified local minimum"):
        t7.check_levels(t7.LEVEL_XS, t7.LEVEL_YS, [(reps[0][0], saddle)] + reps[1:], t7.SADDLE_WIDTH_1, t7.LEVEL_H)


def test_t7c_rejects_an_oracle_whose_levels_are_not_minima():
    reps = t7.landscape_levels(t7.LEVEL_XS, t7.LEVEL_YS, t7.REALIZING, t7.LEVEL_H,
                               oracle=broken.best_risks_kinks_at_data_only)
    values = [m for m, _ in reps]
    with pytest.raises(AssertionError, match="below the oracle"):
        t7.check_oracle_against_training(t7.LEVEL_XS, t7.LEVEL_YS, values)


# ---------------------------------------------------------------------- T7(d)
def test_t7d_strict_decrease_passes_and_capped_oracle_rejected():
    t7.check_strict_decrease(XS, YS)
    with pytest.raises(AssertionError, match="T7\\(d\\)"):
        t7.check_strict_decrease(XS, YS, oracle=broken.best_risks_capped_width)


def test_t7d_rejects_the_kinks_at_data_only_oracle():
    with pytest.raises(AssertionError, match="beats the oracle"):
        t7.check_strict_decrease(XS, YS, oracle=broken.best_risks_kinks_at_data_only)


# ---------------------------------------------------------------------- T7(e)
def _inactive_case():
    net = ex.Shallow(F(1, 2), (ex.Neuron((F(1),), F(-1, 4), F(3, 2)), ex.Neuron((F(1),), F(-3), F(5)),
                               ex.Neuron((F(-1),), F(1, 2), F(-1))))
    assert ex.inactive_neurons(net, XS) == [1]
    return net


def test_t7e_exact_deletion_passes_and_wrong_neuron_rejected():
    net = _inactive_case()
    t7e.check_deletion_exact(XS, YS, net, 1)
    with pytest.raises(AssertionError, match="changed the realization"):
        t7e.check_deletion_exact(XS, YS, net, 1, delete=broken.delete_exact_wrong_neuron)


def test_t7e_float_deletion_passes_and_wrong_neuron_rejected():
    net, x, y = _shallow_case()
    z = net.preactivations(x)[0][..., 1]
    net.biases[0][:, 1] -= z.amax(dim=-1) + 1
    assert t7e.check_deletion_float(net, x, y, 1, 1) > 0
    with pytest.raises(AssertionError, match="realization changed"):
        t7e.check_deletion_float(net, x, y, 1, 1, delete=broken.delete_float_wrong_neuron)


# ---------------------------------------------------------------------- T7(f)
def test_t7f_rejects_an_activation_not_constant_below_zero():
    net = ex.Shallow(F(0), (ex.Neuron((F(1),), F(-1, 4), F(1)),))
    hier.check_embedding_preserves(net, XS, YS, ex.clipped(1))
    hier.check_hierarchy(XS, YS, ex.repu(2))
    with pytest.raises(AssertionError, match="new coordinates|local minimum"):
        hier.check_embedding_preserves(net, XS, YS, broken.LEAKY)


def test_t7f_rejects_embedding_with_active_neuron():
    net = ex.Shallow(F(0), (ex.Neuron((F(1),), F(-1, 4), F(1)),))
    with pytest.raises(AssertionError, match="new coordinates"):
        hier.check_embedding_preserves(net, XS, YS, ex.clipped(1), embed=broken.embed_exact_active)


# ---------------------------------------------------------------------- T8
def test_t8_exact_passes_and_gradient_without_bias_rejected():
    critical, _strict = t8.check_exact_critical_points(XS, YS)
    assert critical > 0
    with pytest.raises(AssertionError, match="c\\*"):
        t8.check_exact_critical_points(XS, YS, gradient=broken.gradient_without_output_bias)


def test_t8_trained_passes_and_network_without_output_bias_rejected():
    gen = torch.Generator().manual_seed(2)
    net = Network.random([1, 3, 1], 2, generator=gen, init="torch")
    net.biases[-2][:] = -10.0  # inactive last hidden layer
    x = torch.rand(8, 1, generator=gen, dtype=torch.float64) * 2 - 1
    y = torch.randn(8, 1, generator=gen, dtype=torch.float64) + 2.0
    critical, _strict, _excess = t8.check_trained_critical_points(net, x, y)
    assert critical == 2
    with pytest.raises(AssertionError, match="exceeds c"):
        t8.check_trained_critical_points(net, x, y, realize=broken.realization_without_output_bias)


# ---------------------------------------------------------------------- the modules as a suite
MODULES = ("test_local_minima_embedding.py", "test_critical_point_risk.py", "test_inactive_neuron_deletion.py",
           "test_activation_hierarchies.py")


def test_t7_t8_modules_pass_as_a_suite(run_suite):
    r = run_suite("--all-theorems", modules=MODULES)
    assert r.ret == 0, r.text[-3000:]
