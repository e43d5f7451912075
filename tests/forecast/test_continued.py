"""Continued training: a trained model's weights as the start on newer data."""

from __future__ import annotations

import pytest

from forecast import Forecaster, build_config
from forecast.errors import ConfigError
from tests.conftest import make_panel, tiny_config_values


def config(name: str = "lstm", **trainer):
    values = tiny_config_values()
    values["model"]["name"] = name
    values["trainer"].update(trainer)
    return build_config(values)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_warm_start_begins_below_a_fresh_model(seed):
    stream = make_panel(length=800, seed=seed)
    position = stream.groupby("unique_id").cumcount()
    old = Forecaster(config=config(max_epochs=6, limit_train_batches=20, seed=seed)).fit(
        stream[position < 450])
    newer = stream[position >= 350]  # the same series, 450 steps later
    short = config(max_epochs=1, limit_train_batches=2, seed=seed)
    fresh = Forecaster(config=short).fit(newer)
    warm = Forecaster(config=short).fit(newer, init=old)
    assert warm.report.history[0]["val_loss"] < fresh.report.history[0]["val_loss"]
    assert warm.predictor.scaler.stats["s0"].y_mean != old.predictor.scaler.stats["s0"].y_mean


def test_another_family_or_window_is_refused_before_training():
    old = Forecaster(config=config(max_epochs=1)).fit(make_panel())
    with pytest.raises(ConfigError, match="model family: the version has lstm, the new "
                       "training transformer"):
        Forecaster(config=config("transformer", max_epochs=1)).fit(make_panel(), init=old)
    values = tiny_config_values(lookback=30)
    with pytest.raises(ConfigError, match="data.lookback: the version has 24, the new training 30"):
        Forecaster(config=build_config(values)).fit(make_panel(), init=old)
