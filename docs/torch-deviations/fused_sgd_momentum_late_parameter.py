# Minimal reproduction: fused SGD with momentum raises once a parameter joins after the first step
import torch
for fused in (False, True):
    a = torch.zeros(3, requires_grad=True); b = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([a, b], lr=0.1, momentum=0.9, fused=fused, **({} if fused else {"foreach": False}))
    try:
        a.grad = torch.ones(3); opt.step()                        # b takes no part in step 1
        a.grad = torch.ones(3); b.grad = torch.ones(3); opt.step()
        a.grad = torch.ones(3); b.grad = torch.ones(3); opt.step()
        print(f"fused={fused}: ok", a.detach(), b.detach())
    except Exception as e:
        print(f"fused={fused}: {type(e).__name__}: {e}")
