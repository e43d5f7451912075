"""One runner per library: fit on a BenchSet, forecast its test windows, time one prediction.

Every runner returns `Run`: the test forecasts as (unique_id, ds, yhat) on the original
scale, the wall time of fitting plus forecasting every test window, the peak RSS increase
over that, and the median latency of a single-series prediction in process. The settings
that differ between libraries are in `SETTINGS` (and docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from peer_sets import BenchSet

from forecast import Forecaster, load_config
from forecast.data.calendar import calendar_features
from forecast.study.profiling import peak_rss_mb, reset_peak_rss
from pipelines.presets import config_path

CALENDAR = ["hour", "dayofweek", "dayofyear"]
PEER_STEPS = {"full": 300, "quick": 10}  # optimiser steps of the peers (see SETTINGS)
PEER_BATCH = 32  # windows per step, NeuralForecast and Darts alike
PRESET_CONFIG = {"full": "default", "quick": "quick"}  # our config per preset
SETTINGS = {  # {ours}, {steps} and {batch} are filled in per preset by `settings`
    "ours": "{ours}, trained on the part before validation; "
            "`model.normalization` per family default (revin); pinball loss on 7 quantiles, "
            "the median scored; covariates and calendar features",
    "neuralforecast": "{steps} steps of {batch} windows (defaults: 1000 steps, PatchTST 5000, of 128 "
                      "windows for LSTM/GRU and 1024 for PatchTST/NHITS: at the defaults one "
                      "LSTM fit on vic_elec takes over 10 minutes on this 2-core machine), "
                      "default architectures, trained on everything "
                      "before the test part, no early stopping; scaler_type 'robust' (the "
                      "LSTM/GRU default; NHITS defaults to none) and PatchTST its own RevIN; "
                      "MAE loss (default); past covariates as hist_exog, known covariates "
                      "and the same calendar features as futr_exog (PatchTST takes none)",
    "darts": "{steps} steps of batch {batch} (one epoch over the most recent {steps} * {batch} "
             "/ n_series windows "
             "of each series), trained on everything before the test part; Darts' Scaler "
             "(min-max per series, fit on that part); MSE loss (default); covariates and "
             "calendar features as past covariates (these models take no future ones)",
}


def settings(preset: str) -> dict[str, str]:
    """What differs between the libraries, with this preset's budgets (ours read from the
    config the preset trains with, so the text cannot drift from it)."""
    name = PRESET_CONFIG[preset]
    config = load_config(config_path(name))
    ours = (f"the {name} config (max_epochs {config.trainer.max_epochs} with a cosine schedule, "
            f"early stopping on the validation part with patience {config.trainer.patience}; "
            f"training windows {config.data.window_step} steps apart on vic_elec, about "
            f"{WINDOWS_PER_EPOCH:,} windows an epoch elsewhere)")
    return {k: v.format(ours=ours, steps=PEER_STEPS[preset], batch=PEER_BATCH)
            for k, v in SETTINGS.items()}


@dataclass
class Run:
    forecasts: pd.DataFrame  # unique_id, ds, yhat
    fit_seconds: float
    peak_mb: float
    latency_ms: float
    epochs: int | None = None


def measured(fit_and_forecast: Callable[[], tuple[pd.DataFrame, Callable[[], object]]],
             repeats: int = 5) -> Run:
    """Time `fit_and_forecast` (which returns the forecasts and a one-series predictor call),
    then the median of `repeats` calls of the latter."""
    gc.collect()
    base = reset_peak_rss() or 0.0
    start = time.perf_counter()
    forecasts, predict_one = fit_and_forecast()
    seconds = time.perf_counter() - start
    peak = peak_rss_mb() - base
    predict_one()  # warm-up
    latencies = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict_one()
        latencies.append(1000 * (time.perf_counter() - t0))
    return Run(forecasts, seconds, max(peak, 0.0), statistics.median(latencies))


def with_calendar(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The calendar features our models compute, as columns peers can read (and their names)."""
    values = calendar_features(pd.DatetimeIndex(frame["ds"]), CALENDAR)
    names = [f"{f}_{t}" for f in CALENDAR for t in ("sin", "cos")]
    return frame.assign(**{n: values[:, i] for i, n in enumerate(names)}), names


# ---- this project ------------------------------------------------------------------------
WINDOWS_PER_EPOCH = 15_000


def window_step(bench: BenchSet) -> int:
    """Steps between training windows: about WINDOWS_PER_EPOCH windows an epoch (at least
    every second step), so an epoch of a 100-series panel costs what one of a few series
    does; NeuralForecast samples a fixed number of windows per step the same way."""
    return max(2, -(-bench.train_windows() // WINDOWS_PER_EPOCH))


def our_config(bench: BenchSet, preset: str, extra: list[str] = ()):
    overrides = [
        f"data.lookback={bench.lookback}", f"data.horizon={bench.horizon}",
        f"data.season={bench.season}", f"data.val_size={bench.val_size}",
        f"data.test_size={bench.test_size}", f"data.freq={bench.freq}",
        f"data.past_covariates={bench.past_covariates}",
        f"data.future_covariates={bench.future_covariates}",
        f"data.calendar={CALENDAR}", "trainer.enable_progress_bar=false"]
    if bench.name != "vic_elec":  # vic_elec keeps the default config's step
        overrides.append(f"data.window_step={window_step(bench)}")
    return load_config(config_path(PRESET_CONFIG[preset]), overrides + list(extra))


def run_ours(name: str, bench: BenchSet, preset: str, extra: list[str] = ()) -> Run:
    config = our_config(bench, preset, extra)
    state = {}

    def fit_and_forecast():
        forecaster = Forecaster(name, config).fit(bench.frame)
        state["epochs"] = forecaster.report.epochs_run if forecaster.report else None
        windows = forecaster.forecast_split("test")
        point = windows.forecast[..., forecaster.predictor.point]  # (N, H)
        rows = []
        for i, (s, start) in enumerate(zip(windows.series, windows.starts, strict=True)):
            series = windows.panel.series[s]
            ds = series.ds[start: start + bench.horizon]
            rows.append(pd.DataFrame({"unique_id": series.unique_id, "ds": ds,
                                      "yhat": point[i]}))
        history, future = one_series(bench)
        return pd.concat(rows, ignore_index=True), lambda: forecaster.predict(
            history, future_df=future)

    run = measured(fit_and_forecast)
    run.epochs = state["epochs"]
    return run


def one_series(bench: BenchSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first series' lookback before its test part, and its known covariates ahead."""
    uid = bench.frame["unique_id"].iloc[0]
    g = bench.frame[bench.frame["unique_id"] == uid].reset_index(drop=True)
    cut = len(g) - bench.test_size
    history = g.iloc[cut - bench.lookback - bench.season: cut]
    future = g.iloc[cut: cut + bench.horizon].drop(columns=["y"])
    return history, future


# ---- seasonal naive ----------------------------------------------------------------------
def run_seasonal_naive(bench: BenchSet) -> Run:
    def fit_and_forecast():
        parts = []
        for uid, g in bench.frame.groupby("unique_id", sort=False):
            y = g["y"].to_numpy()
            idx = np.arange(len(y) - bench.test_size, len(y))
            origin = idx - (idx - idx[0]) % bench.horizon  # the window's first step
            lag = bench.season * np.ceil((idx - origin + 1) / bench.season).astype(int)
            parts.append(pd.DataFrame({"unique_id": uid, "ds": g["ds"].to_numpy()[idx],
                                       "yhat": y[idx - lag]}))
        return pd.concat(parts, ignore_index=True), lambda: None
    return measured(fit_and_forecast)


# ---- NeuralForecast ----------------------------------------------------------------------
def run_neuralforecast(model: str, bench: BenchSet, preset: str) -> Run:
    from neuralforecast import NeuralForecast
    from neuralforecast import models as nf_models

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    frame, calendar = with_calendar(bench.frame)
    exog = {} if model == "PatchTST" else {
        "hist_exog_list": bench.past_covariates or None,
        "futr_exog_list": bench.future_covariates + calendar,
        "scaler_type": "robust"}
    network = getattr(nf_models, model)(
        h=bench.horizon, input_size=bench.lookback, max_steps=PEER_STEPS[preset],
        windows_batch_size=PEER_BATCH, random_seed=1, enable_progress_bar=False, logger=False,
        enable_checkpointing=False, enable_model_summary=False, accelerator="cpu", **exog)
    nf = NeuralForecast(models=[network], freq=bench.freq)

    def fit_and_forecast():
        out = nf.cross_validation(df=frame, n_windows=bench.test_size // bench.horizon,
                                  step_size=bench.horizon, refit=False)
        forecasts = out.reset_index()[["unique_id", "ds", model]].rename(columns={model: "yhat"})
        history, future = one_series(bench)
        history, _ = with_calendar(history)
        future, _ = with_calendar(future)
        return forecasts, lambda: nf.predict(df=history, futr_df=future)

    return measured(fit_and_forecast)


# ---- Darts -------------------------------------------------------------------------------
def run_darts(model: str, bench: BenchSet, preset: str) -> Run:
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import BlockRNNModel, TransformerModel

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    frame, calendar = with_calendar(bench.frame)
    covariates = bench.past_covariates + bench.future_covariates + calendar
    groups = [g for _, g in frame.groupby("unique_id", sort=True)]
    series = [TimeSeries.from_dataframe(g, "ds", "y", freq=bench.freq) for g in groups]
    past = [TimeSeries.from_dataframe(g, "ds", covariates, freq=bench.freq) for g in groups]
    steps = PEER_STEPS[preset]
    trainer = {"accelerator": "cpu", "enable_progress_bar": False, "logger": False,
               "enable_model_summary": False, "enable_checkpointing": False}
    common = dict(input_chunk_length=bench.lookback, output_chunk_length=bench.horizon,
                  n_epochs=1, batch_size=PEER_BATCH, random_state=0, pl_trainer_kwargs=trainer)
    network = (TransformerModel(**common) if model == "Transformer"
               else BlockRNNModel(model=model.removeprefix("BlockRNN-"), **common))

    def fit_and_forecast():
        train = [s[: len(s) - bench.test_size] for s in series]
        scaler, cov_scaler = Scaler(global_fit=False), Scaler(global_fit=False)
        scaler.fit(train)
        cov_scaler.fit([p[: len(p) - bench.test_size] for p in past])
        network.fit(scaler.transform(train), past_covariates=cov_scaler.transform(past),
                    max_samples_per_ts=-(-PEER_BATCH * steps // len(series)))
        starts = [s.time_index[len(s) - bench.test_size] for s in series]
        parts = []
        for i, (s, p) in enumerate(zip(series, past, strict=True)):
            windows = network.historical_forecasts(
                scaler.transform(s, series_idx=i), past_covariates=cov_scaler.transform(
                    p, series_idx=i), start=starts[i], forecast_horizon=bench.horizon,
                stride=bench.horizon, retrain=False, last_points_only=False, verbose=False)
            for w in windows:
                w = scaler.inverse_transform(w, series_idx=i)
                parts.append(pd.DataFrame({"unique_id": groups[i]["unique_id"].iloc[0],
                                           "ds": w.time_index, "yhat": w.values()[:, 0]}))
        one = scaler.transform(series[0][: len(series[0]) - bench.test_size], series_idx=0)
        one_past = cov_scaler.transform(past[0], series_idx=0)
        return pd.concat(parts, ignore_index=True), lambda: network.predict(
            bench.horizon, series=one, past_covariates=one_past, verbose=False)

    return measured(fit_and_forecast)


PEERS = {
    "neuralforecast": {"lstm": "LSTM", "gru": "GRU", "patchtst": "PatchTST", "nhits": "NHITS"},
    "darts": {"lstm": "BlockRNN-LSTM", "gru": "BlockRNN-GRU", "transformer": "Transformer"},
}
FAMILY_OF = {"patchtst": "transformer", "nhits": "mlp"}  # for "same family" comparisons
