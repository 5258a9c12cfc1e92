# Minimal reproduction: with differentiable=True, differentiating through SEVERAL steps raises for torch.optim's
# RMSprop (centered), Adamax, Adam/AdamW (amsgrad=True) and Rprop: "one of the variables needed for gradient
# computation has been modified by an inplace operation". One step from existing state (what torch's own tests
# of the flag do) works; the documented use -- differentiate an inner loop for meta-learning -- does not.
# Cause (torch 2.13, the for-loop path, the only one that takes differentiable=True): a state tensor that an
# earlier step's graph saved is updated in place by the next step:
#   rmsprop.py:322  grad_avg.lerp_(grad, 1 - alpha)   (centered; grad_avg was saved by the addcmul at :323)
#   adamax.py:277   exp_avg.lerp_(grad, 1 - beta1)    (exp_avg saved by param.addcdiv_ at :303);
#   adamax.py:287   exp_inf.mul_(beta2)               (differentiable branch, exp_inf saved by that addcdiv_)
#   adam.py:510     max_exp_avg_sqs[i].copy_(torch.maximum(...))  (amsgrad; the old max saved by maximum)
#   rprop.py:279    step_size.mul_(sign).clamp_(...)  (step_size saved by the previous step's update)
# The documented recursion is differentiable there (a derivative exists; the float64 recursion written out of
# place gives it).
import torch

torch.set_default_dtype(torch.float64)
cases = {"RMSprop(centered=True)": (torch.optim.RMSprop, dict(lr=0.01, centered=True)),
         "Adamax": (torch.optim.Adamax, dict(lr=0.01)),
         "Adam(amsgrad=True)": (torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
         "AdamW(amsgrad=True)": (torch.optim.AdamW, dict(lr=0.01, amsgrad=True)),
         "Rprop": (torch.optim.Rprop, dict(lr=0.01)),
         "RMSprop (plain, control)": (torch.optim.RMSprop, dict(lr=0.01)),
         "Adam (plain, control)": (torch.optim.Adam, dict(lr=0.01))}
failures = 0
for name, (cls, hp) in cases.items():
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(3, generator=gen).requires_grad_(True).clone()
    opt = cls([p], differentiable=True, **hp)
    grads = [torch.randn(3, generator=gen).requires_grad_(True) for _ in range(3)]
    for g in grads:
        p.grad = g
        opt.step()
    try:
        d = torch.autograd.grad(p.sum(), grads[0])[0]
        print(f"{name}: d theta_3/d g_1 = {d.tolist()}")
    except RuntimeError as exc:
        failures += "control" not in name
        print(f"{name}: raises {str(exc)[:110]}...")
assert failures, "fixed: every class differentiates through several steps"
