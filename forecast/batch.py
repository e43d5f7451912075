"""Score a long frame of many series in-process: the model is loaded once, series are checked
one by one with the service's own checks, and the valid ones are forecast in batches.

A series that fails a check is reported with its id, the field and the reason, and the
others are still forecast: nothing is dropped silently. Columns missing from the frame are
one error before any work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data.validation import parse_timestamps
from .errors import DataValidationError
from .frames import quantile_label
from .inference import CheckedSeries, SeriesInput
from .predictor import ServedModel

ID, DS, Y = "unique_id", "ds", "y"


@dataclass(frozen=True)
class SeriesError:
    unique_id: str
    field: str
    reason: str
    error: Exception | None = field(default=None, compare=False, repr=False)


@dataclass
class BatchResult:
    forecasts: pd.DataFrame  # unique_id, ds, mean, one column per quantile
    errors: list[SeriesError]
    n_series: int

    def raise_for_errors(self) -> None:
        """For callers that want all or nothing: the first refused series' own error."""
        if self.errors:
            first = self.errors[0]
            raise first.error or DataValidationError(first.reason, first.field)

    @property
    def errors_frame(self) -> pd.DataFrame:
        return pd.DataFrame([(e.unique_id, e.field, e.reason) for e in self.errors],
                            columns=["unique_id", "field", "reason"])


def needed_columns(predictor: ServedModel) -> list[str]:
    spec = predictor.spec
    return [ID, DS, Y, *spec.covariates, *spec.static_covariates]


def check_columns(columns: list[str], predictor: ServedModel, source: str,
                  future: bool = False) -> None:
    """All missing columns in one error, before any series is read."""
    spec = predictor.spec
    needed = [ID, DS, *spec.future_covariates] if future else needed_columns(predictor)
    missing = [c for c in needed if c not in columns and c != ID]
    if missing:
        raise DataValidationError(
            f"{source} lacks column(s) {missing}; this model needs {needed} (long format, "
            f"one row per series and timestamp); found {list(columns)}", missing[0])


class _Columns:
    """A frame sorted by series then time, as numpy arrays, cut into one slice per series."""

    def __init__(self, frame: pd.DataFrame, columns: list[str]):
        frame = frame if ID in frame.columns else frame.assign(**{ID: "series_0"})
        ids = frame[ID].astype(str).to_numpy()
        ds = parse_timestamps(frame[DS]).to_numpy()  # as training read them
        order = np.lexsort((ds, ids))
        self.ids, self.ds = ids[order], ds[order]
        self.values = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)[order]
                       for c in columns if c not in (ID, DS)}
        cuts = np.flatnonzero(self.ids[1:] != self.ids[:-1]) + 1
        starts, ends = np.r_[0, cuts], np.r_[cuts, len(ids)]
        self.bounds = {} if not len(ids) else {
            str(self.ids[s]): (int(s), int(e)) for s, e in zip(starts, ends, strict=True)}

    def rows(self, uid: str) -> slice:
        return slice(*self.bounds.get(uid, (0, 0)))


def series_inputs(predictor: ServedModel, frame: pd.DataFrame, future: pd.DataFrame | None
                  ) -> Iterator[SeriesInput]:
    """One SeriesInput per series. Rows whose y is empty after a series' last observed y
    carry its future covariates (or `future` does, in a frame of its own)."""
    spec, horizon = predictor.spec, predictor.horizon
    data = _Columns(frame, needed_columns(predictor))
    ahead = _Columns(future, [ID, DS, *spec.future_covariates]) if future is not None else None
    for uid in data.bounds:
        rows = data.rows(uid)
        y = data.values[Y][rows]
        known = np.flatnonzero(~np.isnan(y))
        n = int(known[-1]) + 1 if len(known) else 0  # trailing empty y: the forecast steps
        covariates = {c: data.values[c][rows][:n] for c in spec.past_covariates}
        after = (ahead.ds[ahead.rows(uid)] > data.ds[rows][n - 1]) if ahead is not None and n \
            else None
        for c in spec.future_covariates:
            later = (ahead.values[c][ahead.rows(uid)][after] if after is not None
                     else data.values[c][rows][n:])
            covariates[c] = np.concatenate([data.values[c][rows][:n], later[:horizon]])
        static = {c: float(data.values[c][rows][0]) for c in spec.static_covariates}
        yield SeriesInput(uid, pd.DatetimeIndex(data.ds[rows][:n]), y[:n], covariates, static)


def score_frame(predictor: ServedModel, frame: pd.DataFrame, future: pd.DataFrame | None = None,
                horizon: int | None = None, batch_size: int = 512,
                progress: Callable[[int], None] | None = None) -> BatchResult:
    """Forecast every valid series of `frame`; `progress(n)` is told of each n series done."""
    check_columns(list(frame.columns), predictor, "the data")
    if future is not None:
        check_columns(list(future.columns), predictor, "the future covariates", future=True)
    steps = predictor.check_horizon(horizon)
    errors: list[SeriesError] = []
    pending: list[CheckedSeries] = []
    parts: list[tuple[list[str], np.ndarray, np.ndarray]] = []
    n_series = 0

    def flush() -> None:
        if pending:
            forecasts = predictor.forecast(pending, steps)
            parts.append(([f.unique_id for f in forecasts],
                          np.concatenate([f.ds.to_numpy() for f in forecasts]),
                          np.stack([f.values for f in forecasts])))
            if progress:
                progress(len(pending))
            pending.clear()

    for item in series_inputs(predictor, frame, future):
        n_series += 1
        try:
            pending.append(predictor.check(item))
        except (DataValidationError, ValueError, TypeError) as err:
            errors.append(SeriesError(item.unique_id, getattr(err, "field", None) or "",
                                      str(err), err))
            if progress:
                progress(1)
        if len(pending) >= batch_size:
            flush()
    flush()
    return BatchResult(forecast_frame(parts, predictor, steps), errors, n_series)


def forecast_frame(parts: list[tuple[list[str], np.ndarray, np.ndarray]],
                   predictor: ServedModel, steps: int) -> pd.DataFrame:
    """Long output built from whole arrays at once: unique_id, ds, mean, quantiles."""
    quantiles = list(predictor.quantiles)
    labels = [quantile_label(q) for q in quantiles]
    if not parts:
        return pd.DataFrame(columns=[ID, DS, "mean", *labels])
    ids = np.repeat(np.concatenate([np.asarray(p[0], dtype=object) for p in parts]), steps)
    values = np.concatenate([p[2] for p in parts]).reshape(-1, max(len(quantiles), 1))
    columns = {ID: ids, DS: np.concatenate([p[1] for p in parts]),
               "mean": values[:, predictor.point]}
    columns.update({label: values[:, i] for i, label in enumerate(labels)})
    return pd.DataFrame(columns)
