"""Which inputs mattered, at the grain the model weighs them: for a patched Transformer the
attention each patch (an input range: start, end) receives, for one token per step the
attention per step, for recurrent and dense (`mlp`) models input-gradient saliency per step.

All are normalised to sum to one over the lookback, so they read as shares.
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
    ds: list[pd.Timestamp]  # the first input timestamp of each range (a step: the step)
    weight: list[float]
    end: list[pd.Timestamp] | None = None  # the last timestamp of each range; None: single steps

    @property
    def grain(self) -> str:
        return "patch" if self.end is not None else "step"


def saliency_per_step(model: nn.Module, batch: Batch, point: int) -> np.ndarray:
    """(B, L): |d forecast / d input| summed over features and horizon steps."""
    past = batch["past"].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        output = model({**batch, "past": past})[..., point]  # (B, H)
        output.sum().backward()
    return past.grad.abs().sum(dim=-1).numpy()  # (B, L)


def explain_batch(model: nn.Module, attention: bool, batch: Batch,
                  history: list[pd.DatetimeIndex], point: int, top_k: int) -> list[Explanation]:
    """`attention`: the model's family returns attention maps (`token_attention` and
    `token_spans` per patch); the `top_k` ranges or steps with the most weight, largest first."""
    spans = model.token_spans() if attention else None
    if attention:
        method, weights = "attention", model.token_attention(batch)
    else:
        method, weights = "saliency", saliency_per_step(model, batch, point)
    patched = spans is not None and any(first != last for first, last in spans)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    explanations = []
    for row, ds in zip(weights, history, strict=True):
        top = np.argsort(row, kind="stable")[::-1][:top_k]
        if patched:  # ds is the lookback's timestamps
            explanations.append(Explanation(
                method, [ds[spans[i][0]] for i in top], [float(row[i]) for i in top],
                end=[ds[spans[i][1]] for i in top]))
        else:
            explanations.append(Explanation(method, [ds[i] for i in top],
                                            [float(row[i]) for i in top]))
    return explanations
