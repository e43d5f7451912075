"""What a long-format file holds, before anything trains on it: series and their lengths, the
frequency, gaps and non-finite values per series, and the columns that could be covariates.
It reports what validation would refuse instead of stopping at the first problem."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataValidationError, FrequencyError
from .validation import grid_between, infer_freq, parse_timestamps


@dataclass(frozen=True)
class SeriesReport:
    unique_id: str
    length: int
    start: pd.Timestamp
    end: pd.Timestamp
    missing_timestamps: int  # on the frequency's grid between start and end
    non_finite_y: int  # between the first and the last value
    empty_ends: int = 0  # empty y before the first value or after the last: dropped


@dataclass
class DataReport:
    freq: str | None
    series: list[SeriesReport]
    covariate_candidates: dict[str, str] = field(default_factory=dict)  # column -> kind
    problems: list[str] = field(default_factory=list)

    @property
    def lengths(self) -> pd.Series:
        return pd.Series([s.length for s in self.series], dtype="int64")

    def summary_lines(self) -> list[str]:
        lengths = self.lengths
        lines = [f"series: {len(self.series)}; length min {lengths.min()}, median "
                 f"{int(lengths.median())}, max {lengths.max()}",
                 f"frequency: {self.freq or 'not regular (see problems)'}"]
        gaps = [s for s in self.series if s.missing_timestamps]
        lines.append(f"gaps: {len(gaps)} series with missing timestamps" + (
            ": " + ", ".join(f"{s.unique_id} ({s.missing_timestamps})" for s in gaps[:10])
            if gaps else ""))
        bad = [s for s in self.series if s.non_finite_y]
        lines.append(f"non-finite y: {len(bad)} series" + (
            ": " + ", ".join(f"{s.unique_id} ({s.non_finite_y})" for s in bad[:10])
            if bad else ""))
        ends = [s for s in self.series if s.empty_ends]
        if ends:
            lines.append(f"empty y before the first or after the last value: {len(ends)} "
                         "series, dropped when training: " + ", ".join(
                             f"{s.unique_id} ({s.empty_ends})" for s in ends[:10]))
        if self.covariate_candidates:
            lines.append("columns that could be covariates: " + ", ".join(
                f"{c} ({kind})" for c, kind in self.covariate_candidates.items()))
        else:
            lines.append("columns that could be covariates: none")
        return lines


def _series_freq(frame: pd.DataFrame) -> str | None:
    """The frequency most series follow (the longest series decide ties)."""
    found: dict[str, int] = {}
    order = frame.groupby("unique_id", sort=False).size().sort_values(ascending=False)
    for uid in order.index[:20]:
        try:
            freq = infer_freq(frame.loc[frame["unique_id"] == uid, "ds"], str(uid))
        except FrequencyError:
            continue
        found[freq] = found.get(freq, 0) + 1
    return max(found, key=found.get) if found else None


def _missing(ds: pd.Series, freq: str | None) -> int:
    if freq is None or len(ds) < 2:
        return 0
    grid = grid_between(ds.iloc[0], ds.iloc[-1], freq)
    return int(max(0, len(grid.difference(pd.DatetimeIndex(ds)))))


def _empty_inside_and_at_ends(y: pd.Series, present: pd.Series) -> tuple[int, int]:
    """Non-finite y between a series' first and last value, and empty y outside them."""
    kept = np.flatnonzero(present.to_numpy())
    if not len(kept):
        return 0, len(y)
    inside = y.iloc[kept[0]:kept[-1] + 1]
    return int(inside.isna().sum()), len(y) - len(inside)


def _candidates(frame: pd.DataFrame) -> dict[str, str]:
    """Numeric columns besides the contract's: constant within every series = static."""
    out: dict[str, str] = {}
    for column in frame.columns:
        if column in ("unique_id", "ds", "y"):
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().mean() < 0.5:
            continue  # text, not a number a model can read
        constant = (values.groupby(frame["unique_id"]).nunique(dropna=True) <= 1).all()
        out[str(column)] = "static" if constant else "past or future"
    return out


def inspect_frame(frame: pd.DataFrame) -> DataReport:
    """A report of a long frame (unique_id, ds, y, others); DataValidationError only when
    it has no rows or its timestamps cannot be read at all."""
    if frame.empty:
        raise DataValidationError("the data has no rows; expected at least one series")
    frame = frame.copy()
    frame["unique_id"] = frame["unique_id"].astype(str)
    frame["ds"] = parse_timestamps(frame["ds"])
    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    problems = []
    y = pd.to_numeric(frame["y"], errors="coerce")
    text = y.isna() & frame["y"].notna()
    if text.any():
        row = frame.loc[text].iloc[0]
        problems.append(f"column 'y' has {int(text.sum())} values that are not numbers, e.g. "
                        f"{row['y']!r} in series '{row['unique_id']}' at {row['ds']}")
    present = frame["y"].notna()  # what validation keeps: each series from its first value
    frame["y"] = y.replace([np.inf, -np.inf], np.nan)
    dupes = frame.duplicated(["unique_id", "ds"]).sum()
    if dupes:
        problems.append(f"{int(dupes)} duplicate (unique_id, ds) rows")
    freq = _series_freq(frame.drop_duplicates(["unique_id", "ds"]))
    if freq is None:
        problems.append("no series has evenly spaced timestamps; set data.freq or fill the gaps")
    series = [SeriesReport(str(uid), len(group), group["ds"].iloc[0], group["ds"].iloc[-1],
                           _missing(group["ds"].drop_duplicates(), freq),
                           *_empty_inside_and_at_ends(group["y"], present[group.index]))
              for uid, group in frame.groupby("unique_id", sort=False)]
    if any(s.missing_timestamps for s in series):
        problems.append("some series have missing timestamps: set data.fill to interpolate "
                        "or ffill (the rows are added and filled), or add them")
    if any(s.non_finite_y for s in series):
        problems.append("some series have empty or non-finite y: clean them or set data.fill "
                        "to ffill or interpolate")
    return DataReport(freq, series, _candidates(frame), problems)
