"""Run a model over windows without the Trainer and score it on the original scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .data.panel import Panel
from .inference import to_original_scale
from .metrics import all_metrics, point_index
from .windows import WindowDataset


@dataclass
class WindowForecasts:
    forecast: np.ndarray  # (N, H, Q) original scale
    actual: np.ndarray  # (N, H) original scale
    series: np.ndarray  # (N,)
    starts: np.ndarray  # (N,)


@torch.inference_mode()
def forecast_windows(model: nn.Module, dataset: WindowDataset, batch_size: int = 256) -> WindowForecasts:
    model.eval()
    preds, actuals, series, starts = [], [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        preds.append(to_original_scale(model(batch), batch))
        actuals.append(to_original_scale(batch["target"][..., None], batch)[..., 0])
        series.append(batch["series"].numpy())
        starts.append(batch["start"].numpy())
    return WindowForecasts(np.concatenate(preds), np.concatenate(actuals),
                           np.concatenate(series), np.concatenate(starts))


def score(result: WindowForecasts, panel: Panel, quantiles: list[float]) -> dict[str, float]:
    """MAE, RMSE, sMAPE, MASE of the point forecast, plus coverage when quantiles exist."""
    point = result.forecast[..., point_index(quantiles)]
    scales = np.array(
        [panel.scaler.stats[panel.series[i].unique_id].mase_scale for i in result.series]
    )
    metrics = all_metrics(result.actual, point, scales)
    if len(quantiles) >= 2:
        lo, hi = result.forecast[..., 0], result.forecast[..., -1]
        inside = (result.actual >= lo) & (result.actual <= hi)
        metrics[f"coverage_{quantiles[0]:g}_{quantiles[-1]:g}"] = float(inside.mean())
    return metrics
