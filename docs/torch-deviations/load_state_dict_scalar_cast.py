# Minimal reproduction: Optimizer.load_state_dict casts NAdam's float32 'mu_product' (and ASGD's 'eta',
# 'mu') to the parameter's bfloat16/float16 dtype, so a resumed low-precision run leaves the uninterrupted one.
import io
import torch
torch.manual_seed(0)
grads = [torch.randn(8).to(torch.bfloat16) for _ in range(4)]
for cls in (torch.optim.NAdam, torch.optim.ASGD):
    p = torch.randn(8).to(torch.bfloat16).requires_grad_()
    opt = cls([p], lr=0.01, foreach=True)
    for k, g in enumerate(grads):
        if k == 2:
            buf = io.BytesIO(); torch.save(opt.state_dict(), buf); buf.seek(0)
            q = p.detach().clone().requires_grad_()
            opt2 = cls([q], lr=0.01, foreach=True); opt2.load_state_dict(torch.load(buf))
            print(cls.__name__, {k: (v.dtype if torch.is_tensor(v) else v) for k, v in opt.state[p].items()},
                  "->", {k: (v.dtype if torch.is_tensor(v) else v) for k, v in opt2.state[q].items()})
        p.grad = g.clone(); opt.step()
        if k >= 2:
            q.grad = g.clone(); opt2.step()
    print(cls.__name__, "resumed == uninterrupted:", torch.equal(p, q))
