"""T2 — inactive-neuron invariance.

[GM] Thm 4.2 (proof, eqs. (60)-(67)), Lemmas 4.8, 4.9; [OR] Thm 1.2 (mechanism): a hidden neuron
that is inactive on the data receives an exactly-zero generalized gradient, so every gradient
method started from zero state leaves its incoming parameters untouched and it stays inactive.

The layout an optimizer subject is trained on is declared, not assumed (``layout_of``): B networks
stacked into 3-D weights and 2-D biases are B real networks only for a coordinatewise update, so only a
subject declared coordinatewise (a built-in whose family record is ``elementwise``, or a spec with
``?coordinatewise=True``) gets that batched layout. Every other subject is trained on one network's
real layers per example (``Network.real``): weights ``(out, in)`` and biases ``(out,)`` as separate
tensors -- for a family that takes 2-D parameters only (muon) and no ``matrix_flag`` to route the
biases elsewhere, biases as ``(out, 1)`` columns, so every parameter is a matrix and a dead neuron's
bias is a zero-gradient row like its weights. A matrix-wise optimizer (orthogonalisation, subspace
projection, block normalisation, per-tensor trust ratios) is judged on the layers a user trains.
"""
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.activations import clipping, repu
from kinkcheck.harness.core.assertions import (assert_all_exactly_zero, assert_bitwise_equal, assert_reached,
                                               case_moved)
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.losses import LOSSES
from kinkcheck.harness.core.guard import Guarded
from kinkcheck.harness.core.outcomes import OutOfScope, require
from kinkcheck.harness.oracles import decay_law
from kinkcheck.harness.core.networks import Network, box_maximum, inactive_on_box
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.experiments.revival import constructed_revival, constructed_revival_prediction, revival_search
from kinkcheck.harness.subjects.layouts import BATCHED, in_layout, layout_of, networks_per_example, of_network
from kinkcheck.harness.subjects.specs import out_of_scope_reason
from kinkcheck.harness.core.training import train
from kinkcheck.strategies.networks import networks_with_dead_layer, networks_with_inactive_neurons, seeds
from kinkcheck.strategies.optimizers import hyperparameters

losses = st.sampled_from(sorted(LOSSES))
TRAINING_LR = 0.01  # cap: generated networks are not normalised, a larger step may diverge

def how_many(layout: str):
    """Networks per example in the layout (harness/subjects/layouts.py)."""
    return st.integers(*networks_per_example(layout))


def moved(traj) -> bool:
    """Some parameter changed (any layout)."""
    return any(bool((a != b).any()) for a, b in zip(traj.initial, traj.final))


# Families whose update is Adam's normalised step: T2(e) checks their decay by the law each subject
# declares (its family record's, or the spec's ?decay_law=): decoupled keeps inactivity, coupled breaks it.
ADAM_LIKE = {"adam", "amsgrad", "adamw", "adamax", "nadam", "radam"}


def activations_under_theorem(activation):
    """The activation under test, plus the other activations constant on an interval."""
    return st.sampled_from([activation, clipping(-0.5, 1.0), clipping(0.0, 2.0), repu(2), repu(3)])


def _gradients(case, loss_name):
    net = case.net.trainable()
    loss = LOSSES[loss_name](net.realization(case.x, case.activation), case.y).sum()
    loss.backward()
    return net


def out_of_scope_with_displacement(subject, reason, after, before, dtype, *, optimizer=None, steps=None):
    """THEOREMS.md T2 (weight decay is outside [GM] Lemmas 4.8-4.9): report the configuration out of
    scope, carrying the measured displacement of the parameters the theorem would freeze. In
    float64 every decay changes a nonzero parameter by a relative amount far above the unit
    roundoff 2^-53 per step, so a displacement of 0 there means the subject ignored its decay: a FAIL.
    (In lower precision a tiny lr x decay may round away: recorded, not asserted.) Given the optimizer
    and the steps run, and a subject whose declared law is decoupled, the parameters must also be where
    that law puts them: scaled by prod (1 - lr lambda) ([GM] Setting 3.1: the neuron stays inactive, so
    its gradient stays 0), up to the rounding derived in ``harness/oracles/decay_law.py``."""
    moved = max((float((a - b).abs().max()) if a.numel() else 0.0 for a, b in zip(after, before)), default=0.0)
    figure("displacement of frozen parameters under decay", moved, keep="max")
    if dtype == torch.float64 and any(bool((b != 0).any()) for b in before):
        assert moved > 0, (f"T2: {subject.label} configured with {reason.split(' ')[0]} did not move the "
                           f"inactive neuron's parameters: the subject ignores its decay hyperparameter")
    if optimizer is not None and steps is not None and subject.decay_law == "decoupled":
        masks = [torch.ones_like(b, dtype=torch.bool) for b in before]
        law = decay_law.compare(subject, optimizer, list(before), list(after), masks, steps)
        if law is not None:
            figure("decay-law deviation / bound (decoupled)", law.max_deviation / law.bound if law.bound else 0.0,
                   keep="max")
            assert law.holds, (
                f"T2 ([GM] Setting 3.1, out of scope): {subject.label} declares decoupled weight decay, but an "
                f"inactive neuron's parameters do not follow it: {law.worst} (deviation {law.max_deviation:.3g} > "
                f"rounding bound {law.bound:.3g}); if it decays coupled (L2 in the gradient), declare "
                f"?decay_law='coupled'")
    raise OutOfScope("T2", reason, moved)


def _incoming(net, mask):
    w, b = net.incoming(1)
    return w[mask], b[mask]


@pytest.mark.theorem("T2")
@given(data=st.data(), loss_name=losses)
def test_inactive_neuron_gets_exactly_zero_gradient(activation, placement, data, loss_name):
    """[GM] Thm 4.2 proof, eqs. (60)-(62), Lemma 4.11: for any loss, the generalized gradient with
    respect to the incoming weights and bias of a neuron inactive on the data is exactly 0 — also
    at data points where its pre-activation sits exactly on the kink — and, when the activation is
    0 on its flat piece (ReLU, RePU), with respect to its outgoing weights."""
    case = data.draw(networks_with_inactive_neurons(placement, activations_under_theorem(activation)))
    net = _gradients(case, loss_name)
    w1, b1 = net.layer(1)
    assert_all_exactly_zero(w1.grad[case.inactive], "gradient of an inactive neuron's incoming weights")
    assert_all_exactly_zero(b1.grad[case.inactive], "gradient of an inactive neuron's bias")
    if case.activation.zero_when_flat:
        outgoing = net.weights[1].grad.transpose(-1, -2)[case.inactive]
        assert_all_exactly_zero(outgoing, "gradient of an inactive ReLU neuron's outgoing weights")
    if loss_name == "mse":  # non-vacuity: the output bias sees 2 * mean residual, never exactly 0 here
        assert_reached(bool(net.biases[-1].grad.ne(0).all()), "the output bias received no gradient")
    event(f"kinks on data: {'yes' if case.kinks_on_data else 'no'}")
    figure("neurons at an exact kink on the data", case.kinks_on_data, keep="sum")


@pytest.mark.theorem("T2")
@settings(max_examples=scaled(10))
@given(data=st.data(), steps=st.integers(1, 30), loss_name=losses, minibatch=st.booleans())
def test_inactive_neuron_never_moves(optimizer_subject, activation, placement, data, steps, loss_name, minibatch):
    """[GM] Thm 4.2 proof, eqs. (63)-(67), Lemmas 4.8-4.9: under any gradient method from zero
    state (weight_decay = 0), full batch or mini-batches from D, after n steps a neuron inactive on
    D has bit-identical incoming weights and bias and is still inactive — while the rest moved.
    Trained in the subject's declared layout (``layout_of``: real 2-D layers unless coordinatewise)."""
    layout = layout_of(optimizer_subject)
    case = data.draw(networks_with_inactive_neurons(placement, activations_under_theorem(activation),
                                                    batches=how_many(layout)))
    hp = data.draw(hyperparameters(optimizer_subject.family, max_lr=TRAINING_LR, dtype=placement.dtype))
    batches = None
    if minibatch:
        gen = placement.generator(data.draw(seeds))
        n = case.x.shape[0]
        batches = [torch.randperm(n, generator=gen, device=placement.device)[: max(1, n // 2)]
                   for _ in range(steps)]
    net = in_layout(case.net, layout)
    inactive = of_network(case.inactive, layout)
    before = _incoming(net, inactive)
    traj = train(net, case.x, case.y, optimizer_subject, hp, steps, activation=case.activation,
                 loss=LOSSES[loss_name], batches=batches)
    after = _incoming(net, inactive)
    if reason := out_of_scope_reason(traj.optimizer):
        out_of_scope_with_displacement(optimizer_subject, reason, after, before, placement.dtype,
                                       optimizer=traj.optimizer, steps=traj.steps)
    where = f" ({layout} layout)"
    assert_bitwise_equal(after[0], before[0], "incoming weights of inactive neurons" + where)
    assert_bitwise_equal(after[1], before[1], "biases of inactive neurons" + where)
    w1, b1 = net.incoming(1)  # inactive on the box in exact arithmetic (float64 on the dtype's values)
    still = inactive_on_box(w1.double(), b1.double(), case.box.lo.double(), case.box.hi.double(),
                            case.activation.flat_below)
    assert bool(still[inactive].all()), (
        f"T2(b) ([GM] Thm 4.2): an inactive neuron became active ({optimizer_subject}, {layout} layout)")
    if loss_name == "mse":  # non-vacuity (a non-smooth loss may sit at a critical point)
        # counted, not judged, per case (a half-precision update may round away: Adadelta's first steps,
        # ~lr sqrt(eps)); the test is vacuous when none of its cases learned (assertions.case_moved)
        case_moved(moved(traj), "no network learned anything", traj.horizon)
    event(f"steps: {'1' if steps == 1 else '2-9' if steps < 10 else '10+'}; minibatch: {minibatch}; layout: {layout}")


def assert_constant_on_data(net, case, activation, when):
    """The dead layer emits exactly 0 on every data point (bit for bit), so the realization is
    constant on D. The layers above see identical rows; a batched matmul may still round rows
    differently in the last bit (kernel tails), so constancy of the output allows 64 ulp."""
    pre, out = net.forward(case.x, activation)
    dead_out = activation(pre[case.dead_layer - 1]).detach()
    assert_all_exactly_zero(dead_out, f"output of the dead layer {case.dead_layer} on D {when}")
    out = out.detach() if net.batched else out.detach().unsqueeze(0)  # (B, N, 1) in every layout
    spread = (out - out[:, :1]).abs().max()
    assert spread <= 64 * torch.finfo(out.dtype).eps * (1 + out.abs().max()), (
        f"T2(c): realization not constant on D {when}: spread {spread.item()}")
    return out


def risk_and_tolerance(out, y):
    """(B,) risks, c* = Var(Y) and the tolerance of "risk >= c*", all in float64.

    In float64 (as before): both sides are float64 means of <= 64 squares (relative error
    <= 64 * 2^-53 ~ 7e-15); the tolerance 1e-12 * (1 + mean y^2) is over 100x that bound. In a lower
    precision the realization ``out`` and the targets are the dtype's values, upcast exactly; the
    claim is about a constant realization, and ``out`` is constant only up to its spread s (at most
    the 64 ulp assert_constant_on_data allows): for any realization, risk >= (sqrt(c*) - s)^2 >=
    c* - 2 s sqrt(c*), so the tolerance adds 2 s sqrt(c*) -- derived from the dtype's rounding, not
    tuned."""
    low = out.dtype != torch.float64
    out, y = out.double(), y.double()
    c_star = y.var(unbiased=False)
    risk = ((out - y) ** 2).mean(dim=(-2, -1))
    tol = 1e-12 * (1 + (y**2).mean())
    if not low:
        return risk, c_star, tol
    spread = (out.amax(dim=(-2, -1)) - out.amin(dim=(-2, -1))).max()
    return risk, c_star, tol + 2 * spread * c_star.sqrt()


def updates_rounded_away(net, case, activation, subject, hp, steps) -> bool:
    """Outside float64, when no network's layers above the dead one moved: in exact arithmetic a
    step with a non-zero gradient moves the parameters, but in a low precision an update below half
    an ulp of a parameter rounds away (bfloat16 keeps 8 significant bits). The same subject, the same
    hyperparameters and steps are run on the upcast network in float64 (the dtype the claim is
    judged in): True when some network moves there -- the regime was reached and this dtype's
    rounding absorbed the updates (recorded as a figure, the example still asserted freezing bit for
    bit). A subject that moves nothing in float64 either is caught by the non-vacuity check. ``net``: the
    untrained network in the subject's layout."""
    net64 = Network([w.detach().double() for w in net.weights], [b.detach().double() for b in net.biases]).trainable()
    traj = train(net64, case.x.double(), case.y.double(), subject, hp, steps, activation=activation)
    return moved(traj)


@pytest.mark.theorem("T2")
@settings(max_examples=scaled(6))
@given(data=st.data(), steps=st.integers(1, 20))
def test_dead_layer_freezes_everything_below_it(optimizer_subject, activation, placement, data, steps):
    """[OR] Thm 1.2 (mechanism), [GM] Lemma 4.8: if every neuron of hidden layer k is inactive on D,
    the realization is constant on D, layers 1..k get exactly zero gradient and stay bit-identical
    under training, the output stays constant, and the risk never drops below the best-constant
    risk c* = Var(Y).

    In any dtype freezing is asserted bit for bit; the risk tolerance is derived from the dtype's
    rounding of the realization (``risk_and_tolerance``). Outside float64 a run in which every update
    of the layers above rounded away is recorded, and non-vacuity is witnessed by the same subject
    run in float64 (``updates_rounded_away``). Trained in the subject's declared layout (``layout_of``)."""
    layout = layout_of(optimizer_subject)
    case = data.draw(networks_with_dead_layer(placement, batches=how_many(layout)))
    hp = data.draw(hyperparameters(optimizer_subject.family, max_lr=TRAINING_LR, dtype=placement.dtype))
    net = in_layout(case.net, layout)
    untrained = net.clone()
    frozen = [p.detach().clone() for p in net.parameters()[: 2 * case.dead_layer]]
    assert_constant_on_data(net, case, activation, "before training")
    traj = train(net, case.x, case.y, optimizer_subject, hp, steps, activation=activation)
    if reason := out_of_scope_reason(traj.optimizer):
        out_of_scope_with_displacement(optimizer_subject, reason,
                                       [p.detach() for p in net.parameters()[: 2 * case.dead_layer]], frozen,
                                       placement.dtype)
    for i, (p, p0) in enumerate(zip(net.parameters(), frozen)):
        assert_bitwise_equal(p.detach(), p0, f"parameter {i} (layer {i // 2 + 1} <= dead layer {case.dead_layer}, "
                                             f"{layout} layout)")
    out = assert_constant_on_data(net, case, activation, "after training")
    risk, c_star, tol = risk_and_tolerance(out, case.y)
    assert bool((risk >= c_star - tol).all()), (f"T2(c): risk {risk.min().item()} below c* = {c_star.item()} "
                                                f"(tolerance {float(tol):.3g})")
    learned = moved(traj)
    if placement.dtype != torch.float64 and not learned:
        learned = updates_rounded_away(untrained, case, activation, optimizer_subject, hp, steps)
        figure(f"examples whose every update rounded away in {str(placement.dtype)[6:]} (moved in float64)",
               int(learned), keep="sum")
    case_moved(learned, "the layers above the dead one did not learn", traj.horizon)
    figure("min risk / c* on a dead layer", float((risk / c_star).min()), keep="min")
    event(f"dead layer {case.dead_layer}; layout: {layout}")


@pytest.mark.theorem("T2", families={"sgd"})
@settings(max_examples=scaled(2))
@given(seed=seeds)
def test_sgd_inactivity_is_absorbing_at_any_time(optimizer_subject, placement, seed):
    """[GM] Lemma 4.8 with gradient history (THEOREMS.md T2(d)): plain full-batch SGD has no memory,
    so a neuron that becomes inactive on the data at any step — not only at initialization — keeps
    its incoming parameters bit for bit at every later step (searched over 4096 networks at once, or, for a
    subject not declared coordinatewise, over REAL_NETWORKS networks on real layers one at a time)."""
    search = revival_search(optimizer_subject, {"lr": 0.5, "weight_decay": 0.0}, placement, seed,
                            real_layers=layout_of(optimizer_subject) != BATCHED)
    assert_reached(search.deaths > 0, "no neuron died during training")
    assert search.moved_after_death == 0, (f"{search.moved_after_death} neurons moved after becoming "
                                           f"inactive on the data under {optimizer_subject.label}")
    figure("neurons that died mid-training (SGD)", search.deaths, keep="sum")


@pytest.mark.theorem("T2", families={"momentum", "nesterov"})
def test_momentum_can_revive_a_neuron_that_died_mid_training(optimizer_subject, placement):
    """[GM] Lemma 4.9 needs a zero gradient *history* (THEOREMS.md T2(d)), constructed at the
    specification's momentum 0.9 (computed, not searched; harness/experiments/revival.py): one hidden
    ReLU neuron on the data {0, 1/2, 1}, (w, b) = (-4, 5/2), lr 1/2. The first full-batch step
    makes it inactive on the data while its momentum buffer points along (+15/4, -3); with an
    exactly-zero gradient from then on the buffer alone carries it out of the inactive cone: active
    again after step 3 (momentum) / step 2 (nesterov), as the closed form predicts."""
    nesterov = optimizer_subject.family == "nesterov"
    hp = {"momentum": 0.9, "weight_decay": 0.0} | ({"nesterov": True} if nesterov else {})
    run = constructed_revival(optimizer_subject, hp, placement)
    predicted = constructed_revival_prediction(0.9, nesterov, len(run.inactive))
    u = torch.finfo(placement.dtype).eps / 2
    for n, ((w, b), (pw, pb, p_dead), dead) in enumerate(zip(run.incoming, predicted, run.inactive), 1):
        if n > 1 and not predicted[n - 2][2]:
            break  # the closed form holds up to the step that revives the neuron (then gradients return)
        # ~3n rounded operations of size <= 12 (buffer products, the updates): 64 n u (|p| + 12)
        tol = 64 * n * u * (abs(pw) + abs(pb) + 12)
        assert abs(w - pw) <= tol and abs(b - pb) <= tol, (
            f"T2(d) {optimizer_subject.label}: after step {n} the neuron is at (w, b) = ({w}, {b}), the "
            f"momentum closed form gives ({pw}, {pb})")
        assert dead == p_dead, (f"T2(d) {optimizer_subject.label}: after step {n} the neuron is "
                                f"{'inactive' if dead else 'active'} on the data; the closed form says otherwise")
    assert run.inactive[0], f"T2(d) {optimizer_subject.label}: the first step did not kill the neuron"
    assert run.zero_gradient_while_dead, f"T2(d) {optimizer_subject.label}: a dead neuron received a gradient"
    revived = next((n for n in range(2, len(run.inactive) + 1) if not run.inactive[n - 1]), None)
    assert revived is not None, (f"T2(d) {optimizer_subject.label}: the neuron that died at step 1 never "
                                 f"became active again (momentum 0.9 buffer lost?)")
    figure("step at which the constructed neuron revives (momentum 0.9)", revived, keep="max")


@pytest.mark.theorem("T2", families=ADAM_LIKE, decay_law="decoupled")
@given(data=st.data(), steps=st.integers(1, 20), decay=st.sampled_from([1e-3, 1e-2, 0.1]))
def test_decoupled_decay_preserves_inactivity(optimizer_subject, activation, placement, data, steps, decay):
    """[GM] Setting 3.1 (the inactive set is a cone), THEOREMS.md T2(e): decoupled weight decay
    (AdamW) scales an inactive neuron's (W_j, B_j) by 1 - lr*decay > 0 — its parameters move, but
    it stays inactive on D. (Generated with a positive margin so rounding cannot decide it.) The decay is
    raised where needed so that lr * decay >= the dtype's eps: a smaller factor 1 - lr*decay rounds the
    parameters back to themselves in bfloat16/float16 (in float32 it only raises decay when lr < 1.2e-4);
    lr * decay < 1 still. Up to rounding: each step rounds each parameter at most twice (the scalar in
    float32, the product to the dtype), so after k steps the box maximum of (W_j, B_j) is within
    gamma_{2k}(u) S of c^k times the exact one, S = sum_i |W_ji| max|z_i| + |B_j| at the start (u the
    dtype's unit roundoff); inactivity is asserted, the box maximum evaluated in float64, for every neuron
    whose starting margin exceeds gamma_{2k}(u) S: all of them in float64 and float32 (required), and in
    float16/bfloat16 the cases are drawn with margin 1 and at most 5 steps, so that some are. Trained in
    the subject's declared layout (``layout_of``)."""
    low = placement.half_precision
    margins = st.just(1.0) if low else st.sampled_from([0.125, 1.0])
    layout = layout_of(optimizer_subject)
    case = data.draw(networks_with_inactive_neurons(placement, st.just(activation), margins=margins,
                                                    batches=how_many(layout)))
    if low:
        steps = min(steps, 5)
    hp = data.draw(hyperparameters("adamw", dtype=placement.dtype))
    hp["weight_decay"] = max(decay, torch.finfo(placement.dtype).eps / hp["lr"])
    net = in_layout(case.net, layout)
    inactive = of_network(case.inactive, layout)
    before = _incoming(net, inactive)
    lo, hi = case.box.lo.double(), case.box.hi.double()
    w0, b0 = (t.double() for t in net.incoming(1))
    margin = -box_maximum(w0, b0, lo, hi)
    reach = torch.maximum(lo.abs(), hi.abs())
    size = (w0.abs() * reach[..., None, :]).sum(-1) + b0.abs()
    train(net, case.x, case.y, optimizer_subject, hp, steps, activation=activation)
    after = _incoming(net, inactive)
    assert_reached(bool(any((a != b).any() for a, b in zip(after, before))), "decoupled decay did not move the neuron")
    m = 2 * steps * torch.finfo(placement.dtype).eps / 2
    covered = inactive & (margin > m / (1 - m) * size)
    if low:
        require(bool(covered.any()), f"T2(e): no inactive neuron's margin exceeds gamma_2k(u) S in {placement.dtype} "
                                     "(the suite's data)")
    else:
        require(bool((covered == inactive).all()), "T2(e): an inactive neuron's margin is within the "
                                                    "float64/float32 rounding bound (the suite's data)")
    w1, b1 = net.incoming(1)
    still = box_maximum(w1.double(), b1.double(), lo, hi) <= 0
    assert bool(still[covered].all()), (
        f"T2(e) ([GM] Setting 3.1): decoupled weight decay ({optimizer_subject.label}, {layout} layout) made an "
        f"inactive neuron active whose margin exceeds the rounding of {steps} decay steps")
    figure("inactive neurons whose margin exceeds the decay's rounding (share)",
           float(covered.sum()) / max(1, int(inactive.sum())), keep="min")


@pytest.mark.theorem("T2", families={"adam", "amsgrad"}, decay_law="coupled")
@given(lr_exp=st.integers(6, 9), decay=st.sampled_from([1e-3, 1e-2, 0.1]))
def test_coupled_decay_breaks_inactivity(optimizer_subject, placement, lr_exp, decay):
    """THEOREMS.md T2(e) contrast to [GM] Lemma 4.9: coupled L2 decay feeds lambda*theta into Adam's
    normalised step, which moves every nonzero coordinate by about lr — a neuron inactive on D=[0,1]
    with bias -lr/4 becomes active after one step (exhibited). One neuron of a real layer: a (1, 1) weight
    and a (1,) bias, in every subject's layout (a batch of one network would be a 3-D tensor)."""
    lr = 2.0**-lr_exp
    w = placement.tensor([[-1.0]]).requires_grad_(True)
    b = placement.tensor([-lr / 4]).requires_grad_(True)
    lo, hi = placement.tensor([0.0]), placement.tensor([1.0])
    require(bool(inactive_on_box(w.detach(), b.detach(), lo, hi).all()),
            "T2(e): the constructed neuron is not inactive")
    opt = optimizer_subject.build([w, b], lr=lr, weight_decay=decay)
    x = placement.tensor([[0.0], [0.5], [1.0]])
    (torch.relu(x @ w.T + b).sum() * 0).backward()  # the data term: exactly zero gradient
    Guarded(optimizer_subject, opt).step(1)
    declare = (f" ({optimizer_subject.label} is checked as coupled (L2 in the gradient), its family's law; if it "
               f"decays decoupled, AdamW-style, declare it: ?decay_law='decoupled')")
    assert bool((b.detach() != -lr / 4).all()), \
        "T2(e) [GM] Lemma 4.9 contrast: coupled decay did not move the inactive neuron" + declare
    assert not bool(inactive_on_box(w.detach(), b.detach(), lo, hi).all()), \
        "T2(e) [GM] Lemma 4.9 contrast: coupled L2 decay left the neuron inactive (expected Adam's normalised " \
        "step to cross 0)" + declare
    figure("bias after one coupled-decay step / lr", float(b.detach().item() / lr))

