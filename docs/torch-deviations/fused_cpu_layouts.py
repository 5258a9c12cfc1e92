# Minimal reproduction: torch.optim fused CPU kernels vs for-loop on non-contiguous parameters/gradients
import torch
torch.manual_seed(0)
def run(cls, fused, make_p, make_g, **kw):
    p = make_p().requires_grad_(True)
    o = cls([p], lr=0.1, fused=fused, **({"foreach": False} if not fused else {}), **kw)
    for _ in range(2):
        p.grad = make_g(p)
        o.step()
    return p.detach().clone()
base = torch.randn(4, 8, dtype=torch.float64)
g0 = torch.randn(4, 4, dtype=torch.float64)
cases = {
  "strided param, grad like param": (lambda: base.clone()[:, ::2], lambda p: g0.clone()),
  "contiguous param, transposed-layout grad": (lambda: base[:, :4].contiguous(), lambda p: g0.t().contiguous().t()),
  "transposed param, contiguous grad": (lambda: base[:, :4].t().contiguous().t(), lambda p: g0.clone()),
}
for cls, kw in [(torch.optim.SGD, {}), (torch.optim.SGD, {"momentum": 0.9}), (torch.optim.Adagrad, {}), (torch.optim.Adam, {}), (torch.optim.AdamW, {})]:
    for name, (mp, mg) in cases.items():
        a = run(cls, False, mp, mg, **kw); b = run(cls, True, mp, mg, **kw)
        print(f"{cls.__name__}{kw} {name}: max |fused - forloop| = {float((a - b).abs().max()):.3g}")
