"""Inputs that used to give wrong forecasts with 200, artifacts that used to cost minutes,
and artifacts saved by earlier versions that must keep loading."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import Forecaster, Predictor
from forecast.data.timegrid import regular_index
from forecast.errors import (
    ArtifactError,
    DataValidationError,
    TimestampRangeError,
    ValueRangeError,
)
from forecast.inference import SeriesInput
from tests.conftest import HORIZON, LOOKBACK, hours_ending, make_panel

GOLDEN = Path(__file__).parents[1] / "golden"


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(GOLDEN / "gru-format2")


def series(n: int = 100, end: str | None = None, **changes) -> SeriesInput:
    ds = (hours_ending(end, n) if end
          else pd.date_range("2024-01-01", periods=n, freq="h"))
    y = 100 + 10 * np.sin(np.arange(n) / 4)
    item = SeriesInput("s0", ds, y, {"temp": np.full(n, 20.0),
                                     "holiday": np.zeros(n + HORIZON)})
    for key, value in changes.items():
        setattr(item, key, value)
    return item


@pytest.mark.parametrize("position,value", [(-5, 1e300), (-1, 1e39), (-1, 1e9)])
def test_out_of_range_target_is_refused_naming_y(predictor, position, value):
    item = series()
    item.y[position] = value
    with pytest.raises(ValueRangeError) as info:
        predictor.check(item)
    assert info.value.field == "y"


def test_out_of_range_covariate_is_refused_naming_it(predictor):
    item = series()
    item.covariates["temp"][-1] = 1e20
    with pytest.raises(ValueRangeError) as info:
        predictor.check(item)
    assert info.value.field == "covariates.temp"


def test_covariates_longer_than_history_plus_horizon_are_refused(predictor):
    item = series()
    item.covariates["temp"] = np.zeros(100 + HORIZON + 1)
    with pytest.raises(DataValidationError, match="at most 106") as info:
        predictor.check(item)
    assert info.value.field == "covariates.temp"


def test_forecast_timestamps_never_wrap_around():
    last = pd.Timestamp("2262-04-11T23:00:00")
    with pytest.raises(TimestampRangeError):
        regular_index(last, "30min", 49)
    assert regular_index(last, "30min", 2)[-1] == pd.Timestamp("2262-04-11T23:30:00")


def test_history_at_the_end_of_time_is_a_422_naming_ds(predictor):
    with pytest.raises(TimestampRangeError) as info:
        predictor.check(series(end="2262-04-11T23:00:00"))
    assert info.value.field == "ds"


def test_every_accepted_forecast_is_finite(predictor):
    item = series()
    item.y[-1] = item.y[-1] + 5e4  # far out, but inside the bounds
    values = predictor.predict_series([item])[0].values
    assert np.isfinite(values).all()


@pytest.mark.parametrize("key,value", [("horizon", 10**6), ("quantiles", [i / 1001 for i in range(1, 1001)])])
def test_absurd_dimensions_are_refused_in_seconds(tmp_path, key, value):
    directory = tmp_path / "model"
    shutil.copytree(GOLDEN / "gru-format2", directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, key: value}))
    start = time.perf_counter()
    with pytest.raises(ArtifactError, match="do not fit the architecture"):
        Predictor.load(directory)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("version,key", [("gru-format2", "num_layers"),
                                         ("gru-format2", "hidden_size"),
                                         ("transformer-format2", "n_layers"),
                                         ("transformer-format2", "n_heads")])
def test_a_network_too_large_to_describe_is_refused_before_building(tmp_path, version, key):
    """n_layers: 100000 once took a reload 114 s (module by module on the meta device)."""
    directory = tmp_path / "model"
    shutil.copytree(GOLDEN / version, directory)
    config = json.loads((directory / "config.json").read_text())
    config["architecture"][key] = 100_000
    (directory / "config.json").write_text(json.dumps(config))
    start = time.perf_counter()
    with pytest.raises(ArtifactError, match=f"architecture does not fit family.*{key}"):
        Predictor.load(directory)
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("version", ["gru-format1", "gru-format2", "transformer-format2",
                                     "gru-format3"])
def test_models_saved_by_earlier_versions_forecast_the_same(version):
    """transformer-format2 had RevIN inside its network and a series embedding: format 3
    moves RevIN into the shared normalisation wrapper without changing a forecast."""
    expected = json.loads((GOLDEN / f"{version}-forecast.json").read_text())
    frame = make_panel()
    history = frame.groupby("unique_id").head(300)
    future = frame.groupby("unique_id").nth(list(range(300, 306))).drop(columns=["y"])
    model = Forecaster.load(GOLDEN / version)
    assert model.lookback == LOOKBACK
    out = model.predict(history, future_df=future)
    assert out["ds"].astype(str).tolist() == expected["ds"]
    np.testing.assert_allclose(out["mean"], expected["mean"], rtol=1e-5, atol=1e-4)


def test_an_unknown_format_version_is_a_clear_error(tmp_path):
    directory = tmp_path / "model"
    shutil.copytree(GOLDEN / "gru-format2", directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ArtifactError, match="format_version 99 is not 3"):
        Predictor.load(directory)
