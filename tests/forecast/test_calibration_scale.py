"""Intervals that follow the local spread (`model.calibration_scale: window`): offsets in units
of each window's own spread keep their coverage when a series grows more volatile after
training; offsets in the series' training units do not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, build_config
from forecast.calibration import Calibration, window_scale
from forecast.evaluation import forecast_split, score, served_adaptively
from forecast.metrics import quantile_hits
from tests.conftest import tiny_config_values

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
LOOKBACK, HORIZON = 24, 4


def windows(rng: np.random.Generator, n: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Lookback targets and actuals of windows whose noise has `spread`; the 'model'
    forecasts the mean, 0, in every quantile column (a point head)."""
    past = rng.standard_normal((n, LOOKBACK)) * spread
    actual = rng.standard_normal((n, HORIZON)) * spread
    return past, actual


def coverage_80(calibration: Calibration, past: np.ndarray, actual: np.ndarray) -> float:
    raw = torch.zeros(len(past), HORIZON, 1)
    served = calibration.apply(raw, torch.as_tensor(past, dtype=torch.float32)).numpy()
    hits = quantile_hits(actual, served)
    return float(hits[LEVELS.index(0.9)] - hits[LEVELS.index(0.1)])


@pytest.mark.parametrize("after", [1.0, 2.0, 0.5])
def test_window_scaled_offsets_keep_coverage_when_the_spread_changes(after):
    """Calibrated on windows of spread 1, applied where the spread is `after` (doubled,
    halved, unchanged), over many draws."""
    rng, covered, fixed = np.random.default_rng(0), [], []
    base = np.zeros((400, HORIZON, len(LEVELS)))
    for _ in range(100):
        past, actual = windows(rng, 400, 1.0)
        scales = window_scale(torch.as_tensor(past, dtype=torch.float32)).numpy()
        by_window = Calibration.identity(LEVELS, True, "window").fitted(
            "conformal", base, actual, "val", scales)
        by_series = Calibration.identity(LEVELS, True).fitted("conformal", base, actual, "val")
        past, actual = windows(rng, 2000, after)
        covered.append(coverage_80(by_window, past, actual))
        fixed.append(coverage_80(by_series, past, actual))
    assert 0.75 <= np.mean(covered) <= 0.85
    if after == 2.0:  # training-unit offsets keep their width: about half the coverage
        assert np.mean(fixed) < 0.6
    if after == 1.0:
        assert np.mean(fixed) == pytest.approx(np.mean(covered), abs=0.02)


def test_a_flat_window_keeps_an_interval():
    calibration = Calibration.identity(LEVELS, True, "window").fitted(
        "conformal", np.zeros((50, HORIZON, len(LEVELS))),
        np.random.default_rng(1).standard_normal((50, HORIZON)), "val", np.ones(50))
    served = calibration.apply(torch.zeros(1, HORIZON, 1), torch.zeros(1, LOOKBACK))
    assert (served[0, :, -1] > served[0, :, 0]).all()


def test_window_scale_needs_the_past():
    calibration = Calibration.identity(LEVELS, True, "window").fitted(
        "conformal", np.zeros((10, HORIZON, len(LEVELS))), np.ones((10, HORIZON)), "val",
        np.ones(10))
    with pytest.raises(ValueError, match="past target"):
        calibration.apply(torch.zeros(1, HORIZON, 1))
    assert Calibration.from_json(calibration.to_json(), HORIZON).scale == "window"
    legacy = {k: v for k, v in calibration.to_json().items() if k != "scale"}
    assert Calibration.from_json(legacy, HORIZON).scale == "series"  # saved before it existed


def noisier_after(length: int = 700, change: int = 560, seed: int = 0) -> pd.DataFrame:
    """A daily-seasonal hourly series whose noise doubles at `change` (inside the test part)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    noise = rng.standard_normal(length) * np.where(t < change, 2.0, 4.0)
    return pd.DataFrame({"unique_id": "s", "ds": pd.date_range("2024-01-01", periods=length,
                                                               freq="h"),
                         "y": 100 + 10 * np.sin(2 * np.pi * t / 24) + noise})


@pytest.mark.parametrize("family", ["seasonal_naive", "lstm"])
def test_window_scale_trains_saves_and_serves_the_same(family, tmp_path):
    frame = noisier_after()
    results = {}
    for scale in ("series", "window"):
        values = tiny_config_values(past_covariates=[], future_covariates=[], test_size=120,
                                    val_size=96)
        values["model"]["calibration_scale"] = scale
        forecaster = Forecaster(family, build_config(values)).fit(frame)
        assert forecaster.predictor.calibration.scale == scale
        results[scale] = forecaster.metrics["coverage_80"]
        forecaster.save(tmp_path / scale)
        loaded = Forecaster.load(tmp_path / scale)
        history = frame.iloc[:600]
        pd.testing.assert_frame_equal(loaded.predict(history), forecaster.predict(history))
    # the test part is twice as noisy as what the offsets were measured on
    assert results["window"] > results["series"]


def test_served_adaptively_restores_coverage_after_the_spread_doubles():
    """A trained model scored on a test part twice as noisy as its calibration: as the
    service serves it (adaptive offsets learning window after window), its 80% interval
    covers more of the actuals than as trained, and the point forecast is unchanged."""
    frame = noisier_after(length=2000, change=900)
    values = tiny_config_values(past_covariates=[], future_covariates=[], test_size=1080,
                                val_size=96)
    forecaster = Forecaster("seasonal_naive", build_config(values)).fit(frame)
    windows = forecast_split(forecaster.predictor, forecaster.prepared, "test")
    quantiles = forecaster.predictor.quantiles
    served = served_adaptively(windows, quantiles)
    np.testing.assert_array_equal(served.forecast[..., quantiles.index(0.5)],
                                  windows.forecast[..., quantiles.index(0.5)])
    later = windows.starts >= np.quantile(windows.starts, 0.25)  # after the offsets settle
    as_trained = score(dataclasses.replace(windows, forecast=windows.forecast[later],
                                           actual=windows.actual[later],
                                           series=windows.series[later]), quantiles)
    as_served = score(dataclasses.replace(served, forecast=served.forecast[later],
                                          actual=served.actual[later],
                                          series=served.series[later]), quantiles)
    assert as_trained["coverage_80"] < 0.7
    assert abs(as_served["coverage_80"] - 0.8) < abs(as_trained["coverage_80"] - 0.8)
    assert 0.7 <= as_served["coverage_80"] <= 0.9
    # the run's own test scores hold both: the static interval's and the served one's
    metrics, whole = forecaster.metrics, score(served, quantiles)
    for key in ("coverage_80", "coverage_90", "width_80", "wql", "crps"):
        assert metrics[f"served_{key}"] == pytest.approx(whole[key], rel=1e-9)
    assert metrics["served_coverage_80"] > metrics["coverage_80"]
