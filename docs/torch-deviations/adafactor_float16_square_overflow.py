"""torch.optim.Adafactor produces NaN parameters in float16 for a gradient above sqrt(65504) ~ 256.

``_single_tensor_adafactor`` (torch/optim/_adafactor.py) squares the gradient in the parameter's
dtype (``grad_squared = grad * grad``; the factored branch ``torch.norm(grad, dim=-1).square_()``),
so in float16 a gradient of 300 gives inf. The second moment is then updated with
``variance.lerp_(grad_squared, one_minus_beta2_t)``; at step 1 the weight is 1 and lerp computes
``end - (end - start) * (1 - weight)`` = inf - inf * 0 = NaN, which reaches the parameter. The exact
update g / sqrt(g^2) = sign(g) is finite. Adam and RMSprop square with ``addcmul_``, whose CPU kernel
computes in float32 and stores (1 - beta2) g^2 = 90 (finite), so their float16 runs stay finite and
move; Adagrad stores the sum g^2 itself, which overflows to inf: it stays finite but does not move the
coordinate (300 / inf = 0), where the exact step is lr. Found by kinkcheck (T3 and T4 under float16, issue #15).
Run: python docs/torch-deviations/adafactor_float16_square_overflow.py
"""
import torch

for dtype in (torch.float16, torch.bfloat16, torch.float32):
    for name, make in (("Adafactor", lambda ps: torch.optim.Adafactor(ps, lr=0.01, foreach=False)),
                       ("Adam", lambda ps: torch.optim.Adam(ps, lr=0.01, eps=1e-3, foreach=False)),
                       ("RMSprop", lambda ps: torch.optim.RMSprop(ps, lr=0.01, eps=1e-3, foreach=False)),
                       ("Adagrad", lambda ps: torch.optim.Adagrad(ps, lr=0.01, eps=1e-3, foreach=False))):
        vector = torch.nn.Parameter(torch.tensor([0.5, -0.25], dtype=dtype))
        matrix = torch.nn.Parameter(torch.full((2, 3), 0.5, dtype=dtype))
        opt = make([vector, matrix])
        vector.grad = torch.tensor([300.0, 1.0], dtype=dtype)
        matrix.grad = torch.full((2, 3), 300.0, dtype=dtype)
        opt.step()
        print(f"{str(dtype):15} {name:9}: vector {vector.tolist()}  matrix finite: {bool(torch.isfinite(matrix).all())}")
