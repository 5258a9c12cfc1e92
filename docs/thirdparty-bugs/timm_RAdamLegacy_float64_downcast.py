#!/usr/bin/env python
"""timm 1.0.31, timm.optim.RAdamLegacy: float64 parameters are rounded to float32 at every step.

RAdamLegacy.step (timm/optim/radam.py) does, for every parameter,

    p_fp32 = p.float()
    ...                       # moments, step size, decay: all in float32
    p.copy_(p_fp32)

For a float32 parameter ``p.float()`` is ``p`` itself; for a float16/bfloat16 one this is the intended
float32 master copy. For a float64 parameter it is a *down*-cast: every coordinate -- including ones
whose gradient is exactly 0 and whose update is therefore 0 -- is rounded to float32 and written back,
and the moments are kept in float32. torch.optim.RAdam (and timm's own AdaBelief, which casts only
float16/bfloat16) leave a zero-gradient float64 coordinate bit-identical.

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
    radam = load_timm_optim_module("radam")
    from importlib.metadata import version

    print(f"torch {torch.__version__}, timm {version('timm')}")
    print("check: a float64 parameter whose gradient is exactly 0 is left bit-identical by one step "
          "of timm.optim.RAdamLegacy (as by torch.optim.RAdam)")
    torch.manual_seed(0)
    p0 = torch.randn(8, dtype=torch.float64)
    results = {}
    for name, cls in (("torch.optim.RAdam", torch.optim.RAdam), ("timm.optim.RAdamLegacy", radam.RAdamLegacy)):
        p = torch.nn.Parameter(p0.clone())
        opt = cls([p], lr=1e-3)
        p.grad = torch.zeros_like(p)
        opt.step()
        changed = int((p.detach() != p0).sum())
        results[name] = changed
        print(f"  {name}: {changed} of {p.numel()} zero-gradient float64 coordinates changed, max |change| "
              f"{float((p.detach() - p0).abs().max()):.3g}; float32 rounding of p0 would give "
              f"{float((p0.float().double() - p0).abs().max()):.3g}")
    if results["timm.optim.RAdamLegacy"]:
        print("BUG PRESENT: RAdamLegacy rounds float64 parameters to float32 (p_fp32 = p.float(); p.copy_(p_fp32))")
        return 1
    print("not present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
