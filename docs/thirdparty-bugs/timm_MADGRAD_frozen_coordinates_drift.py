#!/usr/bin/env python
"""timm 1.0.31, timm.optim.MADGRAD (momentum != 0, the default 0.9): a coordinate whose gradient is
always exactly 0 moves in float32, float16 and bfloat16.

In exact arithmetic MADGRAD leaves such a coordinate where it is: s = 0, so z = x0 - s/rms = x0, and
the momentum form p <- (1 - ck) p + ck z with p = x0 gives p back. timm computes it as

    p.mul_(1 - ck).add_(z, alpha=ck)          # timm/optim/madgrad.py, dense branch

two rounded products whose coefficients, rounded to the parameter's dtype, need not sum to 1: the
coordinate drifts by rounding at every step (in float64 it happens to stay put in this test). A frozen
coordinate (a dead ReLU neuron's incoming weight, a masked or padded embedding row) thus moves although
its gradient is exactly 0 -- what [GM] Lemmas 4.8-4.9 / kinkcheck's T3 check. ``p.lerp_(z, ck)``
(p + ck (z - p), exact when z == p) or ``p.add_(z - p, alpha=ck)`` keep it bit-identical.

Found by kinkcheck's T3 sweep (docs/thirdparty.md); this script needs only torch and timm.
Exit status: 1 when the bug is present, 0 when it is not.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import torch


def load_timm_optim_module(name: str):
    """timm.optim.<name>; without torchvision (which ``import timm`` needs, timm.optim does not) the
    module is loaded from the installed files with timm/__init__.py and timm/optim/__init__.py skipped."""
    try:
        return importlib.import_module(f"timm.optim.{name}")
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in ("torchvision", "PIL"):
            raise
    for m in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        del sys.modules[m]
    spec = importlib.util.find_spec("timm")
    for pkg_name, path in (("timm", spec.submodule_search_locations[0]),
                           ("timm.optim", spec.submodule_search_locations[0] + "/optim")):
        pkg = types.ModuleType(pkg_name)
        pkg.__path__ = [path]
        sys.modules[pkg_name] = pkg
    return importlib.import_module(f"timm.optim.{name}")


def main() -> int:
    madgrad = load_timm_optim_module("madgrad")
    from importlib.metadata import version

    print(f"torch {torch.__version__}, timm {version('timm')}")
    print("check: 10 steps of timm.optim.MADGRAD (lr=1e-2, default momentum 0.9) with an all-zero gradient "
          "leave every coordinate bit-identical, per dtype")
    bug = False
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        torch.manual_seed(1)
        p0 = torch.randn(1000).to(dtype)
        p = torch.nn.Parameter(p0.clone())
        opt = madgrad.MADGRAD([p], lr=1e-2)
        for _ in range(10):
            p.grad = torch.zeros_like(p)
            opt.step()
        changed = int((p.detach() != p0).sum())
        ratio = p.detach().double() / p0.double()
        print(f"  {str(dtype):15s}: {changed:4d} of 1000 zero-gradient coordinates changed "
              f"(p/p0 in [{float(ratio.min()):.7f}, {float(ratio.max()):.7f}])")
        bug = bug or changed > 0
    if bug:
        print("BUG PRESENT: zero-gradient coordinates move (rounding of p.mul_(1 - ck).add_(z, alpha=ck) with z == p)")
        return 1
    print("not present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
