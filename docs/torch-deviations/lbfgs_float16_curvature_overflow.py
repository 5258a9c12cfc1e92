"""torch.optim.LBFGS produces NaN parameters in float16 -- frozen (zero-gradient) coordinates included.

``LBFGS.step`` (torch/optim/lbfgs.py) keeps a curvature pair when ``ys = y.dot(s) > 1e-10`` and stores
``ro = 1.0 / ys`` and ``H_diag = ys / y.dot(y)`` as tensors of the parameters' dtype. The threshold is
absolute and dtype-blind: in float16 any 1e-10 < ys < 1/65504 ~ 1.5e-5 makes ``ro`` inf (and a
y.dot(y) that underflows makes ``H_diag`` inf), so the two-loop recursion multiplies by inf. A
coordinate whose gradient is exactly 0 then computes 0 * inf = NaN in the direction d and moves to NaN,
where in exact arithmetic (and in float32) it never moves. Found by kinkcheck (T2, T3, T5 under
--dtype float16, issue #15).
Run: python docs/torch-deviations/lbfgs_float16_curvature_overflow.py
"""
import torch

c = torch.tensor([0.29, 3.3e-4, 0.0])  # the third coordinate has zero gradient: it must never move
for dtype in (torch.float16, torch.bfloat16, torch.float32):
    x = torch.nn.Parameter(torch.tensor([-0.6, -0.6, 0.18], dtype=dtype))
    opt = torch.optim.LBFGS([x], lr=0.5, max_iter=4, history_size=2)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (c.to(dtype) * x * x).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    print(f"{str(dtype):15} x = {x.tolist()}  (the zero-gradient coordinate started at 0.18)")
