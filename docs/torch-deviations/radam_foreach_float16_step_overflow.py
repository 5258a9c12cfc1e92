"""torch.optim.RAdam's foreach path drops whole steps of float16 parameters when lr is small.

``_multi_tensor_radam`` (torch/optim/radam.py, torch 2.13, rectified branch, capturable=False) forms the
step size as a Python float, ``bias_correction2 = -lr * rect * sqrt(1 - beta2^t) / (1 - beta1^t)``, and then,
in the parameter dtype, ``buffer = sqrt(exp_avg_sq) + eps``; ``_foreach_div_(buffer, bias_correction2)``;
``_foreach_reciprocal_(buffer)``; ``_foreach_addcmul_(params, exp_avgs, buffer)``: it divides by the step size
and inverts back. With lr = 1e-4 the quotient (sqrt(v) + eps) / (lr rect ...) exceeds float16's largest finite
value 65504 once sqrt(v) + eps is above ~4 lr, it becomes inf, its reciprocal 0, and the parameter does not move,
where the exact step (and the for-loop path's, which multiplies) is lr m_hat r_t l_t, several ulps. The lr is a
normal float16 number and so is its reciprocal; the quotient is not -- a hyperparameter inverted inside a kernel.
Found by kinkcheck (T4's per-step low-precision check, issue #20, radam[foreach] in float16).
Run: python docs/torch-deviations/radam_foreach_float16_step_overflow.py   (exit status 1: the deviation is present)
"""
import sys

import torch

present = False
for dtype in (torch.float16, torch.bfloat16, torch.float32):
    moved = {}
    for foreach in (False, True):
        p = torch.nn.Parameter(torch.full((4,), 0.01, dtype=dtype))
        opt = torch.optim.RAdam([p], lr=1e-4, betas=(0.0, 0.9), eps=0.1, foreach=foreach)
        for _ in range(7):  # rho_t > 5 from step 7 on with beta2 = 0.9: the rectified branch
            before = p.detach().clone()
            p.grad = torch.full_like(p, 4.0)
            opt.step()
        moved[foreach] = float((p.detach() - before).abs().max())
    if dtype == torch.float16 and moved[True] == 0 and moved[False] > 0:
        present = True
    print(f"{str(dtype):15} step 7 moves the parameter by: for-loop {moved[False]:.3g}, foreach {moved[True]:.3g}")
print("deviation present: the foreach path drops the float16 step" if present else "deviation absent")
sys.exit(1 if present else 0)
