"""torch.optim.SGD(fused=True) on CPU leaves float16/bfloat16 parameters unchanged except the tail.

The CPU kernel (aten/src/ATen/native/cpu/FusedSGDKernel.cpp, ``sgd_math`` for Half/BFloat16) loops over
full vectors of ``Vectorized<scalar_t>::size()`` elements, converts them to float, applies weight decay
and momentum -- and never adds ``-lr * grad`` to the parameter nor stores it back; only the scalar
remainder loop (``for (; d < size; d++)``, the last ``numel % 16`` elements of each 32-element task here)
writes ``param_ptr[d] = param_val - grad_val * lr``. The float/double overload does both. The momentum
branch also reads the low-precision buffer as floats (``fVec::loadu(momentum_buf_ptr + d)``; read in the
source, not shown by this script). So a
float16/bfloat16 parameter of 16 or 32 elements never moves, one of 20 moves in 4 places, and training
silently stops. Found by kinkcheck (T2 and T5 on the built-in sgd[fused], momentum[fused] and
nesterov[fused] subjects under --dtype float16 and bfloat16, issue #15).
Run: python docs/torch-deviations/fused_sgd_low_precision_blocks_not_updated.py
"""
import torch

for dtype in (torch.float16, torch.bfloat16, torch.float32):
    for kwargs in ({}, {"momentum": 0.9}):
        moved = {}
        for n in (8, 15, 16, 17, 20, 32, 33, 64):
            p = torch.nn.Parameter(torch.full((n,), 0.5, dtype=dtype))
            opt = torch.optim.SGD([p], lr=0.05, fused=True, **kwargs)
            p.grad = torch.ones_like(p)
            opt.step()
            moved[n] = int((p != 0.5).sum())
        print(f"{str(dtype):15} {str(kwargs or 'no momentum'):>17}: elements moved by one step, per numel: {moved}")
