"""Forecast metrics on the original scale (point and quantile), and the pinball loss."""

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


INTERVALS = (0.8, 0.9)  # central intervals whose coverage and width are reported


def quantile_metrics(actual: np.ndarray, forecast: np.ndarray, quantiles: list[float]
                     ) -> dict[str, float]:
    """Scores of quantile forecasts. actual (N, H), forecast (N, H, Q) ascending.

    - `coverage_80`, `width_80` (and 90): share of actuals inside the central interval and
      its mean width, when both of its quantiles are served;
    - `wql`: weighted quantile loss, 2 * pinball summed over points / sum |actual|, averaged
      over quantiles (GluonTS's mean_wQuantileLoss; scale-free, 0 is perfect);
    - `crps`: the CRPS approximated by the mean over quantiles of 2 * pinball (original units,
      comparable with MAE, which it equals for a point forecast).
    """
    levels = np.asarray(quantiles, dtype=np.float64)
    error = actual[..., None] - forecast  # (N, H, Q)
    pinball = np.maximum(levels * error, (levels - 1) * error)  # (N, H, Q)
    metrics = {
        "wql": float(np.mean(2 * pinball.sum(axis=(0, 1)) / max(np.abs(actual).sum(), 1e-12))),
        "crps": float(np.mean(2 * pinball)),
    }
    for nominal in INTERVALS:
        lo, hi = round((1 - nominal) / 2, 6), round((1 + nominal) / 2, 6)
        if lo in quantiles and hi in quantiles:
            lower, upper = forecast[..., quantiles.index(lo)], forecast[..., quantiles.index(hi)]
            tag = f"{round(nominal * 100)}"
            metrics[f"coverage_{tag}"] = float(((actual >= lower) & (actual <= upper)).mean())
            metrics[f"width_{tag}"] = float(np.mean(upper - lower))
    return metrics


def quantile_hits(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Share of actuals at or below each quantile (Q,): the reliability diagram's y-axis."""
    return (actual[..., None] <= forecast).reshape(-1, forecast.shape[-1]).mean(axis=0)


def pinball_loss(pred: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor,
                 reduce: bool = True) -> torch.Tensor:
    """pred (B, H, Q), target (B, H), quantiles (Q,) -> mean quantile loss (a scalar, or one
    per window (B,) with `reduce=False`)."""
    error = target.unsqueeze(-1) - pred  # (B, H, Q)
    loss = torch.maximum(quantiles * error, (quantiles - 1) * error)
    return loss.mean() if reduce else loss.mean(dim=(1, 2))


def point_index(quantiles: list[float]) -> int:
    """Which output column is the point forecast: the median if present, else the middle one."""
    if not quantiles:
        return 0
    if 0.5 in quantiles:
        return quantiles.index(0.5)
    return len(quantiles) // 2
