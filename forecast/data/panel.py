"""A panel of many series as scaled float32 arrays, the one source every window indexes into."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from .calendar import calendar_feature_names, calendar_features
from .scaling import SeriesScaler, SeriesStats


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns feed the model and in what order; stored in config.json."""

    freq: str
    past_covariates: tuple[str, ...] = ()
    future_covariates: tuple[str, ...] = ()
    static_covariates: tuple[str, ...] = ()
    calendar: tuple[str, ...] = ()

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
    unique_id: str
    ds: pd.DatetimeIndex
    y: np.ndarray  # (T,) original scale
    values: np.ndarray  # (T, n_step_features) scaled
    static: np.ndarray  # (S,)


@dataclass
class Panel:
    spec: FeatureSpec
    series: list[SeriesArrays]
    scaler: SeriesScaler = field(default_factory=SeriesScaler)

    def index_of(self, unique_id: str) -> int:
        for i, s in enumerate(self.series):
            if s.unique_id == unique_id:
                return i
        raise KeyError(unique_id)


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
    series = []
    for uid, group in frame.groupby("unique_id", sort=False):
        uid = str(uid)
        ds = pd.DatetimeIndex(group["ds"])
        y = group["y"].to_numpy(np.float64)
        x = group[list(spec.covariates)].to_numpy(np.float64).reshape(len(group), -1)
        if uid not in scaler.stats or fit_until is not None:
            end = fit_until.get(uid, len(y)) if fit_until else len(y)
            scaler.stats[uid] = SeriesStats.fit(y[:end], x[:end], season)
        past_x = scaler.scale_x(uid, x)
        values = np.concatenate(
            [
                scaler.scale_y(uid, y)[:, None],
                past_x,
                calendar_features(ds, list(spec.calendar)),
            ],
            axis=1,
        ).astype(np.float32)
        series.append(
            SeriesArrays(uid, ds, y.astype(np.float32), values, _static_values(group, spec, uid))
        )
    return Panel(spec=spec, series=series, scaler=scaler)
