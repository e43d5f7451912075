"""The Python API: fit, predict, save, load, quantiles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import DataValidationError, Forecaster, build_config
from forecast.artifacts import CONFIG, SCALER, WEIGHTS, find_artifact
from forecast.errors import ArtifactError
from tests.conftest import HORIZON, tiny_config_values
from tests.floats import assert_forecasts_close


def split_history(frame: pd.DataFrame, cut: int):
    history = frame.groupby("unique_id").head(cut)
    future = frame.groupby("unique_id").nth(list(range(cut, cut + HORIZON))).drop(columns=["y"])
    actual = frame.groupby("unique_id").nth(list(range(cut, cut + HORIZON)))
    return history, future, actual


@pytest.mark.parametrize("model", ["lstm", "gru", "transformer", "mlp"])
def test_save_load_predict_identical(tmp_path, tiny_config, panel_frame, model):
    forecaster = Forecaster(model, tiny_config).fit(panel_frame)
    history, future, _ = split_history(panel_frame, 300)
    before = forecaster.predict(history, future_df=future)
    forecaster.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {WEIGHTS, CONFIG, SCALER}
    config = json.loads((tmp_path / "m" / CONFIG).read_text())
    assert config["lookback"] == 24 and config["freq"] == "h" and config["name"] == model
    after = Forecaster.load(tmp_path / "m").predict(history, future_df=future)
    pd.testing.assert_frame_equal(before, after)


def test_predict_continues_timestamps_per_series(tiny_config, panel_frame):
    forecaster = Forecaster("gru", tiny_config).fit(panel_frame)
    history, future, _ = split_history(panel_frame, 200)
    out = forecaster.predict(history, future_df=future)
    # quantiles by default: the median as `mean`, then one column per served level
    assert list(out.columns) == ["unique_id", "ds", "mean",
                                 *(f"{q:g}" for q in forecaster.predictor.quantiles)]
    for uid, group in out.groupby("unique_id"):
        last = history.loc[history["unique_id"] == uid, "ds"].max()
        expected = pd.date_range(last, periods=HORIZON + 1, freq="h")[1:]
        assert list(group["ds"]) == list(expected)


def test_trained_model_beats_naive_on_learnable_data(panel_frame):
    values = tiny_config_values()
    values["trainer"].update(max_epochs=15, limit_train_batches=1.0, patience=15)
    config = build_config(values)
    neural = Forecaster("gru", config).fit(panel_frame)
    naive = Forecaster("naive", config).fit(panel_frame)
    assert neural.metrics["mae"] < naive.metrics["mae"]
    assert neural.report is not None and neural.report.history


def test_quantile_model_outputs_ordered_columns(panel_frame):
    values = tiny_config_values()
    values["model"]["quantiles"] = [0.1, 0.5, 0.9]
    forecaster = Forecaster("transformer", build_config(values)).fit(panel_frame)
    history, future, _ = split_history(panel_frame, 300)
    out = forecaster.predict(history, future_df=future)
    assert list(out.columns) == ["unique_id", "ds", "mean", "0.1", "0.5", "0.9"]
    np.testing.assert_allclose(out["mean"], out["0.5"])
    assert any(k.startswith("coverage_") for k in forecaster.metrics)


def test_horizon_above_trained_is_refused(tiny_config, panel_frame):
    forecaster = Forecaster("naive", tiny_config).fit(panel_frame)
    history, future, _ = split_history(panel_frame, 300)
    with pytest.raises(DataValidationError, match="horizon 7 is outside 1..6"):
        forecaster.predict(history, horizon=7, future_df=future)
    shorter = forecaster.predict(history, horizon=3, future_df=future)
    assert len(shorter) == 2 * 3


def test_unseen_series_is_scaled_by_its_own_history(tiny_config, panel_frame):
    forecaster = Forecaster("naive", tiny_config).fit(panel_frame)
    history, future, _ = split_history(panel_frame.assign(unique_id="new_" + panel_frame[
        "unique_id"]), 300)
    out = forecaster.predict(history, future_df=future)
    last = history.groupby("unique_id")["y"].last()
    np.testing.assert_allclose(out.groupby("unique_id")["mean"].first(), last, rtol=1e-5)


def test_backtest_reports_each_window(tiny_config, panel_frame):
    forecaster = Forecaster("seasonal_naive", tiny_config).fit(panel_frame)
    rows = forecaster.backtest(3, HORIZON)
    assert [r["window"] for r in rows] == [0, 1, 2]
    assert len({r["cutoff"] for r in rows}) == 3


def test_backtest_stays_in_the_test_part(tiny_config, panel_frame):
    """Windows before the test part score data the model was fitted on (training, and
    validation for early stopping, calibration and the refit): the backtest stops at the
    test part's first step rather than report them."""
    forecaster = Forecaster("seasonal_naive", tiny_config).fit(panel_frame)
    test_size = tiny_config.data.test_size
    rows = forecaster.backtest(test_size // HORIZON + 5, HORIZON)
    assert len(rows) == test_size // HORIZON
    first = panel_frame[panel_frame["unique_id"] == "s0"]["ds"].sort_values()
    assert pd.Timestamp(rows[-1]["cutoff"]) == first.iloc[-test_size - 1]


def test_find_artifact_below_a_downloaded_model(tmp_path, tiny_config, panel_frame):
    Forecaster("lstm", tiny_config).fit(panel_frame).save(tmp_path / "pyfunc/artifacts/model")
    assert find_artifact(tmp_path, "v1") == tmp_path / "pyfunc/artifacts/model"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="v2 holds no forecast model directory"):
        find_artifact(tmp_path / "empty", "v2")


def test_the_seed_decides_the_model_in_any_process_state(panel_frame):
    """trainer.seed sets the initial weights too: a second fit in the same process (the
    global random state moved on) gives the first one's model, and another seed another."""
    def forecast_with(seed: int):
        values = tiny_config_values()
        values["trainer"]["seed"] = seed
        return Forecaster("gru", build_config(values)).fit(panel_frame).forecast_split(
            "test").forecast

    first = forecast_with(7)
    torch.rand(1000)  # anything drawing from the global generator in between
    assert_forecasts_close(forecast_with(7), first)
    other = forecast_with(8)
    assert np.abs(other - first).max() > 1e-3 * np.abs(first).max()
