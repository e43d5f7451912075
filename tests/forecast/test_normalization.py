"""Normalisation (`model.normalization`) and the training losses, shared by every family."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, build_config
from forecast.models import ModelDims, build_model
from forecast.models.normalization import InstanceNorm, Normalization
from tests.conftest import HORIZON, tiny_config_values
from tests.forecast.test_forecaster import split_history

DIMS = ModelDims(lookback=24, horizon=6, n_features=3, n_future=2, n_static=0, n_outputs=3)


def batch(past: torch.Tensor) -> dict:
    torch.manual_seed(1)
    return {"past": past, "future": torch.randn(len(past), 6, 2),
            "static": torch.zeros(len(past), 0)}


@pytest.mark.parametrize("name", ["lstm", "gru", "transformer", "mlp"])
@pytest.mark.parametrize("affine", [False, True])
def test_revin_forecast_follows_a_shift_in_level_and_scale(name, affine):
    """The forecast of y*k + c is k * forecast(y) + c, whatever the network learnt."""
    network = InstanceNorm(build_model(name, DIMS, {}), affine).eval()
    if affine:  # a learnt affine must not break it
        network.weight.data.fill_(1.7), network.bias.data.fill_(-0.3)
    torch.manual_seed(0)
    past = torch.randn(4, 24, 3)
    moved = past.clone()
    moved[:, :, 0] = past[:, :, 0] * 3.0 + 40.0  # covariates (channels 1:) stay put
    with torch.no_grad():
        base, shifted = network(batch(past)), network(batch(moved))
    torch.testing.assert_close(shifted, base * 3.0 + 40.0, rtol=1e-4, atol=1e-3)


def test_without_revin_the_network_sees_the_raw_level():
    network = Normalization("series").wrap(build_model("lstm", DIMS, {})).eval()
    past = torch.randn(4, 24, 3)
    moved = past.clone()
    moved[:, :, 0] += 40.0
    with torch.no_grad():
        gap = (network(batch(moved)) - network(batch(past)) - 40.0).abs().mean()
    assert gap > 1.0  # nothing puts the forecast at the new level


def shifted_history(frame: pd.DataFrame, cut: int, shift: float):
    history, future, actual = split_history(frame, cut)
    history = history.assign(y=history["y"] + shift)
    return history, future, actual


@pytest.mark.parametrize("normalization", ["revin", "series"])
def test_trained_model_forecasts_a_level_shifted_series_at_its_new_level(panel_frame,
                                                                         normalization):
    """A series that moved 30 standard deviations after training: with RevIN the forecast
    moves with it; per-series scaling alone leaves it far behind (what issue 12 measured)."""
    values = tiny_config_values()
    values["model"]["normalization"] = normalization
    values["trainer"].update(max_epochs=4, limit_train_batches=20)
    forecaster = Forecaster("lstm", build_config(values)).fit(panel_frame)
    shift = 30 * panel_frame.groupby("unique_id")["y"].std().max()
    history, future, actual = shifted_history(panel_frame, 300, shift)
    forecast = forecaster.predict(history, future_df=future)
    error = np.abs(forecast["mean"].to_numpy() - (actual["y"].to_numpy() + shift)).mean()
    plain_history, plain_future, _ = split_history(panel_frame, 300)
    base = forecaster.predict(plain_history, future_df=plain_future)
    base_error = np.abs(base["mean"].to_numpy() - actual["y"].to_numpy()).mean()
    if normalization == "revin":
        assert error < 2 * base_error + 1.0
    else:
        assert error > 0.3 * shift


def test_normalization_is_stored_and_loaded(tmp_path, panel_frame):
    values = tiny_config_values()
    values["model"].update(normalization="revin", revin_affine=True)
    forecaster = Forecaster("gru", build_config(values)).fit(panel_frame)
    forecaster.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["normalization"] == {"method": "revin", "affine": True}
    loaded = Forecaster.load(tmp_path / "m")
    assert isinstance(loaded.network, InstanceNorm) and loaded.network.affine
    history, future, _ = split_history(panel_frame, 300)
    pd.testing.assert_frame_equal(forecaster.predict(history, future_df=future),
                                  loaded.predict(history, future_df=future))


def test_every_neural_family_defaults_to_revin_and_old_transformer_flag_still_reads():
    for name in ("lstm", "gru", "transformer"):
        settings = build_config({"model": {"name": name}}).model
        assert settings.normalizer == Normalization("revin")
    assert build_config({"model": {"name": "naive"}}).model.normalizer.method == "series"
    old = build_config({"model": {"name": "transformer", "transformer": {"revin": False}}})
    assert old.model.normalization == "series" and "revin" not in old.model.transformer.model_dump()


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "pinball"])
def test_each_loss_trains_a_model_that_beats_naive(panel_frame, loss):
    """Each loss drives training (the validation loss falls) and gives a usable forecast."""
    values = tiny_config_values()
    values["model"].update(loss=loss)
    values["trainer"].update(max_epochs=3, limit_train_batches=20)
    forecaster = Forecaster("transformer", build_config(values)).fit(panel_frame)
    assert forecaster.predictor.calibration.base == ("quantiles" if loss == "pinball"
                                                     else "point")
    history = forecaster.report.history
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    naive = Forecaster("naive", build_config(tiny_config_values())).fit(panel_frame)
    assert forecaster.metrics["mae"] < naive.metrics["mae"]
    history_frame, future, _ = split_history(panel_frame, 300)
    out = forecaster.predict(history_frame, future_df=future)
    assert len(out) == HORIZON * panel_frame["unique_id"].nunique()


def test_attention_maps_pass_through_the_normalisation():
    """The study reads attention maps through `network(batch, return_attention=True)`."""
    dims = ModelDims(lookback=24, horizon=6, n_features=3, n_future=2, n_static=0,
                     n_outputs=3)
    network = InstanceNorm(build_model("transformer", dims, {"patch_len": 4})).eval()
    x = batch(torch.randn(2, 24, 3))
    with torch.no_grad():
        out, maps = network(x, return_attention=True)
        torch.testing.assert_close(out, network(x))
    assert maps.shape[0] == 2 and maps.shape[-1] == 6  # (B, layers, heads, tokens, tokens)


def test_a_covariate_constant_in_training_is_centred_not_blown_up():
    """A holiday flag with no holiday in the training part: its first holiday at inference
    must reach the network as 1, not as 1e6 (what dividing by a floored std gave)."""
    from forecast.data.scaling import SeriesStats

    y = np.sin(np.arange(100.0))
    x = np.column_stack([np.arange(100.0), np.zeros(100)])
    stats = SeriesStats.fit(y, x, season=10)
    assert stats.x_std[1] == 1.0 and stats.x_std[0] == pytest.approx(np.std(np.arange(100.0)))
