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
