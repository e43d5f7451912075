"""Calendar features: the numpy arithmetic must give pandas' calendar, on any timestamps."""

import numpy as np
import pandas as pd
import pytest

from forecast.data.calendar import calendar_feature_names, calendar_features

PANDAS_VALUES = {  # the definitions, written with pandas' own field accessors
    "hour": (lambda ix: ix.hour + ix.minute / 60.0, 24.0),
    "minute": (lambda ix: ix.minute, 60.0),
    "dayofweek": (lambda ix: ix.day_of_week + ix.hour / 24.0, 7.0),
    "dayofyear": (lambda ix: ix.day_of_year - 1, 366.0),
    "month": (lambda ix: ix.month - 1, 12.0),
}


def pandas_calendar(index: pd.DatetimeIndex, features: list[str]) -> np.ndarray:
    columns = []
    for name in features:
        value_of, period = PANDAS_VALUES[name]
        angle = 2.0 * np.pi * np.asarray(value_of(index), dtype=np.float64) / period
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1).astype(np.float32)


@pytest.mark.parametrize("start,freq", [
    ("1969-12-25 07:13", "37min"),  # before the epoch: floor division must still hold
    ("2012-02-27", "7h"),  # across a leap day
    ("2023-12-31 22:00", "30min"),  # across a year end
    ("2001-01-01", "D"),
])
def test_matches_pandas_field_accessors(start, freq):
    index = pd.date_range(start, periods=900, freq=freq)
    features = list(PANDAS_VALUES)
    got = calendar_features(index, features)
    assert got.shape == (900, 2 * len(features))
    np.testing.assert_allclose(got, pandas_calendar(index, features), atol=1e-6)


def test_tz_aware_uses_local_wall_time():
    local = pd.date_range("2024-03-30", periods=100, freq="h", tz="Australia/Melbourne")
    np.testing.assert_allclose(calendar_features(local, ["hour", "dayofweek"]),
                               pandas_calendar(local, ["hour", "dayofweek"]), atol=1e-6)


def test_names_and_empty():
    assert calendar_feature_names(["hour"]) == ["hour_sin", "hour_cos"]
    assert calendar_features(pd.date_range("2020", periods=3, freq="h"), []).shape == (3, 0)
