"""The recurrent families' two uses of the value one season back: the seasonal skip (a correction
to it) and the seasonal input (one more input of the aligned decoder)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import ConfigError, Forecaster, build_config
from forecast.models import ModelDims, build_model
from forecast.models.normalization import Normalization
from forecast.models.recurrent import season_back
from forecast.training import settle_seasonal_input, warm_start_mismatches
from tests.conftest import tiny_config_values
from tests.floats import assert_forecasts_close
from tests.forecast.test_forecaster import split_history

DIMS = ModelDims(lookback=24, horizon=10, n_features=3, n_future=2, n_static=0, n_outputs=3,
                 season=4)
SKIP = {"seasonal_skip": True, "hidden_size": 8}


def batch(past: torch.Tensor) -> dict:
    generator = torch.Generator().manual_seed(1)
    return {"past": past, "future": torch.randn(len(past), DIMS.horizon, 2,
                                                generator=generator),
            "static": torch.zeros(len(past), 0)}


def seasonal_naive(past_y: torch.Tensor, season: int, horizon: int) -> torch.Tensor:
    """(B, H): y[t + j - season * ceil((j + 1) / season)], the baseline's own rule."""
    lookback = past_y.shape[1]
    lags = [season * -(-(j + 1) // season) for j in range(horizon)]
    return torch.stack([past_y[:, lookback + j - lag] for j, lag in enumerate(lags)], dim=1)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_with_no_correction_the_forecast_is_seasonal_naive(name):
    network = build_model(name, DIMS, SKIP).eval()
    for parameter in network.parameters():
        parameter.data.zero_()
    past = torch.randn(5, DIMS.lookback, 3)
    with torch.no_grad():
        out = network(batch(past))  # (B, H, Q)
    expected = seasonal_naive(past[:, :, 0], DIMS.season, DIMS.horizon)
    for q in range(DIMS.n_outputs):
        torch.testing.assert_close(out[:, :, q], expected)


@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("normalization", ["revin", "series"])
def test_a_level_shift_moves_the_forecast_by_the_shift(name, normalization):
    """Under RevIN the whole forecast follows the level; under per-series scaling the skip
    does (the network's correction is held at zero, what it is before any training)."""
    network = Normalization(normalization).wrap(build_model(name, DIMS, SKIP)).eval()
    if normalization == "series":
        for parameter in network.parameters():
            parameter.data.zero_()
    torch.manual_seed(0)
    for shift in (-250.0, 3.5, 40.0):
        past = torch.randn(4, DIMS.lookback, 3)
        moved = past.clone()
        moved[:, :, 0] += shift  # the target only; covariates stay put
        with torch.no_grad():
            base, shifted = network(batch(past)), network(batch(moved))
        torch.testing.assert_close(shifted, base + shift, rtol=1e-4,
                                   atol=1e-4 * (1 + abs(shift)))


def test_positions_repeat_the_last_season_and_fall_back_to_the_last_value():
    assert season_back(DIMS).tolist() == [20, 21, 22, 23, 20, 21, 22, 23, 20, 21]
    too_long = dataclasses.replace(DIMS, season=48)
    assert season_back(too_long).tolist() == [23] * DIMS.horizon


@pytest.mark.parametrize(("name", "setting"), [("gru", "seasonal_skip"),
                                             ("lstm", "seasonal_input")])
def test_a_trained_model_with_the_setting_saves_and_loads(tmp_path, panel_frame, name,
                                                          setting):
    values = tiny_config_values()
    values["model"]["rnn"][setting] = True
    forecaster = Forecaster(name, build_config(values)).fit(panel_frame)
    assert getattr(forecaster.predictor.architecture, setting) is True
    history, future, _ = split_history(panel_frame, 300)
    before = forecaster.predict(history, future_df=future)
    forecaster.save(tmp_path / "m")
    loaded = Forecaster.load(tmp_path / "m")
    assert getattr(loaded.predictor.architecture, setting) is True
    after = loaded.predict(history, future_df=future)
    assert_forecasts_close(after["mean"].to_numpy(), before["mean"].to_numpy())
    assert np.isfinite(after["mean"]).all()


# ---- the seasonal input: the target one season back, read by the aligned decoder ---------
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_the_seasonal_input_reaches_each_step_from_one_season_back(name):
    """With the recurrent weights at zero the hidden states carry nothing, so whatever the
    forecast still reads of the past target comes through the seasonal input: step j
    moves when the value at season_back[j] does, and no step moves for any other value."""
    network = build_model(name, DIMS, {"seasonal_input": True, "hidden_size": 8}).eval()
    for parameter in network.rnn.parameters():
        parameter.data.zero_()
    torch.manual_seed(0)
    past = torch.randn(3, DIMS.lookback, 3)
    positions = season_back(DIMS).tolist()
    with torch.no_grad():
        base = network(batch(past))
        for position in range(DIMS.lookback):
            moved = past.clone()
            moved[:, position, 0] += 5.0
            changed = (network(batch(moved)) - base).abs().amax(dim=(0, 2)) > 1e-6  # (H,)
            assert changed.tolist() == [p == position for p in positions], position


def test_without_the_seasonal_input_the_decoder_reads_no_lag():
    network = build_model("gru", DIMS, {"hidden_size": 8}).eval()
    for parameter in network.rnn.parameters():
        parameter.data.zero_()
    past = torch.randn(3, DIMS.lookback, 3)
    moved = past.clone()
    moved[:, :, 0] += 5.0
    with torch.no_grad():
        torch.testing.assert_close(network(batch(moved)), network(batch(past)))


def test_the_seasonal_input_needs_the_aligned_decoder():
    values = tiny_config_values()
    values["model"]["rnn"].update(seasonal_input=True, decoder="last")
    with pytest.raises(ConfigError, match="seasonal_input is read by the aligned decoder"):
        build_config(values)


# ---- seasonal_input: auto, decided on the validation windows -------------------------------
def auto_values(**trainer) -> dict:
    values = tiny_config_values()
    values["model"]["rnn"]["seasonal_input"] = "auto"
    values["trainer"].update(trainer)
    return values


def hourly_frame(y: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=len(y), freq="h")
    return pd.DataFrame({"unique_id": "s", "ds": ds, "y": y,
                         "temp": rng.normal(20, 1, len(y)), "holiday": 0.0})


def noise_frame(length: int = 400) -> pd.DataFrame:
    """Independent noise around a level: last season's value is a worse guess than the
    level, so a network that learns the level beats seasonal naive."""
    rng = np.random.default_rng(3)
    return hourly_frame(50 + rng.normal(0, 5, length), rng)


def daily_frame(length: int = 400) -> pd.DataFrame:
    """A daily cycle with little noise: last day's value is nearly exact, which a network
    trained for a few batches is not."""
    rng = np.random.default_rng(4)
    t = np.arange(length)
    return hourly_frame(100 + 30 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, length), rng)


def test_auto_tries_the_input_where_the_network_trails_seasonal_naive_and_keeps_the_better(
        tmp_path):
    """A network trained for two short epochs on a strongly daily series trails last day's
    values on validation, so the input is tried; the model kept is the one that scored
    better there, and it is the very model the explicit setting trains (same seed)."""
    frame = daily_frame()
    forecaster = Forecaster("gru", build_config(auto_values())).fit(frame)
    choice = forecaster.report.seasonal_input
    assert choice.without > choice.seasonal_naive > 0
    assert choice.with_input is not None
    assert choice.chosen == (choice.with_input < choice.without)
    assert forecaster.predictor.architecture.seasonal_input is choice.chosen
    assert forecaster.predictor.training_config["model"]["rnn"]["seasonal_input"] \
        is choice.chosen
    values = auto_values()
    values["model"]["rnn"]["seasonal_input"] = choice.chosen
    explicit = Forecaster("gru", build_config(values)).fit(frame)
    history, future, _ = split_history(frame, 300)
    assert_forecasts_close(forecaster.predict(history, future_df=future)["mean"].to_numpy(),
                           explicit.predict(history, future_df=future)["mean"].to_numpy())
    forecaster.save(tmp_path / "m")
    assert Forecaster.load(tmp_path / "m").predictor.architecture.seasonal_input \
        is choice.chosen


def test_auto_fits_once_where_the_network_beats_seasonal_naive():
    frame = noise_frame()
    forecaster = Forecaster("lstm", build_config(auto_values(
        max_epochs=6, patience=6, limit_train_batches=1.0))).fit(frame)
    choice = forecaster.report.seasonal_input
    assert choice.without < choice.seasonal_naive
    assert choice.with_input is None and not choice.chosen
    assert forecaster.predictor.architecture.seasonal_input is False


@pytest.mark.parametrize(("change", "reason"), [
    ({"model.rnn.decoder": "last"}, "the last decoder reads no input per step"),
    ({"data.season": 1}, "no season"),
    ({"data.season": 48}, "the season is longer than the lookback")])
def test_auto_settles_to_false_where_the_input_cannot_apply(change, reason):
    config = build_config(auto_values()).with_values(change)
    assert settle_seasonal_input(config).model.rnn.seasonal_input is False, reason


def test_auto_takes_the_version_s_own_value_when_training_continues(panel_frame):
    values = tiny_config_values()
    values["model"]["rnn"]["seasonal_input"] = True
    version = Forecaster("lstm", build_config(values)).fit(panel_frame).predictor
    config = build_config(auto_values())
    assert settle_seasonal_input(config, version).model.rnn.seasonal_input is True
    assert warm_start_mismatches(version, config, version.spec) == []
    continued = Forecaster("lstm", config).fit(panel_frame, init=version)
    assert continued.predictor.architecture.seasonal_input is True
    assert continued.report.seasonal_input is None  # nothing was chosen
