"""Check a long frame against the data contract; every failure names the column or series."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import (
    DataValidationError,
    DuplicateTimestampError,
    FrequencyError,
    MissingColumnError,
    NonFiniteValueError,
    TimestampParseError,
)
from .timegrid import first_off_grid

REQUIRED_COLUMNS = ("unique_id", "ds", "y")


def parse_timestamps(values: pd.Series, column: str = "ds") -> pd.Series:
    """Parse to naive timestamps; timezone-aware inputs are converted to UTC first."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        try:
            parsed = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError):
            parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
            bad = values[parsed.isna() & values.notna()]
            example = bad.iloc[0] if len(bad) else values.iloc[0]
            raise TimestampParseError(column, str(example)) from None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if parsed.isna().any():
        raise TimestampParseError(column, "NaT/empty")
    return parsed.astype("datetime64[ns]")


def infer_freq(ds: pd.Series | pd.DatetimeIndex, unique_id: str = "series") -> str:
    """The regular frequency of one series, as a pandas offset alias."""
    index = pd.DatetimeIndex(ds)
    if len(index) < 3:
        raise FrequencyError(unique_id, "needs at least 3 timestamps to infer a frequency")
    with warnings.catch_warnings():  # pandas 3 warns that a BaseOffset will be returned later
        warnings.simplefilter("ignore")
        inferred = pd.infer_freq(index)
    freq = getattr(inferred, "freqstr", inferred)
    if freq is None:
        steps = pd.Series(index[1:] - index[:-1]).value_counts()
        detail = ", ".join(f"{step} x{count}" for step, count in steps.head(3).items())
        raise FrequencyError(
            unique_id,
            f"timestamps are not evenly spaced (gaps seen: {detail}); expected a regular "
            "frequency: fill the missing timestamps or set data.freq",
        )
    return freq


def _check_regular(ds: pd.Series, freq: str, unique_id: str) -> None:
    off = first_off_grid(pd.DatetimeIndex(ds), freq)
    if off is not None:
        at, expected = off
        raise FrequencyError(
            unique_id,
            f"timestamps do not follow the frequency '{freq}': expected {expected} at "
            f"position {at}, found {ds.iloc[at]}",
        )


def _fill(values: pd.Series, policy: str) -> pd.Series:
    if policy == "ffill":
        return values.ffill().bfill()
    return values.interpolate(limit_direction="both")


def _check_finite(frame: pd.DataFrame, column: str, policy: str) -> pd.DataFrame:
    numeric = pd.to_numeric(frame[column], errors="coerce")
    if numeric.isna().sum() > frame[column].isna().sum():
        text = numeric.isna() & frame[column].notna()
        row = frame.loc[text].iloc[0]
        raise DataValidationError(
            f"column '{column}' has {int(text.sum())} values that are not numbers, e.g. "
            f"{row[column]!r} in the row unique_id={row['unique_id']}, ds={row['ds']}; "
            "expected numbers", "y" if column == "y" else f"covariates.{column}")
    numeric = numeric.astype("float64").replace([np.inf, -np.inf], np.nan)
    bad = numeric.isna()
    if bad.any():
        if policy == "error":
            first = frame.loc[bad].iloc[0]
            count = int(bad[frame["unique_id"] == first["unique_id"]].sum())
            raise NonFiniteValueError(column, first["unique_id"], count, first["ds"])
        numeric = numeric.groupby(frame["unique_id"]).transform(lambda s: _fill(s, policy))
        if numeric.isna().any():
            uid = frame.loc[numeric.isna(), "unique_id"].iloc[0]
            raise NonFiniteValueError(column, uid, int(numeric.isna().sum()), "all")
    frame[column] = numeric
    return frame


def validate_frame(
    frame: pd.DataFrame,
    covariates: list[str] | tuple[str, ...] = (),
    freq: str | None = None,
    fill: str = "error",
    require_y: bool = True,
) -> tuple[pd.DataFrame, str]:
    """Return the frame sorted by (unique_id, ds) with clean dtypes, and its frequency."""
    required = [c for c in REQUIRED_COLUMNS if require_y or c != "y"]
    for column in [*required, *covariates]:
        if column not in frame.columns:
            raise MissingColumnError(column, list(frame.columns))
    if frame.empty:
        raise DataValidationError("the data has no rows; expected at least one series")
    out = frame[[*required, *covariates]].copy()
    out["unique_id"] = out["unique_id"].astype(str)
    out["ds"] = parse_timestamps(out["ds"])
    out = out.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)

    dupes = out.duplicated(["unique_id", "ds"], keep=False)
    if dupes.any():
        first = out.loc[dupes].iloc[0]
        count = int(out.loc[dupes & (out["unique_id"] == first["unique_id"])].shape[0])
        raise DuplicateTimestampError(first["unique_id"], first["ds"], count)

    resolved = freq
    for uid, group in out.groupby("unique_id", sort=False):
        series_freq = resolved or infer_freq(group["ds"], str(uid))
        _check_regular(group["ds"].reset_index(drop=True), series_freq, str(uid))
        resolved = resolved or series_freq

    for column in ([*covariates, "y"] if require_y else covariates):
        out = _check_finite(out, column, fill)
    return out, str(resolved)
