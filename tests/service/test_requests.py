"""The /predict policy as plain functions: limits, and the last guard against non-finite
forecasts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecast import Predictor
from forecast.inference import SeriesForecast
from service.requests import RequestError, check_finite, validate_request
from service.schemas import SeriesIn
from service.settings import ServiceSettings
from tests.forecast.test_hardening import GOLDEN


def series_in(n: int = 60) -> SeriesIn:
    ds = pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    return SeriesIn(unique_id="s0", ds=list(ds), y=[float(v) for v in np.sin(np.arange(n))],
                    covariates={"temp": [20.0] * n, "holiday": [0.0] * (n + 6)})


def settings(**changes) -> ServiceSettings:
    return dataclasses.replace(ServiceSettings.from_env(), **changes)


def test_values_per_request_are_bounded():
    predictor = Predictor.load(GOLDEN / "gru-format2")
    request = [series_in(), series_in()]
    assert len(validate_request(predictor, settings(), request, None, None).checked) == 2
    with pytest.raises(RequestError) as info:
        validate_request(predictor, settings(max_request_points=400), request, None, None)
    assert info.value.status == 413 and info.value.field == "series"


def test_a_forecast_that_is_not_finite_is_never_answered():
    ds = pd.date_range("2024-01-01", periods=3, freq="h")
    good = SeriesForecast("a", ds, np.ones((3, 1)), ds)
    bad = SeriesForecast("b", ds, np.array([[1.0], [np.nan], [1.0]]), ds)
    check_finite([good])
    with pytest.raises(RequestError) as info:
        check_finite([good, bad])
    assert info.value.status == 422 and info.value.field == "series[1].y"


def test_quantiles_from_a_point_model_are_refused_with_the_reason():
    predictor = Predictor.load(GOLDEN / "gru-format2")  # saved before quantiles by default
    assert predictor.quantiles == () and not predictor.calibration.calibrated
    assert validate_request(predictor, settings(), [series_in()], None, None).quantiles == []
    with pytest.raises(RequestError) as info:
        validate_request(predictor, settings(), [series_in()], None, [0.5])
    assert info.value.status == 422 and info.value.field == "quantiles"
    assert "point forecasts only" in str(info.value)


def test_a_model_trained_with_fill_fills_a_history_missing_timestamps(tmp_path):
    """Business days with a holiday, or an hour a sensor lost: the model fills the history as
    training filled its data (`data.fill`), and one trained without it refuses the gap."""
    strict = Predictor.load(GOLDEN / "gru-format2")
    filling = dataclasses.replace(strict, spec=dataclasses.replace(strict.spec,
                                                                   fill="interpolate"))
    filling.save(tmp_path / "filling")
    assert Predictor.load(tmp_path / "filling").spec.fill == "interpolate"
    assert strict.spec.fill == "error"  # saved before the setting existed
    whole = series_in(61)
    gappy = whole.model_copy(update={
        "ds": whole.ds[:55] + whole.ds[56:], "y": whole.y[:55] + whole.y[56:],
        "covariates": {"temp": [20.0] * 60, "holiday": [0.0] * 66}})
    with pytest.raises(RequestError) as info:
        validate_request(strict, settings(), [gappy], None, None)
    assert info.value.status == 422 and info.value.field == "series[0].ds"
    repaired = whole.model_copy(update={"y": [*whole.y[:55], (whole.y[54] + whole.y[56]) / 2,
                                              *whole.y[56:]]})
    got, want = (filling.forecast(validate_request(filling, settings(), [s], None, None).checked)
                 for s in (gappy, repaired))
    assert list(got[0].ds) == list(want[0].ds)
    np.testing.assert_allclose(got[0].values, want[0].values, rtol=1e-5,
                               atol=1e-6 * np.abs(want[0].values).max())
    stray = whole.model_copy(update={"ds": [*whole.ds[:55], "2024-01-03T07:30:00",
                                            *whole.ds[56:]]})
    with pytest.raises(RequestError, match="frequency 'h'") as info:  # off the grid: no fill
        validate_request(filling, settings(), [stray], None, None)
    assert info.value.field == "series[0].ds"
