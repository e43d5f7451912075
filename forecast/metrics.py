"""Point-forecast metrics on the original scale, and the pinball loss for quantiles."""

from __future__ import annotations

import numpy as np
import torch


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(actual - forecast)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0..200); terms where both are zero count as zero."""
    denom = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(2.0 * np.abs(actual - forecast), denom, out=np.zeros_like(denom),
                      where=denom > 0)
    return float(100.0 * np.mean(ratio))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray | float) -> float:
    """MAE scaled per series by its in-sample seasonal-naive MAE (`scale` broadcasts by row)."""
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim == 1:
        scale = scale[:, None]
    return float(np.mean(np.abs(actual - forecast) / scale))


def all_metrics(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray | float) -> dict:
    return {
        "mae": mae(actual, forecast),
        "rmse": rmse(actual, forecast),
        "smape": smape(actual, forecast),
        "mase": mase(actual, forecast, scale),
    }


def pinball_loss(pred: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """pred (B, H, Q), target (B, H), quantiles (Q,) -> mean quantile loss."""
    error = target.unsqueeze(-1) - pred  # (B, H, Q)
    return torch.maximum(quantiles * error, (quantiles - 1) * error).mean()


def point_index(quantiles: list[float]) -> int:
    """Which output column is the point forecast: the median if present, else the middle one."""
    if not quantiles:
        return 0
    if 0.5 in quantiles:
        return quantiles.index(0.5)
    return len(quantiles) // 2
