"""Functional fully-connected networks with a leading batch axis: B networks in one tensor program.

Layer k (1-based) maps ``z -> W_k z + B_k`` with ``W_k`` of shape ``(B, l_k, l_{k-1})`` and
``B_k`` of shape ``(B, l_k)``; hidden layers are followed by the activation. Inputs are either
shared by all networks, ``(N, d)``, or per network, ``(B, N, d)``.

Layouts. The batched layout (3-D weights, 2-D biases) trains B networks with one optimizer over B-stacked
tensors: the same as B real networks only for an optimizer whose update of an entry depends on that
entry's own history alone (coordinatewise). A matrix-wise optimizer (orthogonalisation, subspace
projection, block normalisation, per-tensor trust ratios) would mix the networks and treat the biases as
matrices, so such a subject is trained on ``Network.real(i)``: one network's real layers, weights
``(l_k, l_{k-1})`` and biases ``(l_k,)`` -- or, for optimizers that take 2-D parameters only, biases as
``(l_k, 1)`` columns (``bias="column"``), which ``forward`` adds as the vector they hold.

Inactivity ([GM] Setting 3.1, THEOREMS.md "Inactive neuron"):
- on a finite data set, exact: every pre-activation ``<= flat_below``;
- on a box ``prod [a_i, b_i]`` in layer 1, exact: ``B_j + sum_i max(W_ji a_i, W_ji b_i) <= 0``;
- in deeper layers on a box, sound (sufficient): interval bounds through monotone activations.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kinkcheck.harness.core.activations import RELU, Activation


@dataclass
class Network:
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]

    # ------------------------------------------------------------------ construction
    @staticmethod
    def random(widths, batch: int, *, generator: torch.Generator, dtype=torch.float64,
               device="cpu", init: str = "torch") -> "Network":
        """``init="torch"``: nn.Linear's default U(+-1/sqrt(fan_in)) for weights and biases;
        ``init="normal"``: standard normal weights and biases."""
        weights, biases = [], []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            shape_w, shape_b = (batch, fan_out, fan_in), (batch, fan_out)
            if init == "torch":
                bound = fan_in ** -0.5
                w = (torch.rand(shape_w, generator=generator, dtype=dtype, device=device) * 2 - 1) * bound
                b = (torch.rand(shape_b, generator=generator, dtype=dtype, device=device) * 2 - 1) * bound
            elif init == "normal":
                w = torch.randn(shape_w, generator=generator, dtype=dtype, device=device)
                b = torch.randn(shape_b, generator=generator, dtype=dtype, device=device)
            else:
                raise ValueError(f"unknown init {init!r}")
            weights.append(w)
            biases.append(b)
        return Network(weights, biases)

    def to(self, device=None, dtype=None) -> "Network":
        return Network([w.to(device=device, dtype=dtype) for w in self.weights],
                       [b.to(device=device, dtype=dtype) for b in self.biases])

    def clone(self) -> "Network":
        return Network([w.detach().clone() for w in self.weights], [b.detach().clone() for b in self.biases])

    def real(self, i: int = 0, bias: str = "vector") -> "Network":
        """Network ``i`` of the batch as real layers (separate contiguous tensors, no batch axis): weights
        ``(l_k, l_{k-1})``, biases ``(l_k,)`` (``bias="vector"``) or ``(l_k, 1)`` (``bias="column"``: every
        parameter 2-D, for optimizers that take matrices only). The same values, bit for bit."""
        if bias not in BIAS_SHAPES:
            raise ValueError(f"unknown bias shape {bias!r} (one of {', '.join(BIAS_SHAPES)})")
        if not self.batched:
            raise ValueError("Network.real: the network has no batch axis (already real layers)")
        biases = [b[i].clone() if bias == "vector" else b[i, :, None].clone() for b in self.biases]
        return Network([w[i].clone() for w in self.weights], biases)

    def trainable(self) -> "Network":
        """A copy whose tensors are leaf tensors requiring grad (ready for an optimizer)."""
        return Network([w.detach().clone().requires_grad_(True) for w in self.weights],
                       [b.detach().clone().requires_grad_(True) for b in self.biases])

    # ------------------------------------------------------------------ shape
    @property
    def batched(self) -> bool:
        """Whether the tensors carry a leading batch axis (3-D weights); False for ``real`` layers."""
        return self.weights[0].ndim == 3

    @property
    def batch(self) -> int:
        return self.weights[0].shape[0] if self.batched else 1

    @property
    def widths(self) -> list[int]:
        return [self.weights[0].shape[-1]] + [w.shape[-2] for w in self.weights]

    @property
    def hidden_layers(self) -> int:
        return len(self.weights) - 1

    def parameters(self) -> list[torch.Tensor]:
        """[W_1, B_1, W_2, B_2, ...]"""
        return [t for pair in zip(self.weights, self.biases) for t in pair]

    def layer(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_k, B_k), k 1-based: the tensors themselves (a column bias stays a column)."""
        return self.weights[k - 1], self.biases[k - 1]

    def incoming(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_k, B_k) of layer k, detached, the bias as a vector ``(..., l_k)`` in every layout: the values
        the inactivity formulas take."""
        w, b = self.layer(k)
        return w.detach(), b.detach().reshape(w.shape[:-1])

    # ------------------------------------------------------------------ evaluation
    def forward(self, x: torch.Tensor, activation: Activation = RELU):
        """Return (hidden pre-activations per hidden layer, output), with the network's batch axis if any."""
        z = x
        pre = []
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            row = b.transpose(-1, -2) if b.ndim == w.ndim else b.unsqueeze(-2)  # a column bias (l, 1), or (..., l)
            z = torch.matmul(z, w.transpose(-1, -2)) + row
            if k < len(self.weights) - 1:
                pre.append(z)
                z = activation(z)
        return pre, z

    def realization(self, x: torch.Tensor, activation: Activation = RELU) -> torch.Tensor:
        return self.forward(x, activation)[1]

    def preactivations(self, x: torch.Tensor, activation: Activation = RELU) -> list[torch.Tensor]:
        return self.forward(x, activation)[0]


BIAS_SHAPES = ("vector", "column")


# ---------------------------------------------------------------------- inactivity

def inactive_on_data(preactivation: torch.Tensor, flat_below: float = 0.0) -> torch.Tensor:
    """(B, N, l) pre-activations -> (B, l) bool: neuron inactive on every data point (exact)."""
    return (preactivation <= flat_below).all(dim=-2)


def box_maximum(w: torch.Tensor, b: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """max over the box of W z + B, per neuron: B_j + sum_i max(W_ji lo_i, W_ji hi_i). Exact
    (up to the rounding of one dot product) and vectorised over networks: (B, l)."""
    return _box_extreme(torch.maximum, w, b, lo, hi)


def box_minimum(w: torch.Tensor, b: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    return _box_extreme(torch.minimum, w, b, lo, hi)


def _box_extreme(pick, w, b, lo, hi):
    """b + sum_i pick(w_i lo_i, w_i hi_i), summed one input coordinate at a time: d is small, and
    this is ~4x faster than materialising the (B, l, d) products and reducing over d."""
    total = b
    for i in range(w.shape[-1]):
        wi = w[..., i]
        total = total + pick(wi * lo[..., i, None], wi * hi[..., i, None])
    return total


def inactive_on_box(w: torch.Tensor, b: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                    flat_below: float = 0.0) -> torch.Tensor:
    """Layer-1 neurons inactive on the box prod [lo_i, hi_i]: (B, l) bool."""
    return box_maximum(w, b, lo, hi) <= flat_below


def interval_bounds(net: Network, lo: torch.Tensor, hi: torch.Tensor,
                    activation: Activation = RELU) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sound bounds (lower, upper) on each hidden layer's pre-activations over the box, for a
    monotone non-decreasing activation. Each is (B, l_k)."""
    bounds = []
    low, high = lo, hi
    for k in range(net.hidden_layers):
        w, b = net.weights[k], net.biases[k]
        pre_lo, pre_hi = box_minimum(w, b, low, high), box_maximum(w, b, low, high)
        bounds.append((pre_lo, pre_hi))
        low, high = activation(pre_lo), activation(pre_hi)
    return bounds


def dead_layers_on_box(net: Network, lo: torch.Tensor, hi: torch.Tensor,
                       activation: Activation = RELU) -> torch.Tensor:
    """(B, L) bool: hidden layer k certified entirely inactive on the box (sound, not complete)."""
    bounds = interval_bounds(net, lo, hi, activation)
    return torch.stack([(upper <= activation.flat_below).all(dim=-1) for _, upper in bounds], dim=-1)
