"""Score a predictor on prepared data: test metrics, backtests, window forecasts.

Functions of (predictor, prepared data), so a freshly trained model, a loaded one and the
current champion are all scored the same way on the same windows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Subset

from .calibration import MedianMode, Scale, window_scale
from .data.panel import Panel, build_panel
from .datamodule import PreparedData
from .errors import ConfigError
from .inference import to_original_scale
from .metrics import all_metrics, point_index, quantile_metrics
from .models import get_family
from .monitoring.adaptive import DEFAULT_RATES, replay_offsets
from .predictor import Predictor, ServedModel
from .windows import Split, WindowDataset, split_step, window_loader, window_starts

MAX_CALIBRATION_WINDOWS = 50_000
# the interval scores that adaptive offsets move (the median, so the point scores, stays)
SERVED_METRICS = ("coverage_80", "coverage_90", "width_80", "width_90", "wql", "crps")


@dataclass
class WindowForecasts:
    forecast: np.ndarray  # (N, H, Q) original scale
    actual: np.ndarray  # (N, H) original scale
    series: np.ndarray  # (N,)
    starts: np.ndarray  # (N,)
    panel: Panel  # the series the indices point into


def forecast_windows(predictor: ServedModel, dataset: WindowDataset, batch_size: int = 256
                     ) -> WindowForecasts:
    """The served (calibrated) quantiles of every window, on the original scale."""
    preds, actuals, series, starts = [], [], [], []
    for batch in window_loader(dataset, batch_size):
        preds.append(to_original_scale(predictor.outputs(batch), batch))
        actuals.append(to_original_scale(batch["target"][..., None], batch)[..., 0])
        series.append(batch["series"].numpy())
        starts.append(batch["start"].numpy())
    return WindowForecasts(np.concatenate(preds), np.concatenate(actuals),
                           np.concatenate(series), np.concatenate(starts), dataset.panel)


@torch.inference_mode()
def uncalibrated_windows(predictor: Predictor, dataset: Dataset, batch_size: int = 256
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base (N, H, Q), actual (N, H), window scale (N,)) in scaled units, before any
    calibration offset: what conformal calibration is measured on."""
    predictor.network.eval()
    bases, actuals, scales = [], [], []
    for batch in window_loader(dataset, batch_size):
        bases.append(predictor.calibration.broadcast(predictor.network(batch)).numpy())
        actuals.append(batch["target"].numpy())
        scales.append(window_scale(batch["past"][..., 0]).numpy())
    if not bases:
        q = max(len(predictor.quantiles), 1)
        return (np.zeros((0, predictor.horizon, q)), np.zeros((0, predictor.horizon)),
                np.zeros(0))
    return np.concatenate(bases), np.concatenate(actuals), np.concatenate(scales)


def calibrate(predictor: Predictor, prepared: PreparedData, conformal: bool,
              max_windows: int = MAX_CALIBRATION_WINDOWS, scale: Scale = "series",
              median: MedianMode = False) -> Predictor:
    """Measure the quantile offsets: a neural model on its validation windows (conformal;
    with `median`, the median's bias there too, or with `auto` when it is large), a
    baseline on its training part (empirical residual quantiles; its median stays the
    yardstick's). A point model, or a neural model with calibration `none`, is returned as
    it is.

    Every origin counts (stride 1): with a coarser stride each horizon step would only be
    seen at a few times of day, and its offset would miss the others. Above `max_windows`
    a fixed-seed random subset keeps the cost bounded on large panels."""
    if not predictor.quantiles:
        return predictor
    neural = get_family(predictor.name).neural
    if neural and not conformal:
        return predictor
    split: Split = "val" if neural else "train"
    windows: Dataset = split_windows(predictor, prepared, split, step=1)
    if len(windows) > max_windows:
        chosen = np.random.default_rng(0).choice(len(windows), max_windows, replace=False)
        windows = Subset(windows, np.sort(chosen).tolist())
    base, actual, scales = uncalibrated_windows(predictor, windows)
    if not len(base):
        return predictor
    method = "conformal" if neural else "empirical"
    calibration = dataclasses.replace(predictor.calibration, scale=scale)
    return predictor.with_calibration(calibration.fitted(method, base, actual, split, scales,
                                                         median=median if neural else False))


def panel_for(predictor: ServedModel, prepared: PreparedData) -> Panel:
    """The data scaled with the predictor's own statistics (the prepared panel when they are
    the ones it was trained with)."""
    if predictor.scaler is prepared.panel.scaler:
        return prepared.panel
    spec = predictor.spec
    if prepared.frame is None:  # read a piece at a time: rescale the panel itself
        if spec.covariates != prepared.panel.spec.covariates:
            raise ConfigError(f"model needs covariates {list(spec.covariates)}; this data was "
                              f"prepared with {list(prepared.panel.spec.covariates)}")
        return prepared.panel.rescaled(predictor.scaler, predictor.dims.season)
    missing = [c for c in (*spec.covariates, *spec.static_covariates)
               if c not in prepared.frame.columns]
    if missing:
        raise ConfigError(f"model needs columns {missing} that the data does not have")
    return build_panel(prepared.frame, spec, scaler=predictor.scaler, season=predictor.dims.season)


def split_windows(predictor: ServedModel, prepared: PreparedData, split: Split = "test",
                  step: int | None = None) -> WindowDataset:
    """Every window whose targets lie in `split` (test: one per horizon, no overlap;
    validation and training: a quarter horizon apart)."""
    step = step or split_step(split, predictor.horizon, max(1, predictor.horizon // 4))
    starts = [window_starts(b, split, predictor.lookback, predictor.horizon, step)
              for b in prepared.bounds]
    panel = panel_for(predictor, prepared)
    return WindowDataset(panel, starts, predictor.lookback, predictor.horizon,
                         predictor.keys_for(panel))


def forecast_split(predictor: ServedModel, prepared: PreparedData, split: Split = "test"
                   ) -> WindowForecasts:
    return forecast_windows(predictor, split_windows(predictor, prepared, split))


def score(result: WindowForecasts, quantiles: list[float] | tuple[float, ...]) -> dict[str, float]:
    """MAE, RMSE, sMAPE, MASE of the point forecast, plus interval coverage, width and
    quantile losses when quantiles exist."""
    quantiles = list(quantiles)
    point = result.forecast[..., point_index(quantiles)]
    stats = result.panel.scaler.stats
    scales = np.array([stats[result.panel.series[i].unique_id].mase_scale for i in result.series])
    metrics = all_metrics(result.actual, point, scales)
    if quantiles:
        metrics.update(quantile_metrics(result.actual, result.forecast, quantiles))
    return metrics


def offset_units(result: WindowForecasts) -> np.ndarray:
    """(N,) each window's series' training standard deviation: the adaptive offsets' unit."""
    stats = result.panel.scaler.stats
    return np.array([stats[result.panel.series[i].unique_id].y_std for i in result.series])


def served_adaptively(result: WindowForecasts, quantiles: tuple[float, ...],
                      rates: tuple[float, ...] = DEFAULT_RATES) -> WindowForecasts:
    """These forecasts as the service serves them with adaptive intervals on (its default):
    window after window, the offsets learn from the actuals of the windows before (see
    `replay_offsets`). The median is unchanged, so only the interval scores move."""
    served = replay_offsets(result.forecast, result.actual, result.series, result.starts,
                            offset_units(result), tuple(quantiles), rates)
    return dataclasses.replace(result, forecast=served)


def evaluate(predictor: ServedModel, prepared: PreparedData, split: Split = "test"
             ) -> dict[str, float]:
    """Metrics on non-overlapping horizon-long windows of the split, on the original scale."""
    return score(forecast_split(predictor, prepared, split), predictor.quantiles)


def scores_on_test(predictor: ServedModel, prepared: PreparedData) -> dict[str, float]:
    """The test windows' scores (`evaluate`) and, where an interval is served, its scores as
    the service serves it with adaptive intervals on, its default (`served_coverage_80`, ...;
    `served_adaptively`): the static interval is what the offsets measured on validation
    promise, the served one what a deployment fed its actuals gets, and live coverage is
    compared with it. On a test part of one window per series the two are the same."""
    result = forecast_split(predictor, prepared, "test")
    metrics = score(result, predictor.quantiles)
    if any(f"coverage_{tag}" in metrics for tag in ("80", "90")):
        served = score(served_adaptively(result, tuple(predictor.quantiles)), predictor.quantiles)
        metrics.update({f"served_{k}": served[k] for k in SERVED_METRICS if k in served})
    return metrics


def backtest(predictor: ServedModel, prepared: PreparedData, n_windows: int, step: int
             ) -> list[dict]:
    """Rolling origin over the test part: windows ending at the last point, then `step`
    earlier each time, while every series' window lies in its test part. Earlier windows
    would score data the weights or the intervals were fitted on (training, and validation
    for early stopping, the conformal offsets and a refit), so a short test part gives fewer
    than `n_windows` windows."""
    panel, rows = panel_for(predictor, prepared), []
    lookback, horizon = predictor.lookback, predictor.horizon
    test_start = {s.unique_id: b.val_end
                  for s, b in zip(prepared.panel.series, prepared.bounds, strict=True)}
    for k in range(n_windows):
        starts = [range(t, t + 1) for t in
                  (len(s.values) - horizon - k * step for s in panel.series)]
        if any(r.start < test_start[s.unique_id]  # a test part starts past a lookback
               for r, s in zip(starts, panel.series, strict=True)):
            break
        dataset = WindowDataset(panel, starts, lookback, horizon, predictor.keys_for(panel))
        result = forecast_windows(predictor, dataset)
        cutoff = pd.Timestamp(panel.series[0].ns(starts[0].start - 1))
        rows.append({"window": k, "cutoff": str(cutoff), **score(result, predictor.quantiles)})
    return rows
