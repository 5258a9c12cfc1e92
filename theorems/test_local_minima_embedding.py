"""T7 — embedding critical points into larger architectures.

[GM] Lemma 2.11, Prop 2.12, Prop 3.3, Cor 3.14: appending to a hidden layer a neuron with incoming
weights 0, bias < 0 (inactive near any bounded D) and outgoing weight 0 changes neither the
realization on D nor the risk; the gradient equals θ's on the old coordinates and is exactly 0 on
the new ones. So critical points (and local minima) of width h embed into every width ≥ h, and
with m₀ > m₁ > … > m_H the width-H landscape has critical points at ≥ H + 1 risk levels.
"""
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harness.assertions import assert_all_exactly_zero, assert_bitwise_equal
from harness.examples import scaled
from harness.losses import mse
from harness.networks import Network
from harness.report import figure


def embed_neuron(net: Network, layer: int, bias: float = -1.0) -> Network:
    """Append one neuron to hidden layer ``layer`` (1-based): incoming weights 0, bias ``bias``
    (< 0: inactive everywhere), outgoing weights 0. New neuron is the last of its layer."""
    ws, bs = [w.detach().clone() for w in net.weights], [b.detach().clone() for b in net.biases]
    w_in, b_in, w_out = ws[layer - 1], bs[layer - 1], ws[layer]
    ws[layer - 1] = torch.cat([w_in, torch.zeros_like(w_in[:, :1, :])], dim=1)
    bs[layer - 1] = torch.cat([b_in, torch.full_like(b_in[:, :1], bias)], dim=1)
    ws[layer] = torch.cat([w_out, torch.zeros_like(w_out[:, :, :1])], dim=2)
    return Network(ws, bs)


def risk_and_gradient(net: Network, x, y):
    trainable = net.trainable()
    risk = mse(trainable.realization(x), y)
    grads = torch.autograd.grad(risk.sum(), trainable.parameters())
    return risk.detach(), trainable.realization(x).detach(), grads


def old_part(g_new: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return g_new[tuple(slice(0, n) for n in like.shape)]


def check_embedding(net: Network, layer: int, x, y, embed=embed_neuron):
    """The property body (embedding injectable for the mutation self-tests)."""
    big = embed(net, layer)
    risk, out, grads = risk_and_gradient(net, x, y)
    risk_big, out_big, grads_big = risk_and_gradient(big, x, y)
    assert_bitwise_equal(out_big, out, what="realization after embedding")
    assert_bitwise_equal(risk_big, risk, what="risk after embedding")
    for k, (g, g_big) in enumerate(zip(grads, grads_big)):
        old = old_part(g_big, g)
        assert_bitwise_equal(old, g, what=f"gradient of parameter {k} on the old coordinates")
        mask = torch.ones_like(g_big, dtype=torch.bool)
        mask[tuple(slice(0, n) for n in g.shape)] = False
        assert_all_exactly_zero(g_big[mask], f"gradient of parameter {k} on the new coordinates")
    return risk


@pytest.mark.theorem("T7")
@settings(max_examples=scaled(20))
@given(hidden=st.lists(st.integers(0, 5), min_size=1, max_size=3), d=st.integers(1, 3),
       n_points=st.integers(2, 24), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_embedded_neuron_preserves_realization_risk_and_gradient(placement, hidden, d, n_points, data, seed):
    """[GM] Lemma 2.11, Prop 2.12, Prop 3.3: the network with an appended neuron (incoming 0,
    bias < 0, outgoing 0) has the same realization and risk bit for bit, the same gradient on the
    old coordinates bit for bit, and gradient exactly 0 on the new ones (widths 0..5, 16 networks)."""
    layer = data.draw(st.integers(1, len(hidden)))
    gen = placement.generator(seed)
    net = Network.random([d] + hidden + [1], 16, generator=gen, dtype=placement.dtype, device=placement.device,
                         init="normal")  # (nn.Linear's init is undefined for width 0)
    x = torch.rand(n_points, d, generator=gen, dtype=placement.dtype, device=placement.device) * 4 - 2
    y = torch.randn(n_points, 1, generator=gen, dtype=placement.dtype, device=placement.device)
    check_embedding(net, layer, x, y)
    event(f"embedded into width {hidden[layer - 1]} -> {hidden[layer - 1] + 1}")


def _train_width(width: int, x, y, restarts: int, placement, seed: int) -> Network:
    """Approximate critical points of the width-`width` shallow landscape: full-batch L-BFGS with
    strong-Wolfe line search from `restarts` initializations (a tool here, not a subject)."""
    net = Network.random([1, width, 1], restarts, generator=placement.generator(seed),
                         dtype=placement.dtype, device=placement.device, init="normal").trainable()
    optimizer = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=2000, tolerance_grad=1e-12,
                                  tolerance_change=1e-15, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = mse(net.realization(x), y).sum()
        value.backward()
        return value

    optimizer.step(closure)
    return Network([w.detach() for w in net.weights], [b.detach() for b in net.biases])


CRITICAL_TOL = 1e-6  # ‖∇L‖∞ at the trained points: L-BFGS stops near, not at, critical points


@pytest.mark.theorem("T7")
def test_width_h_landscape_has_h_plus_one_risk_levels(placement):
    """[GM] Cor 3.14: with a target that H = 3 neurons represent and fewer do not (m₀ > … > m₃), the
    best approximate critical points of widths h = 0..3, embedded into width 3, are (approximately,
    ‖∇L‖∞ ≤ 1e-6) critical points of the width-3 landscape at 4 distinct risk levels."""
    H = 3
    x = torch.linspace(-1, 1, 33, dtype=placement.dtype, device=placement.device).unsqueeze(-1)
    y = torch.relu(x + 0.5) - 2 * torch.relu(x) + 1.5 * torch.relu(x - 0.5)  # 3 kinks
    levels = []
    for h in range(H + 1):
        trained = _train_width(h, x, y, restarts=8, placement=placement, seed=h)
        embedded = trained
        for _ in range(H - h):
            embedded = embed_neuron(embedded, 1)
        risk_small = check_embedding(trained, 1, x, y) if h < H else risk_and_gradient(trained, x, y)[0]
        risk, _, grads = risk_and_gradient(embedded, x, y)
        assert_bitwise_equal(risk, risk_small, what=f"risk of the width-{h} point embedded into width {H}")
        grad_norm = torch.stack([g.flatten(1).abs().amax(dim=1) for g in grads]).amax(dim=0)
        critical = grad_norm <= CRITICAL_TOL
        assert bool(critical.any()), f"no approximately critical point at width {h}: {grad_norm.min().item()}"
        levels.append(float(risk[critical].min()))
    figure("risk levels of embedded critical points (widths 0..3)", [f"{r:.4g}" for r in levels])
    variance = float(((y - y.mean()) ** 2).mean())
    assert abs(levels[0] - variance) <= 1e-12 * variance, "width 0: the best constant has risk c*"
    assert all(a > b + 1e-9 for a, b in zip(levels, levels[1:])), f"risk levels not distinct: {levels}"
