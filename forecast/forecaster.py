"""`Forecaster`: the high-level Python API (fit, predict, evaluate, save, load)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback

from . import __version__
from .artifacts import load_artifact, save_artifact
from .config import NEURAL_MODELS, ForecastConfig, build_config, load_config
from .data.panel import FeatureSpec
from .data.scaling import SeriesScaler
from .datamodule import PreparedData, WindowDataModule, prepare_data
from .errors import ConfigError, DataValidationError, ForecastError
from .evaluation import WindowForecasts, forecast_windows, score
from .explain import Explanation, explain_batch
from .inference import SeriesForecast, SeriesInput, build_batch, to_original_scale
from .metrics import point_index
from .models import ModelDims, architecture_from_settings, build_model
from .module import ForecastModule
from .training import TrainingReport, fit_module
from .windows import WindowDataset


def quantile_label(q: float) -> str:
    return f"{q:g}"


class Forecaster:
    """Train one model on long-format data, then forecast, explain, save and load it."""

    def __init__(self, model: str | None = None, config: ForecastConfig | dict | str | Path |
                 None = None):
        if isinstance(config, (str, Path)):
            config = load_config(config)
        elif isinstance(config, dict) or config is None:
            config = build_config(config)
        self.config: ForecastConfig = config.with_model(model) if model else config
        self.network: torch.nn.Module | None = None
        self.spec: FeatureSpec | None = None
        self.dims: ModelDims | None = None
        self.scaler = SeriesScaler()
        self.architecture: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.report: TrainingReport | None = None
        self.prepared: PreparedData | None = None

    # ---- properties read from the config ------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.model.name

    @property
    def quantiles(self) -> list[float]:
        return list(self.config.model.quantiles)

    @property
    def lookback(self) -> int:
        return self.config.data.lookback

    @property
    def horizon(self) -> int:
        return self.config.data.horizon

    def _require_model(self) -> torch.nn.Module:
        if self.network is None:
            raise ForecastError("the forecaster is not fitted: call fit() or Forecaster.load()")
        return self.network

    # ---- training -----------------------------------------------------------------------
    def fit(self, df: pd.DataFrame | None = None, callbacks: list[Callback] | None = None,
            logger=False, prepared: PreparedData | None = None) -> Forecaster:
        """Fit on `df` (or the configured data, or data already `prepared` for a comparison).

        Baselines have nothing to learn; they only keep the scalers.
        """
        data = self.config.data
        self.prepared = prepared or prepare_data(data, df)
        self.spec, self.scaler = self.prepared.panel.spec, self.prepared.panel.scaler
        self.dims = ModelDims(
            lookback=data.lookback, horizon=data.horizon, n_features=self.spec.n_step_features,
            n_future=self.spec.n_future, n_static=len(self.spec.static_covariates),
            n_outputs=max(len(self.quantiles), 1),
        )
        self.architecture = architecture_from_settings(self.config.model, data.season)
        self.network = build_model(self.name, self.dims, self.architecture)
        if self.name in NEURAL_MODELS:
            trainer = self.config.trainer
            module = ForecastModule(self.network, self.quantiles, trainer.learning_rate,
                                    trainer.weight_decay, trainer.max_epochs)
            self.report = fit_module(module, WindowDataModule(self.prepared, data), trainer,
                                     callbacks, logger)
        self.network.eval()
        self.metrics = self.evaluate("test")
        return self

    def _windows(self, split: str) -> WindowDataset:
        if self.prepared is None:
            raise ForecastError("evaluation needs the training data: call fit() first")
        return WindowDataModule(self.prepared, self.config.data).dataset(split)

    def forecast_split(self, split: str = "test") -> WindowForecasts:
        return forecast_windows(self._require_model(), self._windows(split))

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """MAE/RMSE/sMAPE/MASE on non-overlapping day-ahead windows of the split."""
        assert self.prepared is not None
        return score(self.forecast_split(split), self.prepared.panel, self.quantiles)

    def backtest(self, n_windows: int, step: int) -> list[dict[str, float]]:
        """Rolling origin: windows ending at the last point, then `step` earlier each time."""
        if self.prepared is None:
            raise ForecastError("backtest needs the training data: call fit() first")
        panel, rows = self.prepared.panel, []
        for k in range(n_windows):
            starts = [np.array([len(s.y) - self.horizon - k * step], dtype=np.int64)
                      for s in panel.series]
            if min(int(s[0]) for s in starts) < self.lookback:
                break
            dataset = WindowDataset(panel, starts, self.lookback, self.horizon)
            result = forecast_windows(self._require_model(), dataset)
            cutoff = panel.series[0].ds[int(starts[0][0]) - 1]
            rows.append({"window": k, "cutoff": str(cutoff),
                         **score(result, panel, self.quantiles)})
        return rows

    # ---- inference ----------------------------------------------------------------------
    def _forward(self, items: list[SeriesInput], checked: bool = False):
        network = self._require_model()
        assert self.spec is not None
        batch, future_ds = build_batch(items, self.spec, self.scaler, self.lookback,
                                       self.horizon, self.config.data.season, checked)
        with torch.inference_mode():
            return batch, future_ds, network(batch)

    def check_horizon(self, horizon: int | None) -> int:
        horizon = self.horizon if horizon is None else int(horizon)
        if not 1 <= horizon <= self.horizon:
            raise DataValidationError(
                f"horizon {horizon} is outside 1..{self.horizon}, the horizon the model was "
                "trained for")
        return horizon

    def predict_series(self, items: list[SeriesInput], horizon: int | None = None,
                       checked: bool = False) -> list[SeriesForecast]:
        """Forecast many series in one forward pass (the service's batched path).

        `checked=True`: every item already passed `check_series` (the service validates each
        request before it joins a batch), so it is not validated twice.
        """
        horizon = self.check_horizon(horizon)
        if not items:
            return []
        batch, future_ds, pred = self._forward(items, checked)
        values = to_original_scale(pred, batch)[:, :horizon]  # (B, h, Q)
        return [SeriesForecast(item.unique_id, ds[:horizon], values[i],
                               item.ds[-self.lookback:])
                for i, (item, ds) in enumerate(zip(items, future_ds, strict=True))]

    def explain(self, items: list[SeriesInput], top_k: int = 10) -> list[Explanation]:
        """The `top_k` input timestamps that mattered most for each series' forecast."""
        network = self._require_model()
        assert self.spec is not None
        batch, _ = build_batch(items, self.spec, self.scaler, self.lookback, self.horizon,
                               self.config.data.season)
        history = [item.ds[-self.lookback:] for item in items]
        return explain_batch(network, batch, history, point_index(self.quantiles), top_k)

    def smoke_test(self) -> None:
        """One prediction on a synthetic series; raises if the output is not finite."""
        assert self.spec is not None
        n = self.lookback
        ds = pd.date_range("2020-01-01", periods=n, freq=self.spec.freq)
        covariates = {c: np.zeros(n + (self.horizon if c in self.spec.future_covariates else 0))
                      for c in self.spec.covariates}
        static = dict.fromkeys(self.spec.static_covariates, 0.0)
        item = SeriesInput("__smoke__", ds, np.sin(np.arange(n) / 7.0), covariates, static)
        values = self.predict_series([item])[0].values
        if values.shape != (self.horizon, max(len(self.quantiles), 1)) or not np.isfinite(
                values).all():
            raise ForecastError(f"smoke prediction failed: shape {values.shape}, "
                                f"finite={bool(np.isfinite(values).all())}")

    def predict(self, df: pd.DataFrame, horizon: int | None = None,
                future_df: pd.DataFrame | None = None) -> pd.DataFrame:
        """Long DataFrame (unique_id, ds, mean, one column per quantile) for each series in df.

        `future_df` holds the future covariates for the `horizon` steps after each series.
        """
        horizon = self.check_horizon(horizon)
        items = frame_to_inputs(df, self._require_spec(), self.horizon, future_df)
        return forecasts_to_frame(self.predict_series(items, horizon), self.quantiles)

    def _require_spec(self) -> FeatureSpec:
        self._require_model()
        assert self.spec is not None
        return self.spec

    # ---- persistence --------------------------------------------------------------------
    def model_config(self) -> dict[str, Any]:
        """What config.json holds: enough to rebuild the network and read new data."""
        assert self.spec is not None and self.dims is not None
        return {
            "name": self.name,
            "architecture": self.architecture,
            "dims": asdict(self.dims),
            "features": self.spec.to_json(),
            "lookback": self.lookback,
            "horizon": self.horizon,
            "freq": self.spec.freq,
            "quantiles": self.quantiles,
            "season": self.config.data.season,
            "metrics": self.metrics,
            "library_version": __version__,
            "training_config": self.config.model_dump(),
        }

    def save(self, directory: str | Path) -> Path:
        network = self._require_model()
        return save_artifact(directory, network.state_dict(), self.model_config(),
                             self.scaler.to_json())

    @classmethod
    def load(cls, directory: str | Path) -> Forecaster:
        """Rebuild from a model directory: safetensors weights and JSON, no unpickling."""
        weights, config, scaler = load_artifact(directory)
        forecaster = cls(config=config["training_config"])
        forecaster.spec = FeatureSpec.from_json(config["features"])
        forecaster.dims = ModelDims(**config["dims"])
        forecaster.architecture = config["architecture"]
        forecaster.scaler = SeriesScaler.from_json(scaler)
        forecaster.metrics = config.get("metrics", {})
        network = build_model(config["name"], forecaster.dims, forecaster.architecture)
        missing, unexpected = network.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise ConfigError(f"weights in {directory} do not fit the architecture: missing "
                              f"{missing[:3]}, unexpected {unexpected[:3]}")
        forecaster.network = network.eval()
        return forecaster


def frame_to_inputs(df: pd.DataFrame, spec: FeatureSpec, horizon: int,
                    future_df: pd.DataFrame | None = None) -> list[SeriesInput]:
    """Split a long frame (and optional future covariates frame) into SeriesInputs."""
    from .data.validation import validate_frame

    history_columns = [*spec.covariates, *spec.static_covariates]
    clean, _ = validate_frame(df, history_columns, spec.freq)
    future: dict[str, pd.DataFrame] = {}
    if spec.future_covariates and future_df is not None:  # without it: an error per series
        checked, _ = validate_frame(future_df, list(spec.future_covariates), spec.freq,
                                    require_y=False)
        future = {str(k): g for k, g in checked.groupby("unique_id", sort=False)}
    items = []
    for uid, group in clean.groupby("unique_id", sort=False):
        uid = str(uid)
        covariates = {c: group[c].to_numpy(np.float64) for c in spec.past_covariates}
        for c in spec.future_covariates:
            ahead = future.get(uid, pd.DataFrame(columns=["ds", c]))
            ahead = ahead[ahead["ds"] > group["ds"].iloc[-1]].head(horizon)
            covariates[c] = np.concatenate([group[c].to_numpy(np.float64),
                                            ahead[c].to_numpy(np.float64)])
        static = {c: float(group[c].iloc[0]) for c in spec.static_covariates}
        items.append(SeriesInput(uid, pd.DatetimeIndex(group["ds"]),
                                 group["y"].to_numpy(np.float64), covariates, static))
    return items


def forecasts_to_frame(forecasts: list[SeriesForecast], quantiles: list[float]) -> pd.DataFrame:
    point = point_index(quantiles)
    frames = []
    for f in forecasts:
        columns = {"unique_id": f.unique_id, "ds": f.ds, "mean": f.values[:, point]}
        for i, q in enumerate(quantiles):
            columns[quantile_label(q)] = f.values[:, i]
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["unique_id", "ds", "mean", *map(quantile_label, quantiles)])


def evaluate_on(forecaster: Forecaster, prepared: PreparedData) -> dict[str, float]:
    """Score a (loaded) forecaster on another run's test windows, with its own scaler.

    This is how a challenger and the current champion are compared on the same window.
    """
    from .data.panel import build_panel
    from .windows import window_starts

    network, spec = forecaster._require_model(), forecaster._require_spec()
    missing = [c for c in (*spec.covariates, *spec.static_covariates)
               if c not in prepared.frame.columns]
    if missing:
        raise ConfigError(f"model needs columns {missing} that the data does not have")
    panel = build_panel(prepared.frame, spec, scaler=forecaster.scaler,
                        season=forecaster.config.data.season)
    starts = [window_starts(b, "test", forecaster.lookback, forecaster.horizon,
                            forecaster.horizon) for b in prepared.bounds]
    dataset = WindowDataset(panel, starts, forecaster.lookback, forecaster.horizon)
    return score(forecast_windows(network, dataset), panel, forecaster.quantiles)
