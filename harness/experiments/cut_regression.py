"""[CUT] Appendix A.1.5: the ReLU regression behind Sec A.1.3 and Figure 1, on the paper's own code path.

The appendix code, reproduced operation for operation (its plotting left out):

- ``torch.manual_seed(42)``, ``np.random.seed(42)``; ``x = np.random.uniform(-1, 1, (5000, 500))`` and
  ``y = np.random.uniform(-0.99, -0.9, (5000, 1))`` drawn in float64 by numpy's legacy generator, then
  passed through ``torch.Tensor`` (float32!) and ``.double()``: the data are float32 values held in float64;
- the model ``nn.Linear(500, 1, bias=False).double()`` (its default Kaiming init draws from torch's
  global generator first) re-initialised by ``nn.init.uniform_(weight, -1, 1)``, followed by ReLU;
- the loss ``MSELoss(reduction='sum')(relu(x w), y) + 0 * ||w||_2^2 + 1e-3 * torch.norm(w, p=1)``;
- ``optim.SGD(lr=0.01)``; before each step the lr is multiplied by 0.9 when the loss increased over the
  previous iteration's (the appendix's second, "patience" trigger is unreachable: it re-tests the same
  condition inside the branch where it is false); 6000 iterations.

Here numpy's legacy stream comes from ``np.random.RandomState(42)`` (the same Mersenne-Twister stream as
``np.random.seed(42)``, without touching the global state) and torch's global generator is forked
(``torch.random.fork_rng``) so the caller's random state is left as it was. ``optimizer_factory`` replaces
``optim.SGD`` by a subject under test (called as ``factory(params, lr=0.01)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

PAPER_LOSS_LAST_1000 = 4461.786221675728  # [CUT] Sec A.1.3: "the loss for the last 1000 iterations is identically ..."
SEED, NROWS, NCOLS = 42, 5000, 500
L1, L2, LR, MAX_ITER, DECAY = 0.001, 0, 0.01, 6000, 0.9


def generate_data(seed: int = SEED, nrows: int = NROWS, ncols: int = NCOLS) -> tuple[torch.Tensor, torch.Tensor]:
    """The appendix's ``generate_dummy_data(x_shape=(nrows, ncols), x_range=(-1, 1), y_range=(-0.99, -0.9))``
    after ``np.random.seed(seed)``, already converted by ``.double()`` as the runner receives it."""
    rs = np.random.RandomState(seed)
    x_train = rs.uniform(-1, 1, size=(nrows, ncols))
    y_train = rs.uniform(-0.99, -0.9, size=(nrows, 1))
    return torch.Tensor(x_train).double(), torch.Tensor(y_train).double()


class BaseNN(nn.Module):
    """The appendix's single-layer ReLU network (``BaseNN`` with ``init_low=-1, init_high=1``)."""

    def __init__(self, input_size: int, init_low: float = -1.0, init_high: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(input_size, 1, bias=False).double()
        torch.nn.init.uniform_(self.linear.weight, init_low, init_high)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.linear(x))


@dataclass
class PaperRun:
    losses: np.ndarray  # losses[k]: the loss evaluated at w_k (the appendix's ``losses``)
    weights: np.ndarray  # (max_iter, ncols): w_k, as the appendix's ``weights`` (before step k)
    lrs: np.ndarray  # lr used for the step from w_k
    active: np.ndarray  # number of rows with x_i . w_k > 0 (relu output > 0) in the forward pass
    x: torch.Tensor
    y: torch.Tensor

    @property
    def one_norms(self) -> np.ndarray:
        """The appendix's ``one_norm = [np.linalg.norm(w[0], 1) for w in weights]``."""
        return np.array([np.linalg.norm(w, 1) for w in self.weights])


def run_paper(optimizer_factory: Callable | None = None, max_iter: int = MAX_ITER, seed: int = SEED,
              nrows: int = NROWS, ncols: int = NCOLS, lr: float = LR, l1: float = L1, l2: float = L2,
              decay: float = DECAY, stop_when_nonfinite: bool = True) -> PaperRun:
    """The appendix's experiment: ``runner(model, x.double(), y.double(), lr=0.01, l1_penalty=1e-3,
    l2_penalty=0, max_iter=6000)`` after ``torch.manual_seed(seed)``, ``np.random.seed(seed)``.
    ``stop_when_nonfinite``: end the run at the first non-finite loss (the arrays then hold the
    iterations done, that one included); a finite run is unaffected."""
    factory = optimizer_factory or torch.optim.SGD
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        x, y = generate_data(seed, nrows, ncols)
        model = BaseNN(ncols, init_low=-1, init_high=1)
    optimizer = factory(model.parameters(), lr=lr)
    criterion = nn.MSELoss(reduction="sum")
    losses = np.empty(max_iter)
    lrs = np.empty(max_iter)
    active = np.empty(max_iter, dtype=np.int64)
    weights = np.empty((max_iter, ncols))
    prev_loss = float("inf")
    for it in range(max_iter):
        out = model(x)
        loss = criterion(out, y)
        wt_sqrd = model.linear.weight.pow(2).sum()
        l2_norm = l2 * wt_sqrd
        l1_norm = l1 * torch.norm(model.linear.weight, p=1)
        loss += l2_norm + l1_norm
        curr_loss = loss.item()
        losses[it] = curr_loss
        weights[it] = model.linear.weight.detach().numpy()[0]
        active[it] = int((out > 0).sum())
        lrs[it] = optimizer.param_groups[0]["lr"]
        if stop_when_nonfinite and not np.isfinite(curr_loss):
            n = it + 1
            return PaperRun(losses[:n], weights[:n], lrs[:n], active[:n], x, y)
        if curr_loss > prev_loss:
            for g in optimizer.param_groups:
                g["lr"] *= decay
        prev_loss = curr_loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return PaperRun(losses, weights, lrs, active, x, y)
