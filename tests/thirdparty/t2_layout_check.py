"""T2 on a real, non-batched network, with plain torch: does an inactive ReLU neuron's incoming weight
row and bias move under an optimizer (float64, 10 steps, lr 1e-2, the optimizer's other defaults)?

kinkcheck's T2 tests stack a batch of independent networks into 3-D weights and 2-D biases; an optimizer
that treats a parameter as a matrix (orthogonalisation, subspace projection, block normalisation,
Kronecker preconditioners) then couples independent networks and treats biases as matrices, which a real
layer does not. This script separates the two for the T2 FAILs of docs/thirdparty.md:

    python tests/thirdparty/t2_layout_check.py [name ...]   # pytorch-optimizer registry names, timm:Kron, muonclip

One configuration only: "moved: False" does not prove the optimizer keeps every inactive neuron, it shows
that the batched layout is needed for the deviation kinkcheck reported.

This was the evidence for issue #19's layout finding (runs 1-8 of docs/thirdparty.md). kinkcheck's T2 now
trains every subject not declared coordinatewise on real layers itself (theorems/
test_inactive_neuron_invariance.py ``layout_of``; run 9), so its verdicts need no such cross-check.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

DEFAULT = ["alice", "dash", "kron", "scion", "scionlight", "soap", "splus", "adamp", "sgdp", "amos", "shampoo",
           "muonclip", "timm:Kron", "ranger21", "nero", "fromage", "focus", "ftrl", "gravity", "srmm", "yogi"]


def _build(name: str, params: list, lr: float):
    if name == "timm:Kron":
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from tests.thirdparty import timm_import

        timm_import.install()
        import timm.optim.kron as kron

        return kron.Kron(params, lr=lr)
    import pytorch_optimizer as po

    cls = po.load_optimizer(name)
    if name == "ranger21":
        return cls(params, lr=lr, num_iterations=1000)
    if name == "muonclip":  # matrices flagged use_muon=True, the other tensors to its AdamW branch
        return cls([{"params": [p for p in params if p.ndim >= 2], "use_muon": True},
                    {"params": [p for p in params if p.ndim < 2], "use_muon": False}], lr=lr)
    return cls(params, lr=lr)


def dead_neuron_moves(name: str, steps: int = 10, lr: float = 1e-2, large: bool = False) -> bool:
    """``large``: the inactive row is -50 (it dominates the weight's norm, so the gradient is nearly
    orthogonal to the weight: AdamP/SGDP's projection condition)."""
    torch.manual_seed(0)
    w1 = torch.randn(4, 3, dtype=torch.float64)
    b1 = torch.randn(4, dtype=torch.float64)
    w1[0] = -torch.rand(3, dtype=torch.float64) - 0.5  # neuron 0 is inactive on x >= 0
    if large:
        w1[0] = -50.0
    b1[0] = -1.0
    params = [torch.nn.Parameter(t) for t in (w1, b1, torch.randn(1, 4, dtype=torch.float64),
                                               torch.zeros(1, dtype=torch.float64))]
    opt = _build(name, params, lr)
    row, bias = params[0].detach()[0].clone(), params[1].detach()[0].clone()
    x = torch.rand(16, 3, dtype=torch.float64)
    y = torch.randn(16, 1, dtype=torch.float64)

    def closure():
        opt.zero_grad()
        out = torch.relu(x @ params[0].T + params[1]) @ params[2].T + params[3]
        loss = ((out - y) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(steps):
        closure()
        assert params[0].grad[0].abs().max() == 0 and params[1].grad[0] == 0, "the neuron is not inactive"
        try:
            opt.step(closure)
        except TypeError:  # step() without a closure argument
            opt.step()
    return bool((params[0].detach()[0] != row).any() or params[1].detach()[0] != bias)


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")
    for name in argv or DEFAULT:
        try:
            print(f"{name:14s} inactive neuron moved on a 2-D layer: {dead_neuron_moves(name)} "
                  f"(inactive row -50: {dead_neuron_moves(name, large=True)})")
        except Exception as e:  # an optimizer that cannot run this network
            print(f"{name:14s} error {type(e).__name__}: {str(e)[:120]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
