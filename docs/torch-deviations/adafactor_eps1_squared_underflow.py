"""torch.optim.Adafactor with the paper's eps1 = 1e-30 turns zero-gradient float32/bfloat16 coordinates into NaN.

Shazeer & Stern (2018), Algorithm 4, regularise the second moment with eps1 = 1e-30, added to g^2.
torch 2.13 (torch/optim/_adafactor.py) applies eps1 instead as a lower clamp on the variance estimate,
squared "as we sqrt after to keep eps1's magnitude": ``_single_tensor_adafactor`` computes
``update = var_estimate.clamp_(min=eps1 * eps1).rsqrt_()`` then ``update.mul_(grad)``, and
``_multi_tensor_adafactor`` does the same with ``torch._foreach_clamp_min_(var_estimates, eps1 * eps1)``,
``_foreach_rsqrt_`` and ``_foreach_mul_``. eps1 * eps1 = 1e-60 is a Python float; clamping a float32 or
bfloat16 tensor with it rounds it to the tensor's dtype, where it is 0 (below half the smallest subnormal,
~7e-46 in float32; bfloat16 has float32's exponent range; float16's smallest subnormal is ~6e-8). A
coordinate whose gradient is exactly 0 has variance 0 (vectors), or a zero row or column of the
factored estimate (matrices: row_var @ col_var / mean is 0 there), so the clamp leaves 0, rsqrt gives inf,
and inf * 0 = NaN, which ``param.add_`` writes into the parameter after one step. In exact arithmetic
(and in float64, where 1e-60 is a normal number) the clamped estimate is 1e-60 > 0 and the step is
1e30 * 0 = 0: the coordinate stays where it is. Default eps1 = None (the dtype's machine epsilon,
squared 1.4e-14 in float32, 2.4e-4 in bfloat16) is not affected. The hyperparameter is representable in
every dtype (1e-30 is a normal float32/bfloat16); its square is not -- kernels use hyperparameters squared
and inverted. Found by kinkcheck (T4 in bfloat16 went NaN on adafactor[foreach], issue #20; now T3's
published-defaults test finds it deterministically).
Run: python docs/torch-deviations/adafactor_eps1_squared_underflow.py   (exit status 1: the deviation is present)
"""
import sys

import torch

present = False
print("eps1 * eps1 = 1e-60 rounded to float32:", torch.tensor(1e-30 * 1e-30, dtype=torch.float32).item(),
      " bfloat16:", torch.tensor(1e-30 * 1e-30, dtype=torch.bfloat16).item(),
      " float64:", torch.tensor(1e-30 * 1e-30, dtype=torch.float64).item())
for dtype in (torch.float32, torch.bfloat16, torch.float64):
    for foreach in (False, True):
        vector = torch.nn.Parameter(torch.tensor([0.5, -0.25, 1.0], dtype=dtype))
        matrix = torch.nn.Parameter(torch.full((2, 3), 0.5, dtype=dtype))
        opt = torch.optim.Adafactor([vector, matrix], lr=0.01, eps=(1e-30, 1e-3), foreach=foreach)
        vector.grad = torch.tensor([0.0, 0.3, -0.7], dtype=dtype)  # coordinate 0: an exactly-zero gradient
        matrix.grad = torch.tensor([[0.0, 0.0, 0.0], [0.2, -0.4, 0.1]], dtype=dtype)  # row 0: all zero
        opt.step()
        frozen_vector, frozen_row = float(vector.detach()[0]), matrix.detach()[0].tolist()
        deviates = not (frozen_vector == 0.5 and frozen_row == [0.5, 0.5, 0.5])
        if deviates and dtype != torch.float64:
            present = True
        print(f"{str(dtype):15} foreach={foreach!s:5}: zero-gradient vector coordinate 0.5 -> {frozen_vector}, "
              f"zero-gradient matrix row [0.5]*3 -> {frozen_row}  {'DEVIATION' if deviates else 'ok'}")
print("deviation present: zero-gradient coordinates become NaN in float32/bfloat16" if present
      else "deviation absent: zero-gradient coordinates stay put")
sys.exit(1 if present else 0)
