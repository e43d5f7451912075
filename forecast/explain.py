"""Which input time steps mattered: attention for Transformers, input-gradient saliency otherwise.

Both are normalised to sum to one over the lookback, so they read as shares of attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .windows import Batch


@dataclass
class Explanation:
    method: str  # "attention" | "saliency"
    ds: list[pd.Timestamp]
    weight: list[float]


def saliency_per_step(model: nn.Module, batch: Batch, point: int) -> np.ndarray:
    """(B, L): |d forecast / d input| summed over features and horizon steps."""
    past = batch["past"].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        output = model({**batch, "past": past})[..., point]  # (B, H)
        output.sum().backward()
    return past.grad.abs().sum(dim=-1).numpy()  # (B, L)


def explain_batch(model: nn.Module, attention: bool, batch: Batch,
                  history: list[pd.DatetimeIndex], point: int, top_k: int) -> list[Explanation]:
    """`attention`: the model's family returns attention maps (`step_attention`)."""
    if attention:
        method, weights = "attention", model.step_attention(batch)
    else:
        method, weights = "saliency", saliency_per_step(model, batch, point)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    explanations = []
    for row, ds in zip(weights, history, strict=True):
        top = np.argsort(row)[::-1][:top_k]
        explanations.append(Explanation(method, [ds[i] for i in top],
                                        [float(row[i]) for i in top]))
    return explanations
