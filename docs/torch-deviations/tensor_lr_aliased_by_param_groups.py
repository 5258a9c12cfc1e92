# Minimal reproduction: torch.optim keeps the user's tensor lr itself in param_groups (Optimizer.__init__ puts
# the constructor's arguments in self.defaults and add_param_group fills each group with
# param_group.setdefault(name, default): the same tensor object, no copy). torch's own LR schedulers then
# rewrite a tensor lr in place (lr_scheduler._update_param_group_val: param_group[key].fill_(...)), so the
# user's tensor -- which the user may share with another optimizer or read as "the initial lr" -- changes.
# Every torch.optim class that takes a tensor lr (SGD, Adam, AdamW, Adagrad, RMSprop, ...) does this; Adam
# and AdamW keep tensor betas the same way.
import torch

user_lr = torch.tensor(0.1)
p = torch.zeros(3, requires_grad=True)
opt = torch.optim.SGD([p], lr=user_lr)
print("param_groups[0]['lr'] is the user's tensor:", opt.param_groups[0]["lr"] is user_lr)
scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
p.grad = torch.ones_like(p)
opt.step()
scheduler.step()
print("user's tensor after one scheduler step:", float(user_lr), "(handed over as 0.1)")
assert float(user_lr) != 0.1, "fixed: the optimizer keeps a copy"
