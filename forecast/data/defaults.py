"""Settings that follow from the data: the frequency decides lookback, horizon, season, the
calendar features and the Transformer's patch length; the series' length decides how many
horizons validation and test hold. Anything set by hand is kept.

This is the one place the per-frequency table lives; the README prints it (`table_markdown`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from pandas.tseries.frequencies import to_offset

from ..errors import SeriesTooShortError

# the task keys that may be left unset (None) in `data`: they are resolved here
TASK_KEYS = ("lookback", "horizon", "season", "calendar", "val_size", "test_size",
             "window_step")
SPLIT_SHARE = 0.1  # validation and test each hold about this share of a typical series...
MAX_SPLIT_HORIZONS = 8  # ...but no more than this many horizons
MAX_LOOKBACK, MAX_HORIZON = 1008, 288  # caps for sub-hourly data (a week of 10-minute steps)
EPOCH_WINDOWS = 8192  # window_step: the smallest stride that keeps an epoch under this


@dataclass(frozen=True)
class FrequencyDefaults:
    """One row of the table: the settings a frequency gets when none are given."""

    kind: str
    lookback: int
    horizon: int
    season: int
    patch_len: int
    calendar: tuple[str, ...]
    why: str = ""


# calendar frequencies, in steps; sub-daily ones are computed from the step (see `for_freq`)
CALENDAR_TABLE = {
    "daily": FrequencyDefaults("daily", 56, 14, 7, 7, ("dayofweek", "dayofyear"),
                               "8 weeks in, 2 weeks out, weekly season"),
    "business-daily": FrequencyDefaults("business-daily", 60, 10, 5, 5, ("dayofweek",
                                        "dayofyear"), "12 weeks in, 2 weeks out, 5-day season"),
    "weekly": FrequencyDefaults("weekly", 104, 13, 52, 13, ("dayofyear",),
                                "2 years in, a quarter out, yearly season"),
    "monthly": FrequencyDefaults("monthly", 36, 12, 12, 6, ("month",),
                                 "3 years in, 1 year out, yearly season"),
    "quarterly": FrequencyDefaults("quarterly", 16, 8, 4, 4, ("month",),
                                   "4 years in, 2 years out, yearly season"),
    "yearly": FrequencyDefaults("yearly", 12, 4, 1, 3, (), "12 years in, 4 out, no season"),
}
HOUR, DAY, WEEK = pd.Timedelta(hours=1), pd.Timedelta(days=1), pd.Timedelta(days=7)


def step_span(freq: str) -> pd.Timedelta:
    """The typical time between two timestamps (a month is about 30 days): the mean of three
    steps taken from an anchor point, so anchored offsets (W-SUN, MS) count whole steps."""
    offset = to_offset(freq)
    first = pd.Timestamp("2001-01-01") + offset  # from a Monday: business days are one day
    return ((first + 3 * offset) - first) / 3


def _sub_daily(freq: str, step: pd.Timedelta) -> FrequencyDefaults:
    """A week in (at most 1008 steps), a day out (at most 288), weekly season where it fits."""
    steps = lambda span: max(1, int(span / step))  # noqa: E731 - a local unit conversion
    lookback, horizon = min(steps(WEEK), MAX_LOOKBACK), min(steps(DAY), MAX_HORIZON)
    season = next((s for s in (steps(WEEK), steps(DAY), steps(HOUR)) if s <= lookback), 1)
    kind = "sub-hourly" if step < HOUR else "hourly"
    calendar = ("hour", "dayofweek") if step < DAY else ("dayofweek",)
    patch = max(1, min(steps(DAY / 2), lookback // 4))
    return FrequencyDefaults(kind, lookback, horizon, season, patch, calendar,
                             "a week in, a day out, weekly season")


def for_freq(freq: str) -> FrequencyDefaults:
    """The table's row for a pandas frequency ('h', '30min', 'D', 'W-SUN', 'MS', 'QS', 'YS')."""
    step = step_span(freq)
    if step < DAY:
        return _sub_daily(freq, step)
    name = to_offset(freq).rule_code.upper()
    if name.startswith(("B", "C")) and step <= DAY:
        return CALENDAR_TABLE["business-daily"]
    for kind, below in (("daily", WEEK), ("weekly", pd.Timedelta(days=28)),
                        ("monthly", pd.Timedelta(days=89)), ("quarterly", pd.Timedelta(days=365))):
        if step < below:
            return CALENDAR_TABLE[kind]
    return CALENDAR_TABLE["yearly"]


def table_rows() -> list[tuple[str, FrequencyDefaults]]:
    """The documented table: one example frequency per kind."""
    examples = [("5min", "sub-hourly (5 min)"), ("30min", "sub-hourly (30 min)"),
                ("h", "hourly"), ("D", "daily"), ("B", "business-daily"), ("W-SUN", "weekly"),
                ("MS", "monthly"), ("QS", "quarterly"), ("YS", "yearly")]
    return [(label, for_freq(freq)) for freq, label in examples]


def table_markdown() -> str:
    lines = ["| data | lookback | horizon | season | calendar features | patch (Transformer) |",
             "|---|---|---|---|---|---|"]
    for label, row in table_rows():
        lines.append(f"| {label} | {row.lookback} | {row.horizon} | {row.season} | "
                     f"{', '.join(row.calendar) or '-'} | {row.patch_len} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class DataProfile:
    """What resolution needs to know of the data: its frequency and each series' length."""

    freq: str
    lengths: dict[str, int]

    @classmethod
    def of(cls, frame: pd.DataFrame, freq: str) -> DataProfile:
        counts = frame.groupby("unique_id", sort=False).size()
        return cls(freq, {str(k): int(v) for k, v in counts.items()})

    @property
    def typical_length(self) -> int:
        """The median series length: one short series does not shrink everybody's split."""
        return int(pd.Series(list(self.lengths.values())).median())


@dataclass(frozen=True)
class TaskSettings:
    """The resolved task, and which of its values came from the data (for the summary)."""

    lookback: int
    horizon: int
    season: int
    calendar: tuple[str, ...]
    val_size: int
    test_size: int
    window_step: int
    patch_len: int
    kind: str
    derived: frozenset[str] = field(default_factory=frozenset)

    def needed(self) -> int:
        return self.lookback + self.horizon + self.val_size + self.test_size

    def summary(self) -> str:
        def split(n: int) -> str:
            k = n // self.horizon
            return (f"{k} horizon{'s' if k > 1 else ''} ({n} steps)" if n % self.horizon == 0
                    else f"{n} steps")
        return (f"{self.kind} data: lookback {self.lookback}, horizon {self.horizon}, season "
                f"{self.season}; validation = {split(self.val_size)}, test = last "
                f"{split(self.test_size)}; calendar {list(self.calendar) or 'none'}")


def _split_horizons(length: int, lookback: int, horizon: int) -> int:
    """Horizons in validation and in test: about SPLIT_SHARE of the series each, at least one,
    fewer when the training part would not hold one lookback + horizon window."""
    n = max(1, min(MAX_SPLIT_HORIZONS, math.floor(SPLIT_SHARE * length / horizon)))
    while n > 1 and length - 2 * n * horizon < lookback + horizon:
        n -= 1
    return n


def resolve_task(given: dict, profile: DataProfile, given_patch: int | None = None
                 ) -> TaskSettings:
    """Fill the unset (None) task keys of `given` for data like `profile`; a series of the
    typical length must fit lookback + horizon + validation + test, or SeriesTooShortError
    names the settings that would fit."""
    row = for_freq(profile.freq)
    length = profile.typical_length
    value = lambda key, default: default if given.get(key) is None else given[key]  # noqa: E731
    horizon = value("horizon", row.horizon)
    lookback = value("lookback", row.lookback)
    season = value("season", row.season)
    if given.get("lookback") is None:  # a short series gets a shorter lookback, not an error
        splits = 2 * horizon if given.get("val_size") is None else 0
        fixed = (given.get("val_size") or 0) + (given.get("test_size") or 0) + splits
        room = length - fixed - horizon
        if room < lookback:
            floor = max(horizon, season) if season <= room else horizon
            lookback = max(floor, room)
    if given.get("season") is None and season > lookback:
        season = 1  # no full season fits the lookback: seasonal naive becomes naive
    n = _split_horizons(length, lookback, horizon)
    val_size, test_size = value("val_size", n * horizon), value("test_size", n * horizon)
    train_windows = sum(max(0, n_points - val_size - test_size - lookback - horizon + 1)
                        for n_points in profile.lengths.values())
    window_step = value("window_step", max(1, math.ceil(train_windows / EPOCH_WINDOWS)))
    calendar = tuple(row.calendar if given.get("calendar") is None else given["calendar"])
    patch = given_patch if given_patch is not None else min(row.patch_len, max(1, lookback // 4))
    derived = frozenset(k for k in TASK_KEYS if given.get(k) is None)
    task = TaskSettings(lookback, horizon, season, calendar, val_size, test_size, window_step,
                        patch, row.kind, derived)
    if length < task.needed():
        raise too_short(max(profile.lengths, key=profile.lengths.get),
                        max(profile.lengths.values()), task, profile.freq)
    return task


def fitting_settings(length: int, freq: str, horizon: int | None = None) -> dict[str, int]:
    """Task settings a series of `length` points can train with (shown in errors): the
    horizon asked for where it fits, else the largest that does."""
    row = for_freq(freq)
    horizon = min(horizon or row.horizon, max(1, length // 4))
    n = _split_horizons(length, horizon, horizon)
    lookback = max(horizon, min(row.lookback, length - 2 * n * horizon - horizon))
    return {"lookback": lookback, "horizon": horizon, "val_size": n * horizon,
            "test_size": n * horizon}


def too_short(unique_id: str, length: int, task: TaskSettings, freq: str
              ) -> SeriesTooShortError:
    """The error for a series (the longest there is, when none fits) too short for the task,
    naming the keys and values that would fit it."""
    fit = fitting_settings(length, freq, task.horizon)
    sets = " ".join(f"--set data.{k}={v}" for k, v in fit.items())
    what = (f"lookback {task.lookback} + horizon {task.horizon} + validation {task.val_size} "
            f"+ test {task.test_size}")
    if length < 4:
        advice = "expected at least 4 points per series"
    else:
        advice = f"settings that fit {length} points: {sets}"
    return SeriesTooShortError(unique_id, length, task.needed(), f"{what}; {advice}")
