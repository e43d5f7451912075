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
from datetime import timedelta

import numpy as np
import pandas as pd
from nf_network import EXOG_FREE, nf_network
from peer_sets import BenchSet

from forecast import Forecaster, load_config
from forecast.data.calendar import calendar_features
from forecast.data.defaults import EPOCH_WINDOWS
from forecast.study.profiling import peak_rss_mb, reset_peak_rss
from pipelines.presets import config_path

PEER_STEPS = {"full": 300, "quick": 10}  # optimiser steps of the peers (see SETTINGS)
PEER_BATCH = 32  # windows per step, NeuralForecast and Darts alike
PRESET_CONFIG = {"full": "default", "quick": "quick"}  # our config per preset
NO_CALENDAR = ", no calendar features"  # the budget text of a peer given the data's covariates


def budget_text(stated: str, without_calendar: bool) -> str:
    """A peer's budget as the tables state it, saying when it had no calendar features."""
    return stated + NO_CALENDAR if without_calendar else stated


SETTINGS = {  # {ours}, {refit}, {steps} and {batch} are filled in per preset by `settings`
    "ours": "{ours}, trained on the part before validation{refit}; "
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
    "neuralforecast_defaults": "at the `defaults` and `time` budgets each model's own "
                               "defaults: batch, steps and scaler (LSTM/GRU 'robust', NHITS "
                               "none); with `--peer-calendar no` only the data's own covariates "
                               "as exog, no calendar features (the budget column says so)",
    "statsforecast": "AutoETS (season = the shortest cycle) and MSTL (every cycle, AutoETS "
                     "'ZZN' trend), fitted once on everything before the test part and "
                     "applied to each test origin (`cross_validation(refit=False)`); no "
                     "covariates (neither takes any)",
    "mlforecast": "LightGBM at its defaults, lags 1-3 and each cycle, rolling means over each "
                  "cycle, calendar features and known covariates, recursive; target transforms "
                  "Differences([shortest cycle]) and LocalStandardScaler; fitted once on "
                  "everything before the test part (`cross_validation(refit=False)`)",
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
    step = config.data.window_step
    vic_elec_step = (f"{step} steps apart" if step else
                     f"spaced so that an epoch holds at most {EPOCH_WINDOWS:,} (the data's default)")
    ours = (f"the {name} config (max_epochs {config.trainer.max_epochs} with a cosine schedule, "
            f"early stopping on the validation part with patience {config.trainer.patience}; "
            f"training windows {vic_elec_step} on vic_elec, about "
            f"{WINDOWS_PER_EPOCH:,} windows an epoch elsewhere)")
    refit = (", then again on everything before the test part for the epochs early stopping "
             "chose (`trainer.refit`; the conformal offsets stay the first fit's)"
             if config.trainer.refit else "")
    return {k: v.format(ours=ours, steps=PEER_STEPS[preset], batch=PEER_BATCH, refit=refit)
            for k, v in SETTINGS.items()}


@dataclass
class Run:
    forecasts: pd.DataFrame  # unique_id, ds, yhat
    fit_seconds: float
    peak_mb: float
    latency_ms: float
    epochs: int | None = None
    model: Forecaster | None = None  # ours: the fitted forecaster (an ensemble's member)
    budget: str = ""  # what the library was given, stated per row
    weights: dict[str, float] | None = None  # ours, an ensemble: each candidate's weight
    # ours, an LSTM or GRU whose seasonal input was `auto`: what it measured and chose
    seasonal_input: dict[str, float] | None = None


def measured(fit_and_forecast: Callable[[], tuple[pd.DataFrame, Callable[[], object]]],
             repeats: int = 5) -> Run:
    """Time `fit_and_forecast` (which returns the forecasts and a one-series predictor call),
    then the median of `repeats` calls of the latter (after a warm-up call, unless one)."""
    gc.collect()
    base = reset_peak_rss() or 0.0
    start = time.perf_counter()
    forecasts, predict_one = fit_and_forecast()
    seconds = time.perf_counter() - start
    peak = peak_rss_mb() - base
    if repeats > 1:
        predict_one()  # warm-up
    latencies = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict_one()
        latencies.append(1000 * (time.perf_counter() - t0))
    return Run(forecasts, seconds, max(peak, 0.0), statistics.median(latencies))


def with_calendar(frame: pd.DataFrame, calendar: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The calendar features our models compute, as columns peers can read (and their names)."""
    values = calendar_features(pd.DatetimeIndex(frame["ds"]), calendar)
    names = [f"{f}_{t}" for f in calendar for t in ("sin", "cos")]
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
        f"data.calendar={bench.calendar}", "trainer.enable_progress_bar=false"]
    if bench.name != "vic_elec":  # vic_elec keeps the default config's step
        overrides.append(f"data.window_step={window_step(bench)}")
    return load_config(config_path(PRESET_CONFIG[preset]), overrides + list(extra))


def test_rows(forecaster: Forecaster, bench: BenchSet) -> pd.DataFrame:
    """The point forecast (our median) of every test window as (unique_id, ds, yhat)."""
    windows = forecaster.forecast_split("test")
    point = windows.forecast[..., forecaster.predictor.point]  # (N, H)
    rows = []
    for i, (s, start) in enumerate(zip(windows.series, windows.starts, strict=True)):
        series = windows.panel.series[s]
        ds = series.ds[start: start + bench.horizon]
        rows.append(pd.DataFrame({"unique_id": series.unique_id, "ds": ds, "yhat": point[i]}))
    return pd.concat(rows, ignore_index=True)


def scored_forecasts(forecaster: Forecaster, bench: BenchSet):
    """What `measured` times for one of ours: the test forecasts, and a one-series predictor
    call."""
    history, future = one_series(bench)
    return test_rows(forecaster, bench), lambda: forecaster.predict(history, future_df=future)


def run_ours(name: str, bench: BenchSet, preset: str, extra: list[str] = (), seed: int = 0
             ) -> Run:
    config = our_config(bench, preset, [f"trainer.seed={seed}", *extra])
    state = {}

    def fit_and_forecast():
        state["model"] = Forecaster(name, config).fit(bench.frame)
        return scored_forecasts(state["model"], bench)

    run = measured(fit_and_forecast)
    run.model, report = state["model"], state["model"].report
    run.epochs = report.epochs_run if report else None
    run.seasonal_input = report.seasonal_input.metrics() if report and report.seasonal_input \
        else None
    refit = ", then refit on training + validation" if config.trainer.refit else ""
    run.budget = (f"{config.trainer.max_epochs} epochs at most, early stopping "
                  f"(patience {config.trainer.patience}){refit}")
    return run


def run_our_ensemble(method: str, members: dict[str, Run], bench: BenchSet) -> Run:
    """The ensemble of the families trained for one seed: its time is theirs plus its own
    choice of weights on the validation windows and its test forecasts. Like `compare`'s,
    its candidates include our baselines (`ensemble_baselines`, a config override)."""
    from forecast.ensemble import fit_ensembles
    from forecast.forecaster import refit_validation
    from forecast.models import family_names, get_family

    trained = [r.model for r in members.values()]
    config, prepared = trained[0].config, trained[0].prepared
    baselines = [n for n in family_names() if not get_family(n).neural
                 and config.ensemble_baselines and method == "weighted"]  # the median's never

    chosen: dict[str, float] = {}
    state = {}

    def fit_and_forecast():
        predictors = [f.predictor for f in trained] + [
            Forecaster(name, config).fit(prepared=prepared).predictor for name in baselines]
        ensemble = fit_ensembles(predictors, [method], prepared, refit_validation(trained))[0]
        chosen.update(zip(ensemble.member_names, ensemble.weights, strict=True))
        state["model"] = Forecaster.from_predictor(ensemble, prepared)
        return scored_forecasts(state["model"], bench)

    run = measured(fit_and_forecast)
    run.model = state["model"]
    run.weights = chosen if method == "weighted" else None
    run.fit_seconds += sum(r.fit_seconds for r in members.values())
    run.peak_mb = max(run.peak_mb, *(r.peak_mb for r in members.values()))
    run.budget = f"its members' ({', '.join(members)})"
    return run


def every_origin_mae(model: Forecaster) -> float:
    """MAE of the served median from every origin of the test part (one step apart), not only
    the benchmark's origins one horizon apart, which all fall on one phase of the day or year:
    what a service meets, asked at any hour."""
    from forecast.evaluation import forecast_windows, split_windows

    predictor = model.predictor
    windows = forecast_windows(predictor, split_windows(predictor, model.prepared, "test", 1))
    return float(np.abs(windows.actual - windows.forecast[..., predictor.point]).mean())


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
BUDGETS = ("fixed", "defaults", "time")


def neural_budget(preset: str, budget: str, seconds: float | None) -> dict:
    """The training budget a neural peer gets: `fixed` (PEER_STEPS of PEER_BATCH windows;
    always in the quick preset), `defaults` (the library's own), or `time` (its defaults'
    batch, trained until `seconds`, ours for the same family and seed, have passed)."""
    if preset == "quick" or budget == "fixed":
        return {"max_steps": PEER_STEPS[preset], "windows_batch_size": PEER_BATCH}
    if budget == "defaults":
        return {}
    return {"max_steps": 10**7, "max_time": timedelta(seconds=seconds or 60)}


def run_neuralforecast(model: str, bench: BenchSet, preset: str, seed: int = 0,
                       budget: str = "fixed", seconds: float | None = None,
                       calendar_features: bool = True) -> Run:
    """`calendar_features`: the calendar features ours computes as futr_exog (the same
    inputs as ours), or only the data's own covariates (what NeuralForecast adds by
    default: none). Neither wins everywhere; docs/benchmarks.md shows both."""
    from neuralforecast import NeuralForecast

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    given = neural_budget(preset, budget, seconds)
    fixed = given.get("windows_batch_size") == PEER_BATCH
    calendar_names = bench.calendar if calendar_features else []
    frame, calendar = with_calendar(bench.frame, calendar_names)
    extra = ({"scaler_type": "robust"}  # the fixed budget's; otherwise each model's default
             if model not in EXOG_FREE and fixed else {})
    network = nf_network(model, bench.horizon, bench.lookback, seed, bench.past_covariates,
                         bench.future_covariates + calendar, **given, **extra)
    nf = NeuralForecast(models=[network], freq=bench.freq)
    stated = (f"{network.max_steps} steps x {network.windows_batch_size} windows"
              if "max_time" not in given else
              f"{given['max_time'].total_seconds():.0f} s x {network.windows_batch_size} windows")

    def fit_and_forecast():
        out = nf.cross_validation(df=frame, n_windows=bench.test_size // bench.horizon,
                                  step_size=bench.horizon, refit=False)
        forecasts = out.reset_index()[["unique_id", "ds", model]].rename(columns={model: "yhat"})
        history, future = one_series(bench)
        history, _ = with_calendar(history, calendar_names)
        future, _ = with_calendar(future, calendar_names)
        return forecasts, lambda: nf.predict(df=history, futr_df=future)

    run = measured(fit_and_forecast)
    run.budget = budget_text(stated, not calendar_features and model not in EXOG_FREE)
    return run


# ---- Darts -------------------------------------------------------------------------------
def run_darts(model: str, bench: BenchSet, preset: str, seed: int = 0, budget: str = "fixed",
              seconds: float | None = None) -> Run:
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import BlockRNNModel, TransformerModel

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    frame, calendar = with_calendar(bench.frame, bench.calendar)
    covariates = bench.past_covariates + bench.future_covariates + calendar
    groups = [g for _, g in frame.groupby("unique_id", sort=True)]
    series = [TimeSeries.from_dataframe(g, "ds", "y", freq=bench.freq) for g in groups]
    past = [TimeSeries.from_dataframe(g, "ds", covariates, freq=bench.freq) for g in groups]
    steps = PEER_STEPS[preset]
    trainer = {"accelerator": "cpu", "enable_progress_bar": False, "logger": False,
               "enable_model_summary": False, "enable_checkpointing": False}
    given = neural_budget(preset, budget, seconds)
    if "max_steps" in given and "max_time" not in given:  # fixed: one epoch of `steps` batches
        epochs, samples, stated = 1, -(-PEER_BATCH * steps // len(series)), \
            f"{steps} steps x {PEER_BATCH}"
    elif "max_time" in given:  # its default epochs, cut at the time given
        trainer["max_time"] = given["max_time"]
        epochs, samples = 100, None
        stated = f"{given['max_time'].total_seconds():.0f} s x {PEER_BATCH}"
    else:  # its defaults: 100 epochs over every window
        epochs, samples, stated = 100, None, f"100 epochs x {PEER_BATCH}"
    common = dict(input_chunk_length=bench.lookback, output_chunk_length=bench.horizon,
                  n_epochs=epochs, batch_size=PEER_BATCH, random_state=seed,
                  pl_trainer_kwargs=trainer)
    network = (TransformerModel(**common) if model == "Transformer"
               else BlockRNNModel(model=model.removeprefix("BlockRNN-"), **common))

    def fit_and_forecast():
        train = [s[: len(s) - bench.test_size] for s in series]
        scaler, cov_scaler = Scaler(global_fit=False), Scaler(global_fit=False)
        scaler.fit(train)
        cov_scaler.fit([p[: len(p) - bench.test_size] for p in past])
        network.fit(scaler.transform(train), past_covariates=cov_scaler.transform(past),
                    max_samples_per_ts=samples)
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

    run = measured(fit_and_forecast)
    run.budget = stated
    return run


# ---- statsforecast ----------------------------------------------------------------------
def statistical_model(model: str, bench: BenchSet):
    """The practitioner's first statistical models, at their defaults but for the cycles:
    AutoETS on the shortest cycle (statsforecast itself falls back to a non-seasonal ETS
    above 24 steps, as R's ets does), MSTL over every cycle with an ETS trend, and seasonal
    naive on the set's season."""
    from statsforecast.models import MSTL, AutoETS, SeasonalNaive

    if model == "AutoETS":
        return AutoETS(season_length=bench.cycles[0])
    if model == "MSTL":
        cycles = [c for c in bench.cycles if c > 1]
        return MSTL(season_length=cycles, trend_forecaster=AutoETS(model="ZZN"))
    return SeasonalNaive(season_length=bench.season)


def before_test_of_first(bench: BenchSet) -> pd.DataFrame:
    """The first series up to its test part: a statistical model's one-series input (it
    needs whole cycles, not one lookback)."""
    history = bench.before_test()
    return history[history["unique_id"] == history["unique_id"].iloc[0]]


def run_statsforecast(model: str, bench: BenchSet) -> Run:
    from statsforecast import StatsForecast

    sf = StatsForecast(models=[statistical_model(model, bench)], freq=bench.freq, n_jobs=-1)
    frame = bench.frame[["unique_id", "ds", "y"]]

    def fit_and_forecast():
        out = sf.cross_validation(df=frame, h=bench.horizon, step_size=bench.horizon,
                                  n_windows=bench.test_size // bench.horizon, refit=False)
        forecasts = out[["unique_id", "ds", model]].rename(columns={model: "yhat"})
        one = before_test_of_first(bench)[["unique_id", "ds", "y"]]
        return forecasts, lambda: sf.forecast(df=one, h=bench.horizon)

    run = measured(fit_and_forecast, repeats=1)  # a forecast refits: a minute on vic_elec
    run.budget = "fitted once"
    return run


# ---- mlforecast --------------------------------------------------------------------------
def run_mlforecast(bench: BenchSet) -> Run:
    """LightGBM at its defaults on lags (1-3 and every cycle), rolling means over each cycle,
    the calendar features and the known covariates, recursive over the horizon. Target
    transforms as mlforecast's documentation recommends for a global model of series with
    trends and changing levels: a difference at the shortest cycle (removes the level, the
    trend and that cycle) and a per-series standard scaler. Past-only covariates are left
    out: a recursive model would need their future values."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import Differences, LocalStandardScaler

    frame, calendar = with_calendar(bench.frame.drop(columns=bench.past_covariates),
                                    bench.calendar)
    cycles = [c for c in bench.cycles if c > 1] or [1]
    mlf = MLForecast(
        models={"lightgbm": lgb.LGBMRegressor(verbosity=-1, n_jobs=2, random_state=0)},
        freq=bench.freq, lags=sorted({1, 2, 3, *cycles}),
        lag_transforms={1: [RollingMean(window_size=c) for c in cycles if c > 1]},
        target_transforms=[Differences([cycles[0]]), LocalStandardScaler()])

    def fit_and_forecast():
        out = mlf.cross_validation(df=frame, h=bench.horizon, step_size=bench.horizon,
                                   n_windows=bench.test_size // bench.horizon, refit=False,
                                   static_features=[])
        forecasts = out[["unique_id", "ds", "lightgbm"]].rename(columns={"lightgbm": "yhat"})
        one = before_test_of_first(bench)
        one, _ = with_calendar(one.drop(columns=bench.past_covariates), bench.calendar)
        ahead = bench.frame[bench.frame["unique_id"] == one["unique_id"].iloc[0]]
        ahead = ahead.iloc[len(one): len(one) + bench.horizon].drop(
            columns=["y", *bench.past_covariates])
        ahead, _ = with_calendar(ahead, bench.calendar)
        mlf.fit(one, static_features=[])  # the latency of a fit and forecast of one series
        return forecasts, lambda: mlf.predict(bench.horizon, X_df=ahead)

    run = measured(fit_and_forecast)
    run.budget = "LightGBM defaults (100 trees)"
    return run


PEERS = {
    "neuralforecast": {"lstm": "LSTM", "gru": "GRU", "patchtst": "PatchTST", "nhits": "NHITS"},
    "darts": {"lstm": "BlockRNN-LSTM", "gru": "BlockRNN-GRU", "transformer": "Transformer"},
    "statsforecast": {"autoets": "AutoETS", "mstl": "MSTL"},
    "mlforecast": {"lightgbm": "LightGBM"},
}
# for "same family" comparisons
FAMILY_OF = {"patchtst": "transformer", "nhits": "mlp", "autoets": "statistical",
             "mstl": "statistical", "lightgbm": "trees"}
