"""Where a trained Transformer looks: attention maps and the lags that receive the most weight."""

from __future__ import annotations

import numpy as np
import torch

from ..models.transformer import TransformerForecaster
from ..windows import Batch


def mean_attention(model: TransformerForecaster, batch: Batch) -> np.ndarray:
    """(N, N) attention averaged over windows, layers and heads (queries on rows)."""
    model.eval()
    with torch.inference_mode():
        _, maps = model(batch, return_attention=True)  # (B, layers, heads, N, N)
    return maps.mean(dim=(0, 1, 2)).numpy()


def lag_profile(attention: np.ndarray, patch_len: int, query: int = -1) -> dict[int, float]:
    """Attention of one query token (default: the most recent) to each key, keyed by lag in steps.

    A key j seen from query i sits (i - j) * patch_len steps in the past.
    """
    n = attention.shape[0]
    i = query % n
    return {(i - j) * patch_len: float(attention[i, j]) for j in range(n)}
