"""A panel of many series as scaled float32 arrays, the one source every window indexes into."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import Tick

from ..errors import DataValidationError
from .calendar import calendar_feature_names
from .scaling import SeriesScaler, SeriesStats


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns feed the model and in what order; stored in config.json."""

    freq: str
    past_covariates: tuple[str, ...] = ()
    future_covariates: tuple[str, ...] = ()
    static_covariates: tuple[str, ...] = ()
    calendar: tuple[str, ...] = ()
    fill: str = "error"  # data.fill: how missing timestamps of a history are filled, if at all

    @property
    def covariates(self) -> tuple[str, ...]:
        return (*self.past_covariates, *self.future_covariates)

    @property
    def n_past_only(self) -> int:
        return len(self.past_covariates)

    @property
    def n_future(self) -> int:
        """Features known ahead: future covariates plus calendar sin/cos pairs."""
        return len(self.future_covariates) + 2 * len(self.calendar)

    @property
    def n_step_features(self) -> int:
        """Columns of `values`: y, past covariates, then the known-ahead block."""
        return 1 + self.n_past_only + self.n_future

    @property
    def feature_names(self) -> list[str]:
        return [
            "y",
            *self.past_covariates,
            *self.future_covariates,
            *calendar_feature_names(list(self.calendar)),
        ]

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, payload: dict) -> FeatureSpec:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()})


@dataclass
class SeriesArrays:
    """One series of a panel: views into the panel's arrays, nothing copied."""

    unique_id: str
    values: np.ndarray  # (T, 1 + covariates) scaled: y, past, future covariates (a view)
    static: np.ndarray  # (S,)
    stats: SeriesStats
    start_ns: int  # first timestamp
    step_ns: int  # fixed step between timestamps; 0 when `stamps` holds them all
    stamps: np.ndarray | None = None  # (T,) int64 ns, for calendar frequencies (MS, ...)

    @property
    def ds(self) -> pd.DatetimeIndex:
        """The timestamps, rebuilt when asked: a fixed step never stores them."""
        return pd.DatetimeIndex(self.ns(np.arange(len(self.values))))

    def ns(self, rows: np.ndarray) -> np.ndarray:
        if self.stamps is not None:
            return self.stamps[rows]
        return self.start_ns + np.asarray(rows, dtype=np.int64) * self.step_ns

    @property
    def y(self) -> np.ndarray:
        """The target on its original scale (from the scaled values)."""
        return self.values[:, 0] * np.float32(self.stats.y_std) + np.float32(self.stats.y_mean)


@dataclass
class Panel:
    """Many series in one float32 array (`values`, rows of all series one after another) plus
    per-series offsets: memory is the data itself. Calendar features are not stored; windows
    compute them from the timestamps."""

    spec: FeatureSpec
    series: list[SeriesArrays]
    scaler: SeriesScaler = field(default_factory=SeriesScaler)
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def index_of(self, unique_id: str) -> int:
        for i, s in enumerate(self.series):
            if s.unique_id == unique_id:
                return i
        raise KeyError(unique_id)

    def rescaled(self, scaler: SeriesScaler, season: int) -> Panel:
        """The same series scaled with other statistics (another model's); a series that
        `scaler` does not know is fit on all its points, as `build_panel` does."""
        scaler = SeriesScaler(dict(scaler.stats))
        series, blocks = [], []
        for s in self.series:
            old, uid = s.stats, s.unique_id
            y = s.values[:, 0].astype(np.float64) * old.y_std + old.y_mean
            x = s.values[:, 1:].astype(np.float64)
            if old.x_mean:
                x = x * np.asarray(old.x_std) + np.asarray(old.x_mean)
            if uid not in scaler.stats:
                scaler.stats[uid] = SeriesStats.fit(y, x, season)
            blocks.append(np.concatenate([scaler.scale_y(uid, y)[:, None],
                                          scaler.scale_x(uid, x)], axis=1))
            series.append(replace(s, values=blocks[-1], stats=scaler.stats[uid]))
        return _assemble(self.spec, series, blocks, scaler)


class PanelAccumulator:
    """Builds one panel from parts (prepared a piece of the data at a time) by copying each
    part into an array sized for the whole file once: no second full-size copy at the end."""

    def __init__(self, spec: FeatureSpec, capacity: int):
        self.spec = spec
        self.values = np.empty((capacity, 1 + len(spec.covariates)), dtype=np.float32)
        self.used = 0
        self.series: list[SeriesArrays] = []
        self.scaler = SeriesScaler()

    def add(self, part: Panel) -> None:
        n = len(part.values)
        if self.used + n > len(self.values):  # rows added for missing timestamps (data.fill)
            self._grow(max(self.used + n, len(self.values) + len(self.values) // 4))
        self.values[self.used:self.used + n] = part.values
        for s, offset in zip(part.series, part.offsets, strict=True):
            start = self.used + int(offset)
            s.values = self.values[start:start + len(s.values)]  # the part's array is freed
        self.series += part.series
        self.scaler.stats.update(part.scaler.stats)
        self.used += n

    def _grow(self, capacity: int) -> None:
        values = np.empty((capacity, self.values.shape[1]), dtype=np.float32)
        values[:self.used] = self.values[:self.used]
        for s, start in zip(self.series, _offsets(self.series), strict=True):
            s.values = values[int(start):int(start) + len(s.values)]
        self.values = values

    def panel(self) -> Panel:
        return Panel(self.spec, self.series, self.scaler, self.values[:self.used],
                     _offsets(self.series))


def step_nanos(freq: str) -> int:
    """Nanoseconds between timestamps for a fixed-step frequency; 0 for calendar ones."""
    offset = to_offset(freq)
    return int(offset.nanos) if isinstance(offset, Tick) else 0


def _offsets(series: list[SeriesArrays]) -> np.ndarray:
    """Where each series starts in the panel's array: series lie one after another."""
    lengths = np.array([len(s.values) for s in series], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _assemble(spec: FeatureSpec, series: list[SeriesArrays], blocks: list[np.ndarray],
              scaler: SeriesScaler) -> Panel:
    offsets = _offsets(series)
    width = 1 + len(spec.covariates)
    values = (np.concatenate(blocks) if blocks else np.zeros((0, width))).astype(np.float32,
                                                                               copy=False)
    for s, start in zip(series, offsets, strict=True):
        s.values = values[start:start + len(s.values)]  # a view: the per-series copy is freed
    return Panel(spec, series, scaler, values, offsets)


def _static_values(group: pd.DataFrame, spec: FeatureSpec, uid: str) -> np.ndarray:
    values = []
    for column in spec.static_covariates:
        distinct = group[column].unique()
        if len(distinct) != 1:
            raise DataValidationError(
                f"static covariate '{column}' of series '{uid}' has {len(distinct)} different "
                "values; expected one value per series"
            )
        values.append(float(distinct[0]))
    return np.asarray(values, dtype=np.float32)


def build_panel(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    scaler: SeriesScaler | None = None,
    fit_until: dict[str, int] | None = None,
    season: int = 1,
) -> Panel:
    """Turn a validated long frame into scaled arrays.

    With `fit_until`, statistics of each series are fit on its first `fit_until[uid]` points
    (the training part); series the scaler does not know are fit on all their points.
    """
    scaler = SeriesScaler(dict(scaler.stats)) if scaler else SeriesScaler()
    step = step_nanos(spec.freq)
    series, blocks = [], []
    for uid, group in frame.groupby("unique_id", sort=False):
        uid = str(uid)
        ns = pd.DatetimeIndex(group["ds"]).values.astype("datetime64[ns]").view(np.int64)
        y = group["y"].to_numpy(np.float64)
        x = group[list(spec.covariates)].to_numpy(np.float64).reshape(len(group), -1)
        if uid not in scaler.stats or fit_until is not None:
            end = fit_until.get(uid, len(y)) if fit_until else len(y)
            scaler.stats[uid] = SeriesStats.fit(y[:end], x[:end], season)
        block = np.concatenate([scaler.scale_y(uid, y)[:, None], scaler.scale_x(uid, x)],
                               axis=1).astype(np.float32)
        blocks.append(block)
        series.append(SeriesArrays(uid, block, _static_values(group, spec, uid),
                                   scaler.stats[uid], int(ns[0]) if len(ns) else 0, step,
                                   None if step else ns.copy()))
    return _assemble(spec, series, blocks, scaler)
