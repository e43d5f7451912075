"""From raw series (as a client sends them) to one batched forward pass and back."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .data.calendar import calendar_features
from .data.panel import FeatureSpec
from .data.scaling import SeriesScaler, SeriesStats
from .data.timegrid import first_off_grid, fixed_step_ns, in_nanoseconds, regular_index
from .data.validation import fill_values, grid_between
from .errors import (
    DataValidationError,
    FrequencyError,
    MissingColumnError,
    MissingFutureCovariateError,
    NonFiniteValueError,
    SeriesTooShortError,
    ValueRangeError,
)
from .windows import Batch


@dataclass
class SeriesInput:
    """One series' recent history; future covariates carry `horizon` extra values."""

    unique_id: str
    ds: pd.DatetimeIndex
    y: np.ndarray
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    static: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckedSeries:
    """A series that passed `check_series` and `check_values` for one model, with the scaling
    statistics it will be forecast with; only `Predictor.check` makes these, so code holding
    one never validates it twice."""

    item: SeriesInput
    stats: SeriesStats
    future_ds: pd.DatetimeIndex  # the horizon's timestamps
    covariates: np.ndarray  # (n + H, Fp + Ff), as covariate_matrix builds it


@dataclass
class SeriesForecast:
    unique_id: str
    ds: pd.DatetimeIndex
    values: np.ndarray  # (H, Q) original scale
    history_ds: pd.DatetimeIndex  # the lookback timestamps the forecast used


def future_index(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    return regular_index(last, freq, horizon + 1)[1:]


# Beyond this, float32 sums inside the network overflow (attention logits first) and a
# "forecast" of inf or NaN would be answered; such inputs are refused instead.
MAX_ABS_VALUE = 1e15
MAX_STANDARD_SCORE = 1e6  # standard deviations from the series' training mean


def check_range(column: str, uid: str, values: np.ndarray, mean: float | None = None,
                std: float = 1.0) -> None:
    """ValueRangeError when a (finite) value is too large in itself, or (given the series'
    statistics) too many standard deviations from its mean."""
    if not len(values):
        return
    if mean is None:
        worst = int(np.argmax(np.abs(values)))
        if abs(values[worst]) > MAX_ABS_VALUE:
            raise ValueRangeError(column, uid, float(values[worst]), MAX_ABS_VALUE,
                                  "in absolute value")
        return
    scores = np.abs(values - mean) / std
    worst = int(np.argmax(scores))
    if scores[worst] > MAX_STANDARD_SCORE:
        raise ValueRangeError(column, uid, float(values[worst]), MAX_STANDARD_SCORE,
                              "in standard deviations from the training mean,")


def series_stats(item: SeriesInput, x_all: np.ndarray, scaler: SeriesScaler,
                 season: int) -> SeriesStats:
    """The training statistics of a known series; a series never seen in training is scaled
    by its own history (`x_all`: its covariate matrix)."""
    stats = scaler.stats.get(item.unique_id)
    if stats is not None:
        return stats
    return SeriesStats.fit(item.y.astype(np.float64), x_all[:len(item.y)], season)


def check_values(item: SeriesInput, spec: FeatureSpec, scaler: SeriesScaler, lookback: int,
                 horizon: int, season: int) -> tuple[SeriesStats, np.ndarray]:
    """Values the network can take: bounded, and within reach of the series' scale. Returns
    the statistics the series is scaled with and its covariate matrix, built once here."""
    uid, n = item.unique_id, len(item.y)
    check_range("y", uid, item.y)
    for name in spec.covariates:
        check_range(name, uid, np.asarray(item.covariates[name], dtype=np.float64))
    x_all = covariate_matrix(item, spec, horizon)  # (n + H, Fp + Ff)
    stats = series_stats(item, x_all, scaler, season)
    check_range("y", uid, item.y[-lookback:], stats.y_mean, stats.y_std)
    x = x_all[n - lookback:]
    for j, name in enumerate(spec.covariates):
        if stats.x_mean:
            check_range(name, uid, x[:, j], stats.x_mean[j], stats.x_std[j])
    return stats, x_all


MAX_FILLED_SHARE = 10  # a history is filled to at most this many times its own length


def fill_missing_steps(item: SeriesInput, freq: str, policy: str) -> SeriesInput:
    """A history with some timestamps missing from its grid (a holiday among business days),
    put on the whole grid and filled as training filled its data (`data.fill`). Anything
    else (no gap, a timestamp off the grid, a grid far longer than the history) is returned
    as it is, for `check_series` to accept or name."""
    ds, n = item.ds, len(item.y)
    if policy == "error" or len(ds) != n or n < 2 or first_off_grid(ds, freq) is None \
            or any(len(v) < n for v in item.covariates.values()):
        return item
    step = fixed_step_ns(freq)  # a fixed step counts the grid before it is built
    if step is not None and (ds[-1].value - ds[0].value) // step >= MAX_FILLED_SHARE * n:
        return item
    grid = grid_between(ds[0], ds[-1], freq)
    at = grid.get_indexer(ds)
    if len(grid) > MAX_FILLED_SHARE * n or (at < 0).any():
        return item

    def spread(values: np.ndarray) -> np.ndarray:
        full = np.full(len(grid), np.nan)
        full[at] = values[:n]
        return np.concatenate([fill_values(pd.Series(full), policy).to_numpy(), values[n:]])

    return SeriesInput(item.unique_id, grid, spread(np.asarray(item.y, dtype=np.float64)),
                       {k: spread(np.asarray(v, dtype=np.float64)) for k, v in
                        item.covariates.items()}, item.static)


def check_series(item: SeriesInput, spec: FeatureSpec, lookback: int, horizon: int) -> None:
    """Raise the contract's exception for anything that would make the forecast meaningless."""
    uid, n = item.unique_id, len(item.y)
    in_nanoseconds(item.ds)
    if len(item.ds) != n:
        raise DataValidationError(f"series '{uid}': ds has {len(item.ds)} values but y has {n}")
    if n < lookback:
        raise SeriesTooShortError(uid, n, lookback, "the model's lookback")
    if not np.all(np.isfinite(item.y)):
        bad = np.flatnonzero(~np.isfinite(item.y))
        raise NonFiniteValueError("y", uid, len(bad), item.ds[bad[0]])
    recent = item.ds[-lookback:]
    off = first_off_grid(recent, spec.freq)
    if off is not None:
        at, expected = off
        raise FrequencyError(uid, f"timestamps do not follow the model's frequency "
                                  f"'{spec.freq}': expected {expected}, found {recent[at]}")
    for name, values in item.covariates.items():
        if len(values) > n + horizon:
            raise DataValidationError(f"covariate '{name}' of series '{uid}' has {len(values)} "
                                      f"values; expected at most {n + horizon} (one per y, plus "
                                      f"{horizon} ahead)", f"covariates.{name}")
    for name in spec.past_covariates:
        values = item.covariates.get(name)
        if values is None:
            raise MissingColumnError(name, sorted(item.covariates))
        if len(values) < n:
            raise DataValidationError(f"past covariate '{name}' of series '{uid}' has "
                                      f"{len(values)} values; expected {n} (one per y)",
                                      f"covariates.{name}")
    for name in spec.future_covariates:
        values = item.covariates.get(name)
        if values is None:
            raise MissingColumnError(name, sorted(item.covariates))
        if len(values) < n + horizon:
            raise MissingFutureCovariateError(name, uid, len(values) - n, horizon)
    for name in spec.covariates:
        values = np.asarray(item.covariates[name], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise NonFiniteValueError(name, uid, int((~np.isfinite(values)).sum()), "input")
    for name in spec.static_covariates:
        if name not in item.static:
            raise MissingColumnError(name, sorted(item.static), "static")


def covariate_matrix(item: SeriesInput, spec: FeatureSpec, horizon: int) -> np.ndarray:
    """Covariates over history + horizon; past-only ones are unknown ahead, so zero there."""
    n = len(item.y)
    columns = []
    for name in spec.covariates:
        values = np.asarray(item.covariates[name], dtype=np.float64)
        if name in spec.future_covariates:
            columns.append(values[: n + horizon])
        else:
            columns.append(np.concatenate([values[:n], np.zeros(horizon)]))
    return np.stack(columns, axis=1) if columns else np.zeros((n + horizon, 0))


def build_batch(checked: list[CheckedSeries], spec: FeatureSpec, lookback: int, horizon: int,
                keys: list[int] | None = None) -> tuple[Batch, list[pd.DatetimeIndex]]:
    """Scale the last `lookback` steps of each (checked) series and stack them into one Batch."""
    past, future, static, loc, scale, futures = [], [], [], [], [], []
    for c in checked:
        item, stats, f_ds, x_all = c.item, c.stats, c.future_ds, c.covariates
        n = len(item.y)
        local = SeriesScaler({item.unique_id: stats})
        all_ds = item.ds[-lookback:].append(f_ds)
        x = local.scale_x(item.unique_id, x_all[n - lookback:])  # (L+H, Fp+Ff)
        calendar = calendar_features(all_ds, list(spec.calendar))  # (L+H, 2C)
        y = local.scale_y(item.unique_id, item.y[-lookback:].astype(np.float64))
        steps = np.concatenate([np.concatenate([y, np.zeros(horizon, np.float32)])[:, None],
                                x, calendar], axis=1).astype(np.float32)
        past.append(steps[:lookback])
        future.append(steps[lookback:, 1 + spec.n_past_only:])
        static.append([float(item.static[c]) for c in spec.static_covariates])
        loc.append(stats.y_mean)
        scale.append(stats.y_std)
        futures.append(f_ds)
    count = len(checked)
    batch = Batch(
        past=torch.from_numpy(np.stack(past)),
        future=torch.from_numpy(np.stack(future)),
        static=torch.tensor(static, dtype=torch.float32).reshape(count, len(spec.static_covariates)),
        target=torch.zeros(count, horizon),
        loc=torch.tensor(loc, dtype=torch.float32),
        scale=torch.tensor(scale, dtype=torch.float32),
        series=torch.arange(count),
        start=torch.full((count,), lookback),
        key=torch.tensor(keys if keys is not None else [0] * count, dtype=torch.int64),
    )
    return batch, futures


def to_original_scale(pred: torch.Tensor, batch: Batch) -> np.ndarray:
    """(B, H, Q) scaled -> original scale numpy."""
    return (pred * batch["scale"][:, None, None] + batch["loc"][:, None, None]).numpy()
