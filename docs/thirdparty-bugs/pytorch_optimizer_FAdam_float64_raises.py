#!/usr/bin/env python
"""pytorch-optimizer 4.1.0, FAdam: a float64 parameter makes step() raise.

FAdam keeps its momentum and Fisher buffers in ``momentum_dtype`` / ``fim_dtype``, both defaulting to
torch.float32, whatever the parameter's dtype; ``step`` then mixes them with float64 tensors computed
from the parameter (``torch._foreach_lerp_(momenta, updates, ...)`` in pytorch_optimizer/optimizer/
fadam.py), and torch refuses: ``RuntimeError: expected dtype float for `end` but got dtype double``.
torch.optim.Adam and the other pytorch-optimizer Adam variants take float64 parameters.

Found by kinkcheck's T3 sweep (docs/thirdparty.md); this script needs only torch and pytorch-optimizer.
Exit status: 1 when the bug is present, 0 when it is not.
"""
from __future__ import annotations

import sys
from importlib.metadata import version

import torch
from pytorch_optimizer.optimizer.fadam import FAdam


def main() -> int:
    print(f"torch {torch.__version__}, pytorch-optimizer {version('pytorch-optimizer')}")
    print("check: one FAdam step (default arguments, lr=1e-3) on a float64 parameter with a random gradient")
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
    opt = FAdam([p], lr=1e-3)
    p.grad = torch.randn_like(p)
    try:
        opt.step()
    except RuntimeError as e:
        print(f"BUG PRESENT: step() raised RuntimeError: {e}")
        return 1
    print(f"not present: step() ran, parameter finite: {bool(p.detach().isfinite().all())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
