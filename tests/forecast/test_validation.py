"""Every data-contract violation raises its own exception naming the column or series."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from forecast.config import DataSettings
from forecast.data.validation import infer_freq, validate_frame
from forecast.datamodule import SeriesRefusedWarning, prepare_data
from forecast.errors import (
    DuplicateTimestampError,
    FrequencyError,
    MissingColumnError,
    MissingFutureCovariateError,
    NonFiniteValueError,
    SeriesTooShortError,
    TimestampParseError,
)
from tests.conftest import make_panel


def test_missing_column_names_it_and_lists_found():
    frame = make_panel().drop(columns=["temp"])
    with pytest.raises(MissingColumnError, match="'temp'") as info:
        validate_frame(frame, ["temp"])
    assert "holiday" in str(info.value)


def test_unparsable_timestamp_names_column_and_value():
    frame = make_panel(n_series=1, length=10)
    frame["ds"] = frame["ds"].astype(str)
    frame.loc[3, "ds"] = "not-a-date"
    with pytest.raises(TimestampParseError, match="'ds'.*not-a-date"):
        validate_frame(frame)


def test_duplicate_rows_name_series_and_timestamp():
    frame = make_panel(n_series=2, length=10)
    frame = pd.concat([frame, frame.iloc[[12]]], ignore_index=True)
    with pytest.raises(DuplicateTimestampError, match="'s1'.*2024-01-01 02:00"):
        validate_frame(frame)


def test_irregular_frequency_names_series():
    frame = make_panel(n_series=2, length=30).drop(index=[40])
    with pytest.raises(FrequencyError, match="'s1'"):
        validate_frame(frame)


def test_given_frequency_mismatch_is_reported():
    with pytest.raises(FrequencyError, match="'30min'"):
        validate_frame(make_panel(n_series=1, length=30), freq="30min")


def test_unknown_frequency_needs_three_points():
    with pytest.raises(FrequencyError, match="at least 3"):
        infer_freq(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"])), "x")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_target_names_column_series_and_time(bad):
    frame = make_panel(n_series=2, length=30)
    frame.loc[35, "y"] = bad
    with pytest.raises(NonFiniteValueError, match="'y' of series 's1'.*ds=2024-01-01 05:00"):
        validate_frame(frame)


def test_fill_policy_repairs_gaps_in_values():
    frame = make_panel(n_series=1, length=30)
    frame.loc[5, "y"] = np.nan
    clean, _ = validate_frame(frame, fill="interpolate")
    expected = (frame.loc[4, "y"] + frame.loc[6, "y"]) / 2
    assert clean.loc[5, "y"] == pytest.approx(expected)


def test_non_finite_covariate_is_named():
    frame = make_panel(n_series=1, length=30)
    frame.loc[7, "temp"] = np.nan
    with pytest.raises(NonFiniteValueError, match="'temp'"):
        validate_frame(frame, ["temp"])


def test_a_series_too_short_among_many_is_left_out_with_a_warning_naming_it():
    frame = pd.concat([make_panel(n_series=2, length=400),
                       make_panel(n_series=1, length=50).assign(unique_id="short")])
    settings = DataSettings(lookback=24, horizon=6, val_size=48, test_size=48)
    with pytest.warns(SeriesRefusedWarning, match="1 series left out.*short"):
        prepared = prepare_data(settings, frame)
    assert [s.unique_id for s in prepared.panel.series] == ["s0", "s1"]
    assert "'short' has 50 points; expected at least 126" in prepared.refused["short"]


def test_series_all_too_short_name_the_settings_that_fit():
    frame = make_panel(n_series=2, length=50)
    settings = DataSettings(lookback=24, horizon=6, val_size=48, test_size=48)
    with pytest.raises(SeriesTooShortError, match=r"has 50 points; expected at least 126 .*"
                       r"--set data.lookback=\d+ --set data.horizon=6") as caught:
        prepare_data(settings, frame)
    fits = dict(re.findall(r"data\.(\w+)=(\d+)", str(caught.value)))
    retried = prepare_data(settings.model_copy(update={k: int(v) for k, v in fits.items()}), frame)
    assert len(retried.panel.series) == 2


def test_timezone_aware_timestamps_become_utc():
    frame = make_panel(n_series=1, length=10)
    frame["ds"] = frame["ds"].dt.tz_localize("Australia/Melbourne")
    clean, freq = validate_frame(frame)
    assert clean["ds"].dt.tz is None and freq == "h"
    assert clean["ds"].iloc[0] == pd.Timestamp("2023-12-31 13:00")


def test_missing_future_covariate_at_predict_time(tiny_config, panel_frame):
    from forecast import Forecaster

    forecaster = Forecaster("naive", tiny_config).fit(panel_frame)
    history = panel_frame.groupby("unique_id").head(100)
    future = history.groupby("unique_id").tail(3)  # 3 rows, not 6, and in the past
    with pytest.raises(MissingFutureCovariateError, match="'holiday' of series 's0'.*expected 6"):
        forecaster.predict(history, future_df=future.drop(columns=["y"]))


def test_future_covariates_are_required_at_predict_time(tiny_config, panel_frame):
    from forecast import Forecaster

    forecaster = Forecaster("naive", tiny_config).fit(panel_frame)
    with pytest.raises(MissingFutureCovariateError, match="'holiday' of series 's0' has 0"):
        forecaster.predict(panel_frame.groupby("unique_id").head(100))
