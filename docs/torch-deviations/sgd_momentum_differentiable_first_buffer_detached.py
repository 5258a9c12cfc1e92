# Minimal reproduction: with differentiable=True (documented: "whether autograd should occur through the optimizer
# step"), torch.optim.SGD with momentum creates the momentum buffer from the parameter's FIRST gradient detached:
# torch/optim/sgd.py:361 (_single_tensor_sgd)  buf = grad.detach().clone()  (foreach path: sgd.py:454, same).
# So no gradient flows from a parameter's first gradient through the buffer: after K steps the iterate is
#   theta_K = theta_0 - lr * sum_k b_k,  b_1 = g_1,  b_k = mu b_{k-1} + (1 - dampening) g_k,
# whose derivative d theta_K / d g_1 = -lr (1 + mu + ... + mu^(K-1)) is what the recursion gives; torch gives
# none at all (momentum) or only the direct -lr term (nesterov: update g + mu b, the g path survives).
import torch

torch.set_default_dtype(torch.float64)
lr, mu, K = 0.1, 0.9, 3
for nesterov in (False, True):
    p = torch.zeros(2, requires_grad=True).clone()  # non-leaf, as differentiable=True is used
    opt = torch.optim.SGD([p], lr=lr, momentum=mu, nesterov=nesterov, differentiable=True)
    grads = [torch.ones(2, requires_grad=True) for _ in range(K)]
    for g in grads:
        p.grad = g
        opt.step()
    got = torch.autograd.grad(p.sum(), grads[0], allow_unused=True)[0]
    # closed form: momentum -lr (1 + mu + mu^2); nesterov -lr (1 + mu + mu^2 + mu^3) (g_1 direct + mu b_k)
    expected = -lr * (sum(mu ** (k + 1) for k in range(K)) + 1 if nesterov else sum(mu ** k for k in range(K)))
    print(f"nesterov={nesterov}: d theta_{K}/d g_1 torch {None if got is None else got.tolist()}, "
          f"the recursion {expected:.6g} per coordinate")
    fixed = got is not None and torch.allclose(got, torch.full_like(got, expected))
    assert not fixed, "fixed: the first buffer is in the graph"
