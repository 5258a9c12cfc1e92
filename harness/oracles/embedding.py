"""Adding and deleting neurons ([GM] Lemma 2.11, Prop 2.12, Prop 3.3, Prop 3.18), in torch, and
the forward-error bounds that compare two floating-point evaluations of the same exact network.

A theorem here is an exact equality (the wider network has the same realization, risk and, on the
old coordinates, gradient). In floating point the two networks reduce over hidden layers of
different lengths, so the kernels may round differently. ``rounding_bounds`` bounds, per entry,
the distance between a computed value and the exact value of the same network on the same
(floating-point) inputs, by the standard dot-product bound (Higham, Thm 3.5 / Lemma 3.1):

    |fl(sum_{i<n} a_i b_i) - sum a_i b_i| <= gamma_n sum |a_i b_i|,  gamma_n = n u / (1 - n u),

valid for every summation order, blocking and fused multiply-add, and propagated through the
layers (ReLU is 1-Lipschitz; the backward pass multiplies by 0/1 masks, exact as long as no
computed pre-activation is within its error bound of 0). Two evaluations of networks whose exact
values agree then differ by at most the sum of their bounds. Never calls a subject.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kinkcheck.harness.core.networks import Network


def embed_neuron(net: Network, layer: int, bias: float = -1.0) -> Network:
    """[GM] Lemma 2.11: append one neuron to hidden layer ``layer`` (1-based): incoming weights 0,
    bias ``bias`` (< 0: inactive everywhere), outgoing weights 0. The new neuron is the last."""
    ws, bs = [w.detach().clone() for w in net.weights], [b.detach().clone() for b in net.biases]
    w_in, b_in, w_out = ws[layer - 1], bs[layer - 1], ws[layer]
    batch = w_in.shape[0]
    ws[layer - 1] = torch.cat([w_in, w_in.new_zeros(batch, 1, w_in.shape[2])], dim=1)
    bs[layer - 1] = torch.cat([b_in, b_in.new_full((batch, 1), bias)], dim=1)
    ws[layer] = torch.cat([w_out, w_out.new_zeros(batch, w_out.shape[1], 1)], dim=2)
    return Network(ws, bs)


def delete_neuron(net: Network, layer: int, index: int) -> Network:
    """[GM] Prop 3.18's step: remove neuron ``index`` (0-based) of hidden layer ``layer`` (1-based):
    its row of W_layer, entry of B_layer and column of W_{layer+1}."""
    ws, bs = [w.detach().clone() for w in net.weights], [b.detach().clone() for b in net.biases]
    keep = [i for i in range(ws[layer - 1].shape[1]) if i != index]
    ws[layer - 1], bs[layer - 1] = ws[layer - 1][:, keep], bs[layer - 1][:, keep]
    ws[layer] = ws[layer][:, :, keep]
    return Network(ws, bs)


def gamma(n: int, dtype: torch.dtype) -> float:
    """gamma_n = n u / (1 - n u), u = eps / 2 the unit roundoff of ``dtype``."""
    u = torch.finfo(dtype).eps / 2
    if n * u >= 1:
        raise ValueError(f"gamma_{n} undefined in {dtype}")
    return n * u / (1 - n * u)


@dataclass
class Evaluation:
    """A float evaluation of the MSE risk and its gradient with entrywise error bounds (against
    the exact values of the same network on the same inputs). ``ambiguous`` (B,): in that network
    some computed pre-activation lies within its error bound of 0, so the ReLU mask of the exact
    computation is unknown and its gradient bounds do not apply."""
    output: torch.Tensor
    output_bound: torch.Tensor
    risk: torch.Tensor
    risk_bound: torch.Tensor
    gradients: list[torch.Tensor]
    gradient_bounds: list[torch.Tensor]
    ambiguous: torch.Tensor


def evaluate_with_bounds(net: Network, x: torch.Tensor, y: torch.Tensor) -> Evaluation:
    """Realization, MSE risk and autograd gradient (the suite's kernels, in the network's dtype)
    with entrywise rounding bounds computed in float64 from the computed magnitudes."""
    dtype = net.weights[0].dtype
    trainable = net.trainable()
    out = trainable.realization(x)
    risk = ((out - y) ** 2).mean(dim=(-2, -1))
    grads = torch.autograd.grad(risk.sum(), trainable.parameters())
    out, risk = out.detach(), risk.detach()

    f64 = torch.float64
    ws = [w.detach().to(f64) for w in net.weights]
    bs = [b.detach().to(f64) for b in net.biases]
    # forward: computed activations a_k (as the kernels produce them) and bounds E_k on |a_k - exact|
    acts, pres, pre_bounds = [x.to(f64)], [], []
    err = torch.zeros_like(acts[0])
    z = x
    for k, (w, b) in enumerate(zip(net.weights, net.biases)):
        z = torch.matmul(z, w.transpose(-1, -2)) + b.unsqueeze(-2)
        wa, ba = ws[k].abs(), bs[k].abs()
        mag = torch.matmul(acts[-1].abs(), wa.transpose(-1, -2)) + ba.unsqueeze(-2)
        err = gamma(w.shape[-1] + 1, dtype) * mag + torch.matmul(err, wa.transpose(-1, -2))
        if k < len(net.weights) - 1:
            pres.append(z.to(f64))
            pre_bounds.append(err)
            z = torch.relu(z)
            acts.append(z.to(f64))
        # ReLU is 1-Lipschitz: the activation's error is at most the pre-activation's
    out_bound = err
    n_points = x.shape[-2] * out.shape[-1]
    diff = out.to(f64) - y.to(f64)
    # risk = mean((out - y)^2): a sum of n terms, each (out - y)(1+d1), squared (1+d2)
    risk_bound = ((2 * diff.abs() * out_bound + out_bound ** 2).sum(dim=(-2, -1))
                  + gamma(n_points + 3, dtype) * ((diff.abs() + out_bound) ** 2).sum(dim=(-2, -1))) / n_points
    ambiguous = torch.zeros(out.shape[0], dtype=torch.bool, device=out.device)
    for p, e in zip(pres, pre_bounds):
        if p.numel():
            ambiguous |= (p.abs() <= e).flatten(1).any(dim=1)
    # backward: g = dL/d(out) = 2 (out - y) / n, computed with 3 roundings (sub, mul, div)
    g = 2 * diff / n_points
    g_err = 2 * (out_bound + gamma(3, dtype) * (diff.abs() + out_bound)) / n_points
    bounds_rev = []
    for k in range(len(ws) - 1, -1, -1):
        a, e_a = acts[k], (pre_bounds[k - 1] if k > 0 else torch.zeros_like(acts[0]))
        g_mag = g.abs() + g_err
        a_mag = a.abs() + e_a
        n = a.shape[-2]
        # dL/dW_k = g^T a (sum over the n points), dL/dB_k = sum of g
        gw = gamma(n, dtype) * torch.matmul(g_mag.transpose(-1, -2), a_mag) \
            + torch.matmul(g_err.transpose(-1, -2), a_mag) + torch.matmul(g_mag.transpose(-1, -2), e_a)
        gb = gamma(n, dtype) * g_mag.sum(dim=-2) + g_err.sum(dim=-2)
        bounds_rev += [gb, gw]
        if k == 0:
            break
        mask = (pres[k - 1] > 0).to(f64)
        wa = ws[k].abs()
        g_next_err = (gamma(ws[k].shape[-2], dtype) * torch.matmul(g_mag, wa) + torch.matmul(g_err, wa)) * mask
        g = torch.matmul(g, ws[k]) * mask
        g_err = g_next_err
    bounds = list(reversed(bounds_rev))  # [W_1, B_1, W_2, B_2, ...]
    slack = 1 + gamma(8 * (sum(w.shape[-1] for w in ws) + x.shape[-2] + 8), f64)  # the bounds' own rounding
    return Evaluation(out, out_bound * slack, risk, risk_bound * slack, list(grads),
                      [b * slack for b in bounds], ambiguous)
