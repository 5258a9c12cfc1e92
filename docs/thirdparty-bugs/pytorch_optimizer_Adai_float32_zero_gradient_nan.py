#!/usr/bin/env python
"""pytorch-optimizer 4.1.0, Adai: NaN in float32 at a coordinate whose gradient is exactly 0, when eps < 2^-24.

Adai computes a per-coordinate beta1 = (1 - beta0 * (v_hat / mean v_hat)^(1/(3 - 2 dampening)))
.clamp(0, 1 - eps) and divides the momentum by 1 - prod(beta1) (pytorch_optimizer/optimizer/adai.py).
At a coordinate whose gradient is exactly 0, v_hat = 0, so beta1 = 1 - eps. In float32, 1 - eps rounds
to 1.0 for eps < 2^-24 (about 6e-8; e.g. eps = 1e-8, Adam's usual value), so 1 - prod(beta1) = 0 and
the update is 0/0 = NaN. Adai's default eps = 1e-3 does not trigger it; float64 does not either. The
NaN is written into the parameter (and, through the mean over all parameters, can reach the others).

Found by kinkcheck's T3 sweep (docs/thirdparty.md); this script needs only torch and pytorch-optimizer.
Exit status: 1 when the bug is present, 0 when it is not.
"""
from __future__ import annotations

import sys
from importlib.metadata import version

import torch
from pytorch_optimizer.optimizer.adai import Adai


def main() -> int:
    print(f"torch {torch.__version__}, pytorch-optimizer {version('pytorch-optimizer')}")
    print("check: one Adai step (default betas, lr=1e-2) on float32 parameters, one coordinate with an exactly-zero "
          "gradient, for eps = 1e-3 (default) and eps = 1e-8; the parameters stay finite")
    bug = False
    for eps in (1e-3, 1e-8):
        torch.manual_seed(0)
        frozen = torch.nn.Parameter(torch.randn(1))
        live = torch.nn.Parameter(torch.randn(2))
        opt = Adai([frozen, live], lr=1e-2, eps=eps)
        frozen.grad = torch.zeros_like(frozen)
        live.grad = torch.randn_like(live)
        opt.step()
        finite = bool(frozen.detach().isfinite().all()) and bool(live.detach().isfinite().all())
        print(f"  eps={eps:g}: zero-gradient coordinate -> {frozen.item()}, others -> {live.detach().tolist()} "
              f"({'finite' if finite else 'NOT finite'})")
        bug = bug or not finite
    if bug:
        print("BUG PRESENT: 1 - eps == 1 in float32 makes the bias correction 1 - prod(beta1) zero (0/0)")
        return 1
    print("not present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
