"""The numpy grid must be pandas' date_range, and the first off-grid timestamp is found."""

import pandas as pd
import pytest

from forecast.data.timegrid import first_off_grid, fixed_step_ns, regular_index


@pytest.mark.parametrize("freq", ["30min", "h", "D", "MS", "W-SUN"])
@pytest.mark.parametrize("tz", [None, "Australia/Melbourne"])  # across a DST change
def test_regular_index_is_date_range(freq, tz):
    first = pd.Timestamp("2024-03-30 12:00", tz=tz)
    if freq in ("MS", "W-SUN"):
        first = pd.date_range(first, periods=1, freq=freq)[0]  # calendar grids start on it
    got = regular_index(first, freq, 200)
    expected = pd.date_range(first, periods=200, freq=freq)
    assert str(got.tz) == str(expected.tz)
    assert list(got.as_unit("ns").asi8) == list(expected.as_unit("ns").asi8)


def test_first_off_grid():
    ds = pd.date_range("2024-01-01", periods=10, freq="30min")
    assert first_off_grid(ds, "30min") is None
    assert first_off_grid(ds.as_unit("us"), "30min") is None  # unit does not matter
    shifted = ds.delete(4)  # a missing half-hour
    assert first_off_grid(shifted, "30min") == (4, pd.Timestamp("2024-01-01 02:00"))
    assert first_off_grid(ds, "h") == (1, pd.Timestamp("2024-01-01 01:00"))


@pytest.mark.parametrize("freq", ["D", "2D"])
def test_a_day_keeps_the_wall_clock_across_daylight_saving(freq):
    """In every pandas a day on a local clock is a calendar day (23 or 25 hours at a change);
    pandas 2 also calls `Day` a fixed `Tick`, which must not send it down the fixed path."""
    first = pd.Timestamp("2024-04-05 12:00", tz="Australia/Melbourne")  # DST ends 04-07
    got = regular_index(first, freq, 4)
    assert {t.hour for t in got} == {12}
    assert fixed_step_ns(freq) is None and fixed_step_ns("h") == 3_600_000_000_000
