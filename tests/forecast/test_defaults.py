"""Settings that follow from the data: the per-frequency table and the fitted split."""

from __future__ import annotations

import pytest

from forecast.data.defaults import DataProfile, for_freq, resolve_task
from forecast.errors import SeriesTooShortError


@pytest.mark.parametrize(("freq", "kind", "lookback", "horizon", "season"), [
    ("30min", "sub-hourly", 336, 48, 336), ("15min", "sub-hourly", 672, 96, 672),
    ("h", "hourly", 168, 24, 168), ("2h", "hourly", 84, 12, 84), ("D", "daily", 56, 14, 7),
    ("B", "business-daily", 60, 10, 5), ("W-SUN", "weekly", 104, 13, 52),
    ("7D", "weekly", 104, 13, 52), ("MS", "monthly", 36, 12, 12), ("ME", "monthly", 36, 12, 12),
    ("QS", "quarterly", 16, 8, 4), ("YE", "yearly", 12, 4, 1)])
def test_each_frequency_gets_its_row(freq, kind, lookback, horizon, season):
    row = for_freq(freq)
    assert (row.kind, row.lookback, row.horizon, row.season) == (kind, lookback, horizon, season)
    assert row.season <= row.lookback and row.patch_len <= row.lookback


def test_validation_and_test_are_whole_horizons_fitted_to_the_typical_length():
    task = resolve_task({}, DataProfile("h", {"a": 24 * 60, "b": 24 * 60, "c": 200}))
    assert (task.lookback, task.horizon) == (168, 24)
    assert task.val_size == task.test_size == 6 * 24  # a tenth of 1,440 points
    long = resolve_task({}, DataProfile("h", {"a": 24 * 1000}))
    assert long.test_size == 8 * 24  # at most eight horizons


def test_a_short_series_gets_a_shorter_lookback_and_given_keys_are_kept():
    task = resolve_task({}, DataProfile("MS", {"a": 48}))
    assert (task.horizon, task.test_size, task.val_size) == (12, 12, 12)
    assert task.lookback == 12 and task.season == 12 and task.needed() <= 48
    given = resolve_task({"horizon": 6, "lookback": 20}, DataProfile("MS", {"a": 120}))
    assert (given.horizon, given.lookback) == (6, 20) and given.val_size % 6 == 0
    assert given.derived == frozenset({"season", "calendar", "val_size", "test_size",
                                       "window_step"})


def test_data_too_short_for_any_split_names_the_settings_that_fit():
    with pytest.raises(SeriesTooShortError, match=r"--set data.lookback=\d+ --set data.horizon"):
        resolve_task({"lookback": 50}, DataProfile("D", {"a": 40}))
