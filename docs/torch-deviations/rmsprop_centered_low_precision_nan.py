"""torch.optim.RMSprop(centered=True) produces NaN parameters in bfloat16 and float16 (for-loop and foreach paths).

The centered variant divides by sqrt(square_avg - grad_avg**2) (torch/optim/rmsprop.py,
``_single_tensor_rmsprop``: ``avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()``;
``_multi_tensor_rmsprop``: ``torch._foreach_addcmul`` then ``torch._foreach_sqrt_``). In exact
arithmetic square_avg >= grad_avg**2 (an EMA of squares dominates the square of the EMA), but each
EMA is rounded to bfloat16 separately, so when the gradient barely varies the difference rounds
below 0, sqrt gives NaN and the NaN enters the parameter. Nothing clamps the difference at 0.
Measured with this script (torch 2.13 CPU): NaN from step 10 in float16, step 7 in bfloat16, and also in
float32 (5 of 64 coordinates at step 25) -- only float64 stays finite here; kinkcheck's float32 runs
have not hit it, so it is listed as expected only for float16 and bfloat16.
Found by kinkcheck (T2 under --dtype bfloat16, issue #15).
Run: python docs/torch-deviations/rmsprop_centered_low_precision_nan.py
"""
import torch

torch.manual_seed(0)
base = torch.randn(64)
grads = [base + 1e-3 * torch.randn(64) for _ in range(30)]  # a nearly constant gradient
for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
    for foreach in (False, True):
        p = torch.nn.Parameter(torch.randn(64, generator=torch.Generator().manual_seed(1)).to(dtype))
        opt = torch.optim.RMSprop([p], lr=0.01, alpha=0.5, eps=1e-8, centered=True, foreach=foreach)
        first_nan = None
        for k, g in enumerate(grads, 1):
            p.grad = g.to(dtype)
            opt.step()
            if first_nan is None and not torch.isfinite(p).all():
                st = opt.state[p]
                first_nan = (k, (st["square_avg"].double() - st["grad_avg"].double() ** 2).min().item())
        print(f"{str(dtype):15} foreach={foreach!s:5}: non-finite parameters: {int((~torch.isfinite(p)).sum())}/64; "
              f"first NaN (step, min square_avg - grad_avg^2): {first_nan}")
