"""`model.calibrate_median`: the median moves by its median error on the validation windows,
so a network that under-forecasts a series that has risen since training is corrected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import Forecaster, build_config
from forecast.calibration import MEDIAN_BIAS_SHARE, Calibration, median_bias_share, moves_median
from forecast.errors import ArtifactError, ConfigError
from forecast.evaluation import split_windows, uncalibrated_windows
from tests.conftest import make_panel, tiny_config_values
from tests.floats import assert_forecasts_close

MIDDLE = 3  # 0.5 among the default quantiles


def rising_panel() -> pd.DataFrame:
    """make_panel's series, flat while training, then climbing through validation and test:
    a network trained on the flat part forecasts too low in both."""
    frame = make_panel(n_series=2)
    t = frame.groupby("unique_id").cumcount().to_numpy()
    length = t.max() + 1
    frame["y"] += np.clip(t - (length - 96), 0, None) * 1.5  # from the validation part on
    return frame


def fitted(frame, calibrate_median: bool | None, name: str = "lstm") -> Forecaster:
    values = tiny_config_values()
    if calibrate_median is not None:
        values["model"]["calibrate_median"] = calibrate_median
    values["trainer"].update(refit=False, max_epochs=3, patience=3)
    return Forecaster(name, build_config(values)).fit(frame)


def test_the_median_moves_by_its_validation_error_and_the_test_error_falls():
    frame = rising_panel()
    plain, corrected = fitted(frame, False), fitted(frame, True)
    offsets = corrected.predictor.calibration.offsets
    assert np.all(plain.predictor.calibration.offsets[:, MIDDLE] == 0)
    # the offset is the median of (actual - the network's median) over the validation windows
    predictor, prepared = corrected.predictor, corrected.prepared
    base, actual, _ = uncalibrated_windows(predictor, split_windows(predictor, prepared, "val",
                                                                    step=1))
    np.testing.assert_allclose(offsets[:, MIDDLE],
                               np.median(actual - base[..., MIDDLE], axis=0), rtol=1e-6)
    assert (offsets[:, MIDDLE] > 0).all()  # the rise: the network forecast too low
    # the same network (same seed) with the other quantiles' offsets unchanged
    np.testing.assert_allclose(np.delete(offsets, MIDDLE, axis=1),
                               np.delete(plain.predictor.calibration.offsets, MIDDLE, axis=1))
    assert corrected.metrics["mae"] < plain.metrics["mae"]


def test_a_baselines_median_stays_the_yardstick():
    model = fitted(rising_panel(), True, name="seasonal_naive")
    assert np.all(model.predictor.calibration.offsets[:, MIDDLE] == 0)


def test_a_corrected_model_saves_and_loads_with_the_same_forecasts(tmp_path):
    frame = rising_panel()
    model = fitted(frame, True)
    loaded = Forecaster.load(model.save(tmp_path / "model"))
    assert loaded.config.model.calibrate_median is True
    assert_forecasts_close(loaded.forecast_split("test", frame).forecast,
                           model.forecast_split("test").forecast)


def test_the_default_is_the_familys_and_a_set_value_wins():
    """On for the LSTM, GRU and MLP, `auto` for the Transformer, off for the baselines
    (measured in docs/benchmarks.md)."""
    assert build_config({}).model.calibrate_median is None
    for name, default in (("lstm", True), ("gru", True), ("transformer", "auto"),
                          ("mlp", True), ("seasonal_naive", False)):
        assert build_config({"model": {"name": name}}).model.median_calibrated == default
        for value in (True, False, "auto"):
            settings = build_config({"model": {"name": name, "calibrate_median": value}}).model
            assert settings.median_calibrated == value


def test_a_recurrent_model_left_at_its_default_moves_its_median():
    model = fitted(rising_panel(), None, "gru")
    assert (model.predictor.calibration.offsets[:, MIDDLE] > 0).all()
    assert model.predictor.calibration.median_moved


def test_auto_moves_the_median_exactly_when_its_validation_bias_is_half_its_error():
    """The Transformer's default on the rising panel (its errors mostly one-sided) and on the
    same panel without the rise: the share each calibration records decides, and a moved
    median is the one `true` gives."""
    autos = []
    for frame in (rising_panel(), make_panel(n_series=2)):
        auto = fitted(frame, None, "transformer").predictor.calibration
        forced = fitted(frame, True, "transformer").predictor.calibration
        assert auto.median_bias == pytest.approx(forced.median_bias, rel=1e-9)
        moves = auto.median_bias >= MEDIAN_BIAS_SHARE
        assert auto.median_moved is moves
        expected = forced.offsets if moves else np.where(
            np.arange(forced.offsets.shape[1]) == MIDDLE, 0.0, forced.offsets)
        np.testing.assert_allclose(auto.offsets, expected, rtol=1e-6)
        autos.append(auto)
    rising, level = autos
    assert rising.median_moved and rising.median_bias > MEDIAN_BIAS_SHARE
    assert not level.median_moved and level.median_bias < MEDIAN_BIAS_SHARE  # both branches


def test_the_bias_share_is_the_mean_error_over_the_mean_absolute_error():
    base = np.zeros((4, 2, 3))
    one_sided = np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 1.0], [1.0, 1.0]])
    assert median_bias_share(base, one_sided, [0.1, 0.5, 0.9]) == pytest.approx(1.0)
    balanced = one_sided * np.array([[1], [-1], [1], [-1]])  # 5 up, 5 down... in sum
    assert median_bias_share(base, balanced, [0.1, 0.5, 0.9]) == pytest.approx(
        abs(balanced.mean()) / np.abs(balanced).mean())
    assert median_bias_share(base, one_sided, [0.1, 0.9]) is None  # no median to move
    assert median_bias_share(base, np.zeros((4, 2)), [0.5]) is None  # nothing to measure
    assert not moves_median("auto", None) and moves_median(True, None)
    assert moves_median("auto", MEDIAN_BIAS_SHARE) and not moves_median("auto", 0.49)
    assert not moves_median(False, 1.0)


def test_the_share_is_saved_with_the_model_and_checked_on_load(tmp_path):
    model = fitted(rising_panel(), None, "transformer")
    calibration = model.predictor.calibration
    loaded = Forecaster.load(model.save(tmp_path / "model")).predictor.calibration
    assert loaded.median_bias == pytest.approx(calibration.median_bias)
    assert loaded.median_moved == calibration.median_moved
    payload = {**calibration.to_json(), "median_bias": 1.5}
    with pytest.raises(ArtifactError, match="median_bias"):
        Calibration.from_json(payload, calibration.offsets.shape[0])
    legacy = {k: v for k, v in calibration.to_json().items() if k != "median_bias"}
    assert Calibration.from_json(legacy, calibration.offsets.shape[0]).median_bias is None


def test_the_setting_is_validated_by_name():
    values = tiny_config_values()
    values["model"]["calibrate_median"] = "sometimes"
    with pytest.raises(ConfigError, match="calibrate_median"):
        build_config(values)
