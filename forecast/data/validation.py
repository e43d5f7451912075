"""Check a long frame against the data contract; every failure names the column or series."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd

from ..errors import (
    DataValidationError,
    DuplicateTimestampError,
    FrequencyError,
    MissingColumnError,
    MissingTimestampsError,
    NonFiniteValueError,
    TimestampParseError,
)
from .timegrid import first_off_grid

REQUIRED_COLUMNS = ("unique_id", "ds", "y")


def parse_timestamps(values: pd.Series, column: str = "ds") -> pd.Series:
    """Parse to naive timestamps; timezone-aware inputs are converted to UTC first."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif (periods := _period_labels(values)) is not None:
        parsed = periods
    else:
        if pd.api.types.is_numeric_dtype(values):
            if not _are_years(values):
                raise TimestampParseError(column, str(values.iloc[0]), STEPS_HINT)
            values = values.astype("int64").astype(str)  # 1875: the year, read as 1875-01-01
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


# Period labels as R's tsibble writes them (yearmonth, yearquarter, yearweek), which
# ISO-8601 has no spelling for: each at the start of its period.
PERIOD_LABELS = (
    (r"\d{4} [A-Z][a-z]{2}", lambda v: pd.to_datetime(v, format="%Y %b")),
    (r"\d{4} Q[1-4]", lambda v: pd.PeriodIndex(v.str.replace(" ", ""), freq="Q")
     .to_timestamp()),
    (r"\d{4} W\d{2}", lambda v: pd.to_datetime(v.str.replace(" W", "-W") + "-1",
                                               format="%G-W%V-%u")),
)


STEPS_HINT = ("numbers are steps, not times: give each step its timestamp at the data's "
              "frequency, e.g. pandas.date_range('2000-01-01', periods=n, freq='D')")


def _are_years(values: pd.Series) -> bool:
    """Whole numbers that can only be years (a 'Year' column): 1678-2261, pandas' range."""
    finite = values.notna().all() and np.isfinite(values).all()
    return bool(finite and (values % 1 == 0).all() and values.min() >= 1678
                and values.max() <= 2261)


def _period_labels(values: pd.Series) -> pd.Series | None:
    """Timestamps of labels like '1982 Apr', '2005 Q1' or '1991 W06' when every value is one
    of a kind; None otherwise."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None
    text = values.astype(str)
    for pattern, parse in PERIOD_LABELS:
        if text.str.fullmatch(pattern).all():
            try:
                return pd.Series(pd.DatetimeIndex(parse(text)), index=values.index)
            except (ValueError, TypeError):
                return None
    return None


def infer_freq(ds: pd.Series | pd.DatetimeIndex, unique_id: str = "series") -> str:
    """The regular frequency of one series, as a pandas offset alias; a series with some
    timestamps missing (holidays of business days, a lost hour) has the frequency of its
    grid."""
    index = pd.DatetimeIndex(ds)
    if len(index) < 3:
        raise FrequencyError(unique_id, "needs at least 3 timestamps to infer a frequency")
    freq = _pandas_freq(index) or _grid_freq(index)
    if freq is None:
        steps = pd.Series(index[1:] - index[:-1]).value_counts()
        detail = ", ".join(f"{step} x{count}" for step, count in steps.head(3).items())
        raise FrequencyError(
            unique_id,
            f"timestamps are not evenly spaced (gaps seen: {detail}) and no regular grid "
            "holds them all; expected a regular frequency: set data.freq",
        )
    return freq


def _pandas_freq(index: pd.DatetimeIndex) -> str | None:
    with warnings.catch_warnings():  # pandas 3 warns that a BaseOffset will be returned later
        warnings.simplefilter("ignore")
        inferred = pd.infer_freq(index)
    return getattr(inferred, "freqstr", inferred)


def _grid_freq(index: pd.DatetimeIndex, run: int = 7, runs: int = 64) -> str | None:
    """The frequency of timestamps with some missing: pandas' inference on up to `runs`
    stretches of `run` consecutive timestamps (7: a week of business days spans a weekend),
    the most common answer whose grid holds every timestamp."""
    run = min(run, len(index))
    starts = np.unique(np.linspace(0, len(index) - run, min(runs, len(index) - run + 1),
                                   dtype=int))
    votes = Counter(f for f in (_pandas_freq(index[i:i + run]) for i in starts) if f)
    for freq, _ in votes.most_common():
        if index.isin(grid_between(index[0], index[-1], freq)).all():
            return freq
    return None


def grid_between(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.date_range(first, last, freq=freq)


def _missing_from_grid(ds: pd.Series, freq: str, unique_id: str) -> pd.DatetimeIndex | None:
    """None when `ds` is the whole grid of `freq` from its first timestamp; else that grid
    (`ds` misses some of it). FrequencyError names a timestamp that is off the grid."""
    index = pd.DatetimeIndex(ds)
    if first_off_grid(index, freq) is None:
        return None
    grid = grid_between(index[0], index[-1], freq)
    off = np.flatnonzero(~index.isin(grid))
    if len(off):
        raise FrequencyError(
            unique_id,
            f"timestamps do not follow the frequency '{freq}': {index[off[0]]} (position "
            f"{off[0]}) is not on its grid from {index[0]}",
        )
    return grid


def _add_missing_rows(group: pd.DataFrame, grid: pd.DatetimeIndex) -> pd.DataFrame:
    """`group` on every timestamp of `grid`, the added rows empty (to be filled)."""
    out = group.set_index("ds").reindex(grid).rename_axis("ds").reset_index()
    out["unique_id"] = group["unique_id"].iloc[0]
    return out[group.columns]


def _trim_empty_ends(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Drop each series' rows before its first y and after its last: a series that starts
    late or ends early (a wide table melted to long) is not missing data."""
    present = frame["y"].notna()
    uid = frame["unique_id"]
    started = present.groupby(uid).cummax()
    not_ended = present[::-1].groupby(uid[::-1]).cummax()[::-1]
    keep = started & not_ended
    if keep.all():
        return frame
    dropped = (~keep).groupby(uid).sum()
    dropped = dropped[dropped > 0]
    sizes = uid.value_counts()
    empty = [str(u) for u in dropped.index if dropped[u] == sizes[u]]
    if empty:
        notes.append(f"left out {len(empty)} series with no y value: {_names(empty)}")
    ends = dropped.drop(index=empty)
    if len(ends):
        notes.append(f"dropped {int(ends.sum())} rows with empty y before the first or after "
                     f"the last value of {len(ends)} series: "
                     + _names([f"{u} ({n})" for u, n in ends.items()]))
    if len(empty) == uid.nunique():
        raise DataValidationError("column 'y' has no values; expected numbers", "y")
    return frame.loc[keep].reset_index(drop=True)


def _names(items: list[str], shown: int = 5) -> str:
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown
                                        else "")


def fill_values(values: pd.Series, policy: str) -> pd.Series:
    """Empty values of one series filled by `policy` ('ffill' or 'interpolate'); the ends by
    the nearest value."""
    if policy == "ffill":
        return values.ffill().bfill()
    return values.interpolate(limit_direction="both")


def _check_finite(frame: pd.DataFrame, column: str, policy: str,
                  notes: list[str] | None = None) -> pd.DataFrame:
    notes = [] if notes is None else notes
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
        numeric = numeric.groupby(frame["unique_id"]).transform(lambda s: fill_values(s, policy))
        counts = bad.groupby(frame["unique_id"]).sum()
        counts = counts[counts > 0]
        notes.append(f"filled {int(bad.sum())} empty values of '{column}' in {len(counts)} "
                     f"series ({policy}): " + _names([f"{u} ({n})" for u, n in counts.items()]))
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
    notes: list[str] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Return the frame sorted by (unique_id, ds) with clean dtypes, and its frequency. What
    was repaired (empty ends dropped; with `fill`, missing timestamps added and empty values
    filled) is appended to `notes`, one line each."""
    notes = [] if notes is None else notes
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
    if require_y:
        out = _trim_empty_ends(out, notes)

    resolved = freq
    grids: dict[str, pd.DatetimeIndex] = {}
    added: dict[str, int] = {}  # rows each gappy series gains on its grid
    for uid, group in out.groupby("unique_id", sort=False):
        series_freq = resolved or infer_freq(group["ds"], str(uid))
        grid = _missing_from_grid(group["ds"].reset_index(drop=True), series_freq, str(uid))
        if grid is not None:
            if fill == "error":
                absent = grid.difference(pd.DatetimeIndex(group["ds"]))
                raise MissingTimestampsError(str(uid), series_freq, len(absent), absent[0])
            grids[str(uid)], added[str(uid)] = grid, len(grid) - len(group)
        resolved = resolved or series_freq
    if grids:
        share = sum(added.values()) / (len(out) + sum(added.values()))
        notes.append(f"added {sum(added.values())} missing timestamps ({share:.0%} of the "
                     f"rows now) to {len(added)} series: "
                     + _names([f"{u} ({n})" for u, n in added.items()]))
        out = pd.concat([_add_missing_rows(group, grids[uid]) if uid in grids else group
                         for uid, group in out.groupby("unique_id", sort=False)],
                        ignore_index=True)

    for column in ([*covariates, "y"] if require_y else covariates):
        out = _check_finite(out, column, fill, notes)
    return out, str(resolved)
