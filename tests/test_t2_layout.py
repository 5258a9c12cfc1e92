"""T2 judges an optimizer on the layers a user trains, not on a layout kinkcheck made up (issue #19, item 8).

T2's batched layout (B networks stacked into 3-D weights and 2-D biases) is B real networks only for a
coordinatewise update, so it is reserved for subjects declared coordinatewise (a built-in whose family
record is ``elementwise``, a spec with ``?coordinatewise=True``); every other subject is trained on real
layers (``harness/subjects/layouts.py`` ``layout_of``). One gate run judges four subjects:

- ``VectorCenteredSGD`` (tests/broken/layout.py) moves a dead neuron's bias only on a real layer: rejected
  by T2; declared coordinatewise (batched layout) it passes -- the batched layout cannot see it;
- ``NewtonSchulzSGD`` (tests/matrixwise_impls.py), a correct matrix-wise optimizer, keeps dead neurons
  on real layers: accepted; declared coordinatewise it is rejected -- the false alarm the batched layout
  raised for matrix-wise optimizers (alice, dash, scion, scionlight, muonclip in docs/thirdparty.md).
"""
from __future__ import annotations

import pytest
import torch

from kinkcheck.harness.core.device import seeded_generator
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.subjects.families import FAMILIES
from kinkcheck.harness.subjects.specs import SpecError, builtin_subjects, parse_optimizer_spec
from kinkcheck.harness.subjects.layouts import BATCHED, layout_of
from tests.conftest import optimizer_args

T2 = ("test_inactive_neuron_invariance.py",)
BROKEN = "generic=tests.broken.layout:VectorCenteredSGD"
CORRECT = "generic=tests.matrixwise_impls:NewtonSchulzSGD"
DECLARED = "?coordinatewise=True"


def test_only_declared_subjects_get_the_batched_layout():
    """Built-ins: batched exactly when the family record is elementwise; muon (2-D only) on real layers with
    column biases, the other non-elementwise families with vector biases. A user's subject is never
    assumed coordinatewise, whatever its family; a spec may declare it."""
    builtins = builtin_subjects(torch.device("cpu"), torch.float64)
    for subject in builtins:
        record = subject.record
        expected = BATCHED if record.elementwise else "column" if record.matrices_only else "vector"
        assert layout_of(subject) == expected, subject.label
    assert {s.family for s in builtins if layout_of(s) != BATCHED} >= {"adafactor", "lbfgs", "muon"}
    assert layout_of(parse_optimizer_spec("adam=torch.optim:Adam")) == "vector"
    assert layout_of(parse_optimizer_spec("adam=torch.optim:Adam" + DECLARED)) == BATCHED
    assert layout_of(parse_optimizer_spec("muon=torch.optim:Muon")) == "column"
    assert layout_of(parse_optimizer_spec("muon=torch.optim:Muon?matrix_flag='use_muon'")) == "vector"
    assert not FAMILIES["generic"].elementwise and not FAMILIES["muon"].elementwise


def test_coordinatewise_must_be_a_bool():
    with pytest.raises(SpecError, match="coordinatewise must be True or False"):
        parse_optimizer_spec("adam=torch.optim:Adam?coordinatewise='yes'")


@pytest.mark.parametrize("bias", ["vector", "column"])
def test_real_layers_are_the_batched_network_bit_for_bit(bias):
    """``Network.real(i)`` holds network i's values in 2-D weights and 1-D (or (l, 1)) biases and computes
    the batched program's realization. Values on the grid 1/8 (weights, biases) and 1/4 (inputs), at most
    5 terms per dot product: every product and sum is exact in float64, so any kernel's summation order
    gives the same bits and the comparison is bitwise."""
    def grid(t, step):
        return torch.round(t / step) * step

    net = Network.random([3, 5, 4, 1], 6, generator=seeded_generator(7), dtype=torch.float64, init="normal")
    net = Network([grid(w, 1 / 8) for w in net.weights], [grid(b, 1 / 8) for b in net.biases])
    x = grid(torch.randn(9, 3, generator=seeded_generator(8), dtype=torch.float64), 1 / 4)
    pre, out = net.forward(x)
    for i in range(net.batch):
        real = net.real(i, bias=bias)
        assert not real.batched and real.widths == net.widths == [3, 5, 4, 1]
        assert all(w.ndim == 2 for w in real.weights)
        assert all(b.shape == ((w.shape[0],) if bias == "vector" else (w.shape[0], 1))
                   for w, b in zip(real.weights, real.biases))
        real_pre, real_out = real.forward(x)
        assert torch.equal(real_out, out[i]) and all(torch.equal(a, b[i]) for a, b in zip(real_pre, pre))
        w, b = real.incoming(1)
        assert torch.equal(w, net.weights[0][i]) and torch.equal(b, net.biases[0][i])


def test_t2_judges_matrix_wise_optimizers_on_real_layers(run_suite):
    """One gate run, four subjects: the layout decides both verdicts (module docstring)."""
    run = run_suite(*optimizer_args(BROKEN, BROKEN + DECLARED, CORRECT, CORRECT + DECLARED),
                    "-k", "never_moves or freezes", modules=T2)
    wrong = run.verdicts({BROKEN: {"T2"}, CORRECT + DECLARED: {"T2"}}, accepted=(CORRECT, BROKEN + DECLARED))
    assert not wrong, "\n".join(wrong) + "\n" + run.text[-3000:]
    assert "biases of inactive neurons (vector layout) differ" in run.failure_text(BROKEN), run.text[-3000:]
    assert "(batched layout) differ" in run.failure_text(CORRECT + DECLARED), run.text[-3000:]
