"""Per-network losses: ``loss(prediction, target) -> (B,)`` for a batch of B networks.

The theorems of T2 hold for *any* loss; these cover smooth, non-smooth and robust ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((pred - y) ** 2).mean(dim=(-2, -1))


def absolute(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (pred - y).abs().mean(dim=(-2, -1))


def huber(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.huber_loss(pred, y.expand_as(pred), reduction="none", delta=1.0).mean(dim=(-2, -1))


def logistic(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Logistic loss with labels sign(y) (binary classification)."""
    return F.softplus(-torch.sign(y) * pred).mean(dim=(-2, -1))


LOSSES = {"mse": mse, "absolute": absolute, "huber": huber, "logistic": logistic}
