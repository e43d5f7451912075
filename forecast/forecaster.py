"""`Forecaster`: the README's Python API, a thin convenience over `train`, `Predictor` and
the evaluation functions (fit, predict, evaluate, backtest, explain, save, load)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback

from .batch import score_frame
from .config import ForecastConfig, build_config, load_config
from .datamodule import PreparedData, prepare, resolved_config
from .ensemble import Ensemble, load_model
from .errors import ForecastError
from .evaluation import WindowForecasts, backtest, evaluate, forecast_split
from .explain import Explanation
from .inference import SeriesForecast, SeriesInput
from .predictor import Predictor
from .training import TrainingReport, train
from .windows import Split


class Forecaster:
    """Train one model on long-format data, then forecast, explain, save and load it."""

    def __init__(self, model: str | None = None,
                 config: ForecastConfig | dict | str | Path | None = None):
        if isinstance(config, (str, Path)):
            config = load_config(config)
        elif isinstance(config, dict) or config is None:
            config = build_config(config)
        self.config: ForecastConfig = config.with_model(model) if model else config
        self._predictor: Predictor | Ensemble | None = None
        self._prepared: PreparedData | None = None
        self.report: TrainingReport | None = None

    @classmethod
    def from_predictor(cls, predictor: Predictor | Ensemble,
                       prepared: PreparedData | None = None) -> Forecaster:
        """A fitted forecaster around a trained model (and the data it was prepared on)."""
        forecaster = cls(config=dict(predictor.training_config))
        forecaster._predictor, forecaster._prepared = predictor, prepared
        return forecaster

    # ---- what it is ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The model's name: its family, or `ensemble_<method>` for an ensemble."""
        return self._predictor.name if self._predictor else self.config.model.name

    @property
    def quantiles(self) -> list[float]:
        return list(self.config.model.quantiles)

    @property
    def lookback(self) -> int:
        return self.config.data.lookback

    @property
    def horizon(self) -> int:
        return self.config.data.horizon

    @property
    def predictor(self) -> Predictor | Ensemble:
        if self._predictor is None:
            raise ForecastError("the forecaster is not fitted: call fit() or Forecaster.load()")
        return self._predictor

    @property
    def network(self) -> torch.nn.Module:
        """The network (an ensemble's: its members' networks, one module list)."""
        predictor = self.predictor
        if isinstance(predictor, Ensemble):
            return torch.nn.ModuleList([m.network for m in predictor.members])
        return predictor.network

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self._predictor.metrics) if self._predictor else {}

    # ---- training and scoring -----------------------------------------------------------
    def data(self, df: pd.DataFrame | None = None) -> PreparedData:
        """The prepared data: what fit() used, else `df` (or the configured data) prepared now."""
        if df is not None:
            return prepare(self.config, df)[1]
        if self._prepared is None:
            self.config, self._prepared = prepare(self.config)
        return self._prepared

    @property
    def prepared(self) -> PreparedData:
        return self.data()

    def fit(self, df: pd.DataFrame | None = None, callbacks: list[Callback] | None = None,
            logger=False, prepared: PreparedData | None = None,
            init: Predictor | Forecaster | None = None) -> Forecaster:
        """Fit on `df` (or the configured data, or data already `prepared` for a comparison);
        with `init` (a trained model of the same family, window and features), continue
        training from its weights."""
        if prepared is None:
            self.config, self._prepared = prepare(self.config, df)
        else:
            self.config, self._prepared = resolved_config(self.config, prepared), prepared
        if isinstance(init, Forecaster):
            init = init.predictor
        self._predictor, self.report = train(self.config, self._prepared, callbacks, logger,
                                             init)
        return self

    def forecast_split(self, split: Split = "test", df: pd.DataFrame | None = None
                       ) -> WindowForecasts:
        return forecast_split(self.predictor, self.data(df), split)

    def evaluate(self, split: Split = "test", df: pd.DataFrame | None = None) -> dict[str, float]:
        """MAE/RMSE/sMAPE/MASE on non-overlapping horizon windows of the split."""
        return evaluate(self.predictor, self.data(df), split)

    def backtest(self, n_windows: int, step: int, df: pd.DataFrame | None = None) -> list[dict]:
        """Rolling origin: windows ending at the last point, then `step` earlier each time."""
        return backtest(self.predictor, self.data(df), n_windows, step)

    # ---- inference ----------------------------------------------------------------------
    def predict_series(self, items: list[SeriesInput], horizon: int | None = None
                       ) -> list[SeriesForecast]:
        return self.predictor.predict_series(items, horizon)

    def predict(self, df: pd.DataFrame, horizon: int | None = None,
                future_df: pd.DataFrame | None = None) -> pd.DataFrame:
        """Long DataFrame (unique_id, ds, mean, one column per quantile) for each series in df.

        `future_df` holds the future covariates for the `horizon` steps after each series.
        """
        result = score_frame(self.predictor, df, future_df, horizon)
        result.raise_for_errors()  # all or nothing here; `score_frame` lists and goes on
        return result.forecasts

    def explain(self, items: list[SeriesInput], top_k: int = 10) -> list[Explanation]:
        """The `top_k` input timestamps that mattered most for each series' forecast."""
        predictor = self.predictor
        return predictor.explain([predictor.check(item) for item in items], top_k)

    # ---- persistence --------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        return self.predictor.save(directory)

    @classmethod
    def load(cls, directory: str | Path) -> Forecaster:
        """Rebuild from a model directory: safetensors weights and JSON, no unpickling."""
        return cls.from_predictor(load_model(directory))


def refit_validation(forecasters: Iterable[Forecaster]
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """By model name, the first fit's validation forecasts of each refitted forecaster
    (`trainer.refit`): what `fit_ensembles` chooses an ensemble on in place of theirs."""
    return {f.name: f.report.validation for f in forecasters
            if f.report is not None and f.report.validation is not None}
