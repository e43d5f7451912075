"""Vanishing gradients, measured: |d output / d input| at each distance back from the forecast."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..windows import Batch


def input_gradient_by_distance(model: nn.Module, batch: Batch) -> np.ndarray:
    """(L,) mean gradient norm of the first forecast step w.r.t. the input, index = distance.

    Entry k is the input k steps before the first forecast step (k = 1 is the last input).
    """
    past = batch["past"].detach().clone().requires_grad_(True)
    model.eval()
    with torch.enable_grad():
        output = model({**batch, "past": past})[:, 0, 0]  # (B,)
        output.sum().backward()
    norms = past.grad.norm(dim=-1).mean(dim=0).numpy()  # (L,) oldest first
    return np.concatenate([[np.nan], norms[::-1]])  # index = distance
