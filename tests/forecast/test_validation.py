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
    DataValidationError,
    DuplicateTimestampError,
    FrequencyError,
    MissingColumnError,
    MissingFutureCovariateError,
    MissingTimestampsError,
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


@pytest.mark.parametrize("labels, start, freq", [
    (["1982 Apr", "1982 May", "1982 Jun", "1982 Jul"], "1982-04-01", "MS"),
    (["2005 Q1", "2005 Q2", "2005 Q3", "2005 Q4"], "2005-01-01", "QS-OCT"),
    (["1991 W06", "1991 W07", "1991 W08", "1991 W09"], "1991-02-04", "W-MON"),
])
def test_period_labels_as_r_writes_them_are_the_periods_starts(labels, start, freq):
    frame = pd.DataFrame({"unique_id": "a", "ds": labels, "y": [1.0, 2.0, 3.0, 4.0]})
    clean, found = validate_frame(frame)
    assert clean["ds"].iloc[0] == pd.Timestamp(start)
    # pandas versions spell a grid differently (QS-OCT or QS-JAN): the grid is what counts
    assert found.split("-")[0] == freq.split("-")[0]
    assert list(pd.date_range(start, periods=4, freq=found)) == list(clean["ds"])


def test_step_numbers_are_refused_with_the_way_to_timestamps():
    frame = pd.DataFrame({"unique_id": "a", "ds": [0, 1, 2, 3], "y": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(TimestampParseError, match="'0'.*numbers are steps, not times.*"
                       "date_range"):
        validate_frame(frame)


def test_whole_numbers_that_can_only_be_years_are_years():
    frame = pd.DataFrame({"unique_id": "a", "ds": [1875, 1876, 1877, 1878], "y": 1.0})
    clean, freq = validate_frame(frame)
    assert list(clean["ds"]) == list(pd.date_range("1875-01-01", periods=4, freq=freq))


def test_a_label_of_another_kind_is_named():
    frame = pd.DataFrame({"unique_id": "a", "ds": ["1982 Apr", "1982 May", "1982 Q3"],
                          "y": [1.0, 2.0, 3.0]})
    with pytest.raises(TimestampParseError, match="'ds'"):
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


def trading_days(n_series: int = 2) -> pd.DataFrame:
    """Business days without three holidays (2024-01-01, -15, -02-19), a price and a volume."""
    days = pd.bdate_range("2024-01-02", periods=80)
    days = days[~days.isin(pd.to_datetime(["2024-01-15", "2024-02-19"]))]
    rng = np.random.default_rng(3)
    return pd.concat([pd.DataFrame({
        "unique_id": f"t{i}", "ds": days, "y": 100 + i + rng.normal(0, 1, len(days)).cumsum(),
        "volume": rng.uniform(1, 2, len(days))}) for i in range(n_series)], ignore_index=True)


def test_business_days_with_holidays_are_business_daily_with_the_holidays_named():
    frame = trading_days()
    assert infer_freq(frame.loc[frame["unique_id"] == "t0", "ds"]) == "B"
    with pytest.raises(MissingTimestampsError, match=r"'t0': 2 timestamps of its 'B' grid are "
                       r"missing \(first 2024-01-15.*data.fill") as caught:
        validate_frame(frame, ["volume"])
    assert caught.value.field == "ds" and isinstance(caught.value, FrequencyError)


@pytest.mark.parametrize("policy", ["interpolate", "ffill"])
def test_fill_adds_the_missing_timestamps_and_fills_every_column(policy):
    frame = trading_days()
    notes: list[str] = []
    clean, freq = validate_frame(frame, ["volume"], fill=policy, notes=notes)
    assert freq == "B" and len(clean) == len(frame) + 4
    t0 = clean[clean["unique_id"] == "t0"].set_index("ds")
    assert t0.index.equals(pd.bdate_range("2024-01-02", t0.index[-1]))
    before, holiday, after = t0.loc["2024-01-12":"2024-01-16", "y"]
    expected = (before + after) / 2 if policy == "interpolate" else before
    assert holiday == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(clean["volume"]).all()
    assert notes[0] == "added 4 missing timestamps (2% of the rows now) to 2 series: t0 (2), " \
        "t1 (2)"
    assert notes[1].startswith(f"filled 4 empty values of 'volume' in 2 series ({policy})")


def test_a_missing_month_is_found_on_the_monthly_grid():
    ds = pd.date_range("2020-01-01", periods=30, freq="MS").delete(11)
    frame = pd.DataFrame({"unique_id": "m", "ds": ds, "y": np.arange(29.0)})
    with pytest.raises(MissingTimestampsError, match="'MS' grid.*first 2020-12-01"):
        validate_frame(frame)
    clean, freq = validate_frame(frame, fill="interpolate")
    assert freq == "MS" and len(clean) == 30 and clean["y"].iloc[11] == pytest.approx(10.5)


def test_a_timestamp_off_the_grid_is_named():
    frame = make_panel(n_series=1, length=30)
    frame.loc[7, "ds"] += pd.Timedelta(minutes=30)
    with pytest.raises(FrequencyError, match="2024-01-01 07:30:00 \\(position 7\\) is not on its"):
        validate_frame(frame, freq="h", fill="interpolate")


def test_empty_ends_are_dropped_and_a_series_with_no_value_is_left_out():
    frame = make_panel(n_series=3, length=30)
    frame.loc[[0, 1, 28, 29], "y"] = np.nan  # s0 starts late and ends early
    frame.loc[frame["unique_id"] == "s2", "y"] = np.nan  # s2 has no value at all
    notes: list[str] = []
    clean, freq = validate_frame(frame, notes=notes)  # fill stays "error": nothing inside
    assert freq == "h" and sorted(clean["unique_id"].unique()) == ["s0", "s1"]
    s0 = clean[clean["unique_id"] == "s0"]
    assert len(s0) == 26 and s0["ds"].iloc[0] == frame.loc[2, "ds"]
    assert notes == ["left out 1 series with no y value: s2",
                     "dropped 4 rows with empty y before the first or after the last value "
                     "of 1 series: s0 (4)"]
    frame.loc[15, "y"] = np.nan  # inside s0: still the fill policy's to decide
    with pytest.raises(NonFiniteValueError, match="'y' of series 's0'"):
        validate_frame(frame)
    with pytest.raises(DataValidationError, match="column 'y' has no values"):
        validate_frame(frame.assign(y=np.nan))


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
