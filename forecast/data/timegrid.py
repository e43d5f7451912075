"""Regular timestamp grids at a frequency: the check every series must pass, and the future
timestamps of a forecast. Both run per request in the service, so fixed steps use numpy."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ..errors import TimestampOutOfRangeError, TimestampRangeError


@lru_cache(maxsize=64)
def fixed_step_ns(freq: str) -> int | None:
    """Nanoseconds between timestamps for fixed frequencies (30min, h); None for calendar
    ones (D, MS, W-SUN) whose steps vary. A day is a calendar day in every pandas: 23 or 25
    hours across a daylight-saving change (pandas 2 also calls `Day` a `Tick`)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    fixed = isinstance(offset, pd.offsets.Tick) and not isinstance(offset, pd.offsets.Day)
    return int(offset.nanos) if fixed else None


def in_nanoseconds(ds: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """`ds` in nanoseconds, the unit the grids compute in; TimestampOutOfRangeError (field
    `ds`) for a timestamp before 1677-09-21 or after 2262-04-11, which pandas reads from
    ISO strings in coarser units and would only overflow on later."""
    try:
        return ds.as_unit("ns")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        raise TimestampOutOfRangeError(ds.min(), ds.max()) from None


def regular_index(first: pd.Timestamp, freq: str, periods: int) -> pd.DatetimeIndex:
    """`pd.date_range(first, periods=periods, freq=freq)`, without its overhead when it can;
    TimestampRangeError where the grid would pass the last representable timestamp (numpy's
    int64 would silently wrap to 1677)."""
    step = fixed_step_ns(freq)
    if step is None:
        try:
            return pd.date_range(first, periods=periods, freq=freq)
        except (pd.errors.OutOfBoundsDatetime, OverflowError):
            raise TimestampRangeError(first, periods - 1) from None
    if first.value + step * (periods - 1) > pd.Timestamp.max.value:  # Python ints: no overflow
        raise TimestampRangeError(first, periods - 1)
    ns = first.value + step * np.arange(periods, dtype=np.int64)  # .value: UTC nanoseconds
    index = pd.DatetimeIndex(ns.view("datetime64[ns]"))
    return index if first.tz is None else index.tz_localize("UTC").tz_convert(first.tz)


def first_off_grid(ds: pd.DatetimeIndex, freq: str) -> tuple[int, pd.Timestamp] | None:
    """Position and expected value of the first timestamp off the grid that starts at ds[0];
    None when every timestamp is on it."""
    expected = regular_index(ds[0], freq, len(ds))
    got, want = ds.as_unit("ns").asi8, expected.as_unit("ns").asi8
    mismatch = np.flatnonzero(got != want)
    return (int(mismatch[0]), expected[mismatch[0]]) if len(mismatch) else None


def hours_per_step(freq: str) -> float:
    """Hours between two timestamps at a fixed frequency (0.5 for 30min), to report lags in
    the user's units; NaN for calendar frequencies."""
    step = fixed_step_ns(freq)
    return step / 3.6e12 if step is not None else float("nan")
