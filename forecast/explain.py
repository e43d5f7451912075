"""Which input time steps mattered: attention for Transformers, input-gradient saliency otherwise.

Both are normalised to sum to one over the lookback, so they read as shares of attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .models.transformer import TransformerForecaster
from .windows import Batch


@dataclass
class Explanation:
    method: str  # "attention" | "saliency"
    ds: list[pd.Timestamp]
    weight: list[float]


def attention_per_step(model: TransformerForecaster, batch: Batch) -> np.ndarray:
    """(B, L): attention received by each input step, averaged over heads, layers and queries."""
    with torch.inference_mode():
        _, maps = model(batch, return_attention=True)  # (B, layers, heads, N, N)
    per_token = maps.mean(dim=(1, 2)).mean(dim=1)  # (B, N) mean over queries
    per_step = per_token.repeat_interleave(model.patch_len, dim=1) / model.patch_len  # (B, N*P)
    return per_step[:, model.pad:].numpy()  # drop the front padding -> (B, L)


def saliency_per_step(model: nn.Module, batch: Batch, point: int) -> np.ndarray:
    """(B, L): |d forecast / d input| summed over features and horizon steps."""
    past = batch["past"].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        output = model({**batch, "past": past})[..., point]  # (B, H)
        output.sum().backward()
    return past.grad.abs().sum(dim=-1).numpy()  # (B, L)


def explain_batch(model: nn.Module, batch: Batch, history: list[pd.DatetimeIndex], point: int,
                  top_k: int) -> list[Explanation]:
    if isinstance(model, TransformerForecaster):
        method, weights = "attention", attention_per_step(model, batch)
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
