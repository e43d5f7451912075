"""Intervals that adapt as actuals arrive: online quantile tracking, the form of adaptive
conformal inference (Gibbs and Candes, 2021) that Angelopoulos, Candes and Tibshirani (2023,
"Conformal PID control") write as a step on the quantile itself.

For each served quantile level q an offset theta (in units of the series' training standard
deviation, so one offset fits a panel) moves after every scored forecast:

    theta <- theta + rate * (q - 1{actual <= served quantile})

A quantile that too many actuals fall below is lowered, one that too few fall below is
raised; the long-run share below each quantile returns to q after a shift, without
retraining. The median (0.5) is the point forecast and stays where the model put it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..metrics import point_index

DEFAULT_RATE = 0.015  # per scored point, in training standard deviations (see the guide)


@dataclass
class AdaptiveOffsets:
    """One offset per quantile level for one model version, and how many updates made it."""

    levels: tuple[float, ...]
    offsets: dict[float, float] = field(default_factory=dict)
    updates: int = 0

    def offset(self, level: float) -> float:
        return 0.0 if level == 0.5 else self.offsets.get(level, 0.0)

    def by_label(self) -> dict[str, float]:
        """{"0.1": offset, ...}: as GET /model and GET /monitoring show them."""
        return {f"{q:g}": self.offset(q) for q in self.levels}

    def apply(self, values: np.ndarray, scale: float | np.ndarray) -> np.ndarray:
        """(H, Q) served quantiles, in the levels' order, moved by the offsets times `scale`.
        They stay non-crossing without moving the median: levels below 0.5 are held at or
        under it, those above at or over it, each side sorted."""
        shift = np.array([self.offset(q) for q in self.levels]) * np.asarray(scale)[..., None]
        moved = values + shift
        if 0.5 not in self.levels:
            return np.sort(moved, axis=-1)
        point = self.levels.index(0.5)
        median = values[..., point:point + 1]
        lower = np.sort(np.minimum(moved[..., :point], median), axis=-1)
        upper = np.sort(np.maximum(moved[..., point + 1:], median), axis=-1)
        return np.concatenate([lower, median, upper], axis=-1)


def error_scale(served: np.ndarray, actual: np.ndarray, levels: tuple[float, ...],
                weights: np.ndarray | None = None) -> float:
    """How large a batch's errors are, in the series' training standard deviations, and at
    least 1. The step is in proportion to it (conformal PID control sets its learning rate in
    proportion to the scores' scale): while errors are of the size training saw, the base
    rate keeps offsets steady under errors that persist across a forecast's steps; after a
    shift several spreads wide, they catch up in days rather than weeks."""
    errors = np.abs(actual - served[:, point_index(list(levels))])
    return max(1.0, float(np.average(errors, weights=weights)))


def track_quantiles(state: AdaptiveOffsets, served: np.ndarray, actual: np.ndarray,
                    rate: float = DEFAULT_RATE, series: int = 1,
                    weights: np.ndarray | None = None) -> AdaptiveOffsets:
    """Update the offsets with newly scored forecasts: `served` (N, Q) the quantiles as they
    were served (the offsets of their time included), `actual` (N,). Forecasts are scored
    after the fact, so every row of a batch was served with the offsets before it: the update
    is the sum of the rows' steps (the delayed-feedback form of the same rule).

    One offset serves a whole panel, so a batch of `series` series counts each point in time
    once: the rows' steps are averaged over the series. Summed instead, a batch of 100 series
    would move the offsets 100 times as far as one series does, and they swing from side to
    side on every batch (a correctly calibrated panel then covers far from its level).

    `weights` (N,) scale each row's step: `learn_offsets` gives a point in time forecast from
    k origins 1/k per forecast, so a series forecast every hour counts each actual once."""
    offsets = {q: state.offset(q) for q in state.levels}
    below = actual[:, None] <= served  # (N, Q)
    weights = np.ones(len(actual)) if weights is None else np.asarray(weights, dtype=float)
    step = rate * error_scale(served, actual, state.levels, weights) / max(series, 1)
    for j, q in enumerate(state.levels):
        if q == 0.5:
            continue
        # every row's miss counted once: the same as N sequential steps of the update when
        # each step is small against the quantile's spacing, and order-free
        offsets[q] += step * float(np.sum(weights * (q - below[:, j])))
    return AdaptiveOffsets(state.levels, offsets, state.updates + len(actual))


def learn_offsets(store, model_name: str, model_version: str, levels: tuple[float, ...],
                  rate: float = DEFAULT_RATE) -> AdaptiveOffsets:
    """The version's offsets after the scored forecasts no update has used yet (each is used
    once: a repeated actual never moves them twice), saved back to `store` (a ForecastLog).
    An actual that several overlapping forecasts scored (a day-ahead forecast made every
    hour is scored by up to 24) moves them once, shared among those forecasts: the step
    does not grow with how often clients ask."""
    state = store.offsets(model_name, model_version, levels)
    fresh = store.joined(model_name, model_version, only_unadapted=True)
    if fresh.empty:
        return state
    served = fresh[[f"{q:g}" for q in levels]].to_numpy(dtype=np.float64)
    scale = fresh["scale"].to_numpy()[:, None]  # offsets live in standard deviations
    forecasts_of_point = fresh.groupby(["unique_id", "ds"])["y"].transform("size")
    state = track_quantiles(state, served / scale, fresh["y"].to_numpy() / scale[:, 0], rate,
                            series=fresh["unique_id"].nunique(),
                            weights=1.0 / forecasts_of_point.to_numpy())
    store.save_offsets(model_name, model_version, state,
                       list(zip(fresh["id"].astype(int), fresh["step"].astype(int), strict=True)))
    return state


def replay_offsets(forecast: np.ndarray, actual: np.ndarray, series: np.ndarray,
                   starts: np.ndarray, scale: np.ndarray, levels: tuple[float, ...],
                   rate: float = DEFAULT_RATE) -> np.ndarray:
    """The quantiles of consecutive test windows as the service would have served them, with
    adaptive offsets that learn from every window whose actuals are in before the next.

    forecast (N, H, Q) and actual (N, H), original scale; `series` and `starts` (N,) say
    which series and origin each window is; `scale` (N,) is its series' training standard
    deviation (the offsets' unit, as in the service). Windows are served in rounds: round k
    is every series' k-th window in time, served with the offsets in force, then scored
    (the whole round at once, as when a batch of actuals is posted). Starting from zero
    offsets, this is what a freshly deployed version serves as its actuals arrive."""
    served = np.empty_like(forecast)
    order = np.lexsort((starts, series))  # by series, then time
    ordered = series[order]
    rank = np.empty(len(order), dtype=np.int64)  # each window's place in its series' time
    rank[order] = np.arange(len(order)) - np.searchsorted(ordered, ordered)
    state = AdaptiveOffsets(tuple(levels))
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        rows = np.flatnonzero(rank == k)
        unit = np.repeat(scale[rows], forecast.shape[1])  # (n * H,)
        flat = forecast[rows].reshape(-1, forecast.shape[-1])
        moved = state.apply(flat, unit)
        served[rows] = moved.reshape(forecast[rows].shape)
        state = track_quantiles(state, moved / unit[:, None],
                                actual[rows].reshape(-1) / unit, rate,
                                series=len(rows))  # one window per series a round
    return served
