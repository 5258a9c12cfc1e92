"""torch.optim.Adam / AdamW / RMSprop (for-loop and foreach paths) turn a zero-gradient float16 coordinate into NaN.

The for-loop path adds eps in the parameter dtype (torch/optim/adam.py, ``_single_tensor_adam``:
``denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`` then ``param.addcdiv_(exp_avg,
denom, value=-step_size)``; rmsprop.py ``_single_tensor_rmsprop``: ``avg = square_avg.sqrt().add_(eps)``
then ``param.addcdiv_(grad, avg, value=-lr)``); the foreach path does the same with
``torch._foreach_add_``. The default eps = 1e-8 is below half the smallest float16 subnormal
(2^-25 ~ 2.98e-8), so in float16 it rounds to 0: a coordinate whose gradient is exactly 0 gets
exp_avg = 0 and denom = 0, i.e. 0/0 = NaN, and a gradient below ~2.4e-4 (whose square underflows)
gets exp_avg / 0 = +-inf. In exact arithmetic (and in float32/bfloat16, whose ranges hold 1e-8) eps > 0
makes the step 0 there. The fused kernels compute in float32 ("opmath") and keep such coordinates
frozen (checked below where this build offers fused on the CPU). Nothing in the docs says eps must be
representable in the parameter dtype. Found by kinkcheck (T2/T3/T6 under --dtype float16, issue #15).
Run: python docs/torch-deviations/adam_eps_underflow_float16_nan.py
"""
import torch

print("eps = 1e-8 in float16:", torch.tensor(1e-8, dtype=torch.float16).item())
grad = torch.tensor([0.0, 1e-5, 0.5])  # an exactly-zero gradient, one whose square underflows, a normal one
for name, cls, kwargs in (("Adam", torch.optim.Adam, {}), ("AdamW", torch.optim.AdamW, {"weight_decay": 0.0}),
                          ("RMSprop", torch.optim.RMSprop, {})):
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        for impl in ({"foreach": False}, {"foreach": True}, {"fused": True}):
            p = torch.nn.Parameter(torch.tensor([1.0, 1.0, 1.0], dtype=dtype))
            try:
                opt = cls([p], lr=1e-3, eps=1e-8, **kwargs, **impl)
                p.grad = grad.to(dtype)
                opt.step()
                result = [float(v) for v in p.detach()]
            except (RuntimeError, TypeError, ValueError) as e:  # fused may not exist for this class/device/dtype
                result = f"not available ({str(e).splitlines()[0][:60]})"
            print(f"{name:8} {str(dtype):15} {str(impl):18}: parameters after one step {result}")
