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

from kinkcheck.harness.core.assertions import assert_all_exactly_zero
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.losses import mse
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.core.records import figure


def embed_neuron(net: Network, layer: int, bias: float = -1.0) -> Network:
    """Append one neuron to hidden layer ``layer`` (1-based): incoming weights 0, bias ``bias``
    (< 0: inactive everywhere), outgoing weights 0. New neuron is the last of its layer."""
    ws, bs = [w.detach().clone() for w in net.weights], [b.detach().clone() for b in net.biases]
    w_in, b_in, w_out = ws[layer - 1], bs[layer - 1], ws[layer]
    batch = w_in.shape[0]
    ws[layer - 1] = torch.cat([w_in, w_in.new_zeros(batch, 1, w_in.shape[2])], dim=1)
    bs[layer - 1] = torch.cat([b_in, b_in.new_full((batch, 1), bias)], dim=1)
    ws[layer] = torch.cat([w_out, w_out.new_zeros(batch, w_out.shape[1], 1)], dim=2)
    return Network(ws, bs)


def risk_and_gradient(net: Network, x, y):
    trainable = net.trainable()
    risk = mse(trainable.realization(x), y)
    grads = torch.autograd.grad(risk.sum(), trainable.parameters())
    return risk.detach(), trainable.realization(x).detach(), grads


def old_part(g_new: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return g_new[tuple(slice(0, n) for n in like.shape)]


# The theorem's equalities are exact, but in float64 a batched matmul reduces over the widened
# hidden layer with a different kernel path, so realizations and old-coordinate gradients may differ
# in the last bit (measured: 1 ulp; bit-identity is recorded as a figure). They are compared with a
# relative tolerance of 64 ulp of the network's largest entry; the new coordinates' gradient is
# compared exactly with 0.
GRADIENT_RTOL = 64 * torch.finfo(torch.float64).eps


def assert_close_to(actual, expected, what):
    scale = expected.flatten(1).abs().amax(dim=1).clamp_min(1e-300) if expected.numel() else None
    if scale is None:
        return
    err = (actual - expected).flatten(1).abs().amax(dim=1)
    assert bool((err <= GRADIENT_RTOL * scale).all()), f"{what}: differ by {(err / scale).max().item():.3g} (relative)"


def check_embedding(net: Network, layer: int, x, y, embed=embed_neuron):
    """The property body (embedding injectable for the mutation self-tests)."""
    big = embed(net, layer)
    risk, out, grads = risk_and_gradient(net, x, y)
    risk_big, out_big, grads_big = risk_and_gradient(big, x, y)
    assert_close_to(out_big, out, what="realization after embedding")
    assert_close_to(risk_big.unsqueeze(-1), risk.unsqueeze(-1), what="risk after embedding")
    figure("realization bit-identical after embedding", bool((out_big == out).all()), keep="min")
    for k, (g, g_big) in enumerate(zip(grads, grads_big)):
        old = old_part(g_big, g)
        assert_close_to(old, g, what=f"gradient of parameter {k} on the old coordinates")
        figure("old-coordinate gradients bit-identical", bool((old == g).all()), keep="min")
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
    bias < 0, outgoing 0) has the same realization, risk and gradient on the old coordinates (to 64 ulp:
    batched-matmul kernel paths; bit-identity recorded), and gradient exactly 0 on the new ones (widths 0..5, 16 networks)."""
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
    """[GM] Cor 3.14 (with Prop 2.12): for a target with m₀ > m₁ > m₂ > m₃ (3 kinks), approximate
    critical points (‖∇L‖∞ ≤ 1e-6) of widths h = 0..3 — width 0 the best constant, the others from
    L-BFGS restarts — embedded into width 3 keep their risk (to 64 ulp) and are critical points of the
    width-3 landscape; they lie at ≥ H + 1 = 4 distinct risk levels (distinct: relative gap > 1e-6)."""
    H = 3
    x = torch.linspace(-1, 1, 33, dtype=placement.dtype, device=placement.device).unsqueeze(-1)
    y = torch.relu(x + 0.5) - 2 * torch.relu(x) + 1.5 * torch.relu(x - 0.5)  # 3 kinks
    levels = []
    for h in range(H + 1):
        if h == 0:  # width 0: the realization is the output bias; its critical point is mean(Y)
            empty = x.new_zeros(1, 0, 1)
            trained = Network([empty, x.new_zeros(1, 1, 0)], [x.new_zeros(1, 0), y.mean().view(1, 1)])
        else:
            trained = _train_width(h, x, y, restarts=8, placement=placement, seed=h)
        embedded = trained
        for _ in range(H - h):
            embedded = embed_neuron(embedded, 1)
        risk_small = risk_and_gradient(trained, x, y)[0]
        risk, _, grads = risk_and_gradient(embedded, x, y)
        assert_close_to(risk.unsqueeze(-1), risk_small.unsqueeze(-1), what=f"risk of width-{h} points embedded")
        grad_norm = torch.stack([g.flatten(1).abs().amax(dim=1) for g in grads]).amax(dim=0)
        levels += [float(r) for r in risk[grad_norm <= CRITICAL_TOL]]
    distinct = []
    for r in sorted(levels, reverse=True):
        if not distinct or distinct[-1] - r > 1e-6 * distinct[-1]:
            distinct.append(r)
    figure("distinct risk levels of critical points in the width-3 landscape", [f"{r:.4g}" for r in distinct])
    variance = float(((y - y.mean()) ** 2).mean())
    assert abs(distinct[0] - variance) <= 1e-12 * variance, "the highest level is c* (width 0)"
    assert len(distinct) >= H + 1, f"only {len(distinct)} distinct risk levels: {distinct}"
