"""Intervals that adapt as actuals arrive: online quantile tracking, the form of adaptive
conformal inference (Gibbs and Candes, 2021) that Angelopoulos, Candes and Tibshirani (2023,
"Conformal PID control") write as a step on the quantile itself, run at several rates at
once and aggregated by their losses (AgACI, Zaffran et al., 2022).

For each served quantile level q, each tracker k holds an offset theta_k (in units of the
series' training standard deviation, so one offset fits a panel) that moves after every
scored forecast:

    theta_k <- theta_k + rate_k * (q - 1{actual <= tracker k's quantile})

A quantile that too many actuals fall below is lowered, one that too few fall below is
raised; the long-run share below each quantile returns to q after a shift, without
retraining. No one rate suits every series: a fast one catches a shift within days but
swings with the day-to-day noise of a steady series, a slow one the reverse. The served
offset is the trackers' mean weighted by AdaHedge (de Rooij et al., 2014) on each tracker's
pinball loss, which needs no learning rate of its own; losses (and AdaHedge's mixability
gap) are discounted over as many scored points as the slowest tracker takes to move one
standard deviation (`loss_memory`), so a long calm does not lock the fast trackers out
after a shift. The median (0.5) is the point forecast and stays where the model put it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..metrics import point_index

# per scored point, in training standard deviations: log-spaced around the single rate used
# before (0.015, their mean), from one that barely moves to one that follows a shift in days
DEFAULT_RATES: tuple[float, ...] = (0.002, 0.005, 0.01, 0.02, 0.04)
RATES_VARIABLE = "FORECAST_ADAPTIVE_RATE"  # the service's and `forecast actuals`' setting


def parse_rates(text: str | None) -> tuple[float, ...]:
    """The trackers' rates from FORECAST_ADAPTIVE_RATE: one positive number (a single
    tracker, the rule before aggregation) or several, comma-separated; unset, the default."""
    if not text or not text.strip():
        return DEFAULT_RATES
    try:
        rates = tuple(sorted({float(part) for part in text.split(",")}))
    except ValueError:
        rates = ()
    if not rates or min(rates) <= 0:
        raise ValueError(f"{RATES_VARIABLE}={text!r}: expected one positive number or several, "
                         f"comma-separated (default {','.join(map(str, DEFAULT_RATES))})")
    return rates


@dataclass
class AdaptiveOffsets:
    """The trackers of one model version, per quantile level, and how many updates made
    them. `start` is every tracker's offset before any update (a stored offset that no
    tracker state came with, or a test's fixed offsets)."""

    levels: tuple[float, ...]
    start: dict[float, float] = field(default_factory=dict)
    updates: int = 0
    rates: tuple[float, ...] = DEFAULT_RATES
    trackers: dict[float, np.ndarray] = field(default_factory=dict)  # level -> (K,) offsets
    losses: dict[float, np.ndarray] = field(default_factory=dict)  # level -> (K,) pinball
    gaps: dict[float, float] = field(default_factory=dict)  # level -> AdaHedge's mixability gap
    served: dict[float, float] = field(init=False)  # level -> offset, fixed until an update

    def __post_init__(self) -> None:
        for q in self.levels:
            if q != 0.5 and q not in self.trackers:
                self.trackers[q] = np.full(len(self.rates), float(self.start.get(q, 0.0)))
                self.losses[q], self.gaps[q] = np.zeros(len(self.rates)), 0.0
        # weighed once here, not on every request: an update builds a new state
        self.served = {q: float(self.weights(q) @ self.trackers[q]) for q in self.trackers}

    def weights(self, level: float) -> np.ndarray:
        """AdaHedge's weights of the trackers of one level: exp(-eta x loss) with eta =
        ln K / (the mixability gap so far); before any gap, the leaders share equally."""
        losses = self.losses[level]
        excess, gap = losses - losses.min(), self.gaps[level]
        if gap > 0:
            weights = np.exp(-np.log(len(self.rates)) / gap * excess)
        else:  # ties within rounding: trackers that moved alike lost alike
            weights = np.array([rounding(e, losses) for e in excess], dtype=float)
        return weights / weights.sum()

    def offset(self, level: float) -> float:
        return self.served.get(level, 0.0)

    @property
    def offsets(self) -> dict[float, float]:
        """The served offset of every level but the median."""
        return {q: self.offset(q) for q in self.levels if q != 0.5}

    def by_label(self) -> dict[str, float]:
        """{"0.1": offset, ...}: as GET /model and GET /monitoring show them."""
        return {f"{q:g}": self.offset(q) for q in self.levels}

    def trackers_by_label(self) -> dict:
        """Each level's trackers, in the order of `rates`: their offsets and AdaHedge
        weights, as GET /monitoring shows them (which rate leads, and how far the served
        offset is from each; all at their start, equally weighed, before any update)."""
        levels = {f"{q:g}": {"offsets": [float(t) for t in self.trackers[q]],
                             "weights": [float(w) for w in self.weights(q)]}
                  for q in self.trackers}  # every level but the median
        return {"rates": list(self.rates), "levels": levels} if levels else {}

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


def rounding(value: float, losses: np.ndarray) -> bool:
    """Whether a difference of losses is float rounding, not a tracker doing better."""
    return abs(value) <= 1e-9 * max(1.0, float(np.abs(losses).max()))


def mixability_gap(weights: np.ndarray, loss: np.ndarray, gap: float) -> float:
    """How much a round's mixed loss exceeds AdaHedge's mix loss: what its eta adapts to.
    A single tracker never has one, so its weight stays 1."""
    mixed = float(weights @ loss)
    if gap <= 0:  # eta infinite: the mix loss is the best loss among the weighted trackers
        gap_now = mixed - float(loss[weights > 0].min())
        return 0.0 if rounding(gap_now, loss) else gap_now
    eta = np.log(len(loss)) / gap
    low = float(loss.min())
    mix = max(float(weights @ np.exp(-eta * (loss - low))), np.finfo(float).tiny)  # underflow
    return max(mixed - low + float(np.log(mix)) / eta, 0.0)


def loss_memory(rates: tuple[float, ...]) -> float:
    """How many scored points (per series) the trackers' losses are remembered for: as long
    as the slowest tracker takes to move its offset by one training standard deviation
    (1 / its rate). Cumulative losses would let a long calm outweigh any shift: after a year
    of steady errors the slow trackers' lead kept the fast ones out for weeks."""
    return 1.0 / min(rates)


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
                    series: int = 1, weights: np.ndarray | None = None) -> AdaptiveOffsets:
    """Update the trackers with newly scored forecasts: `served` (N, Q) the quantiles as they
    were served (the offsets of their time included), `actual` (N,), both in training
    standard deviations. Forecasts are scored after the fact, so every row of a batch was
    served with the offsets before it: the update is the sum of the rows' steps (the
    delayed-feedback form of the same rule). Tracker k's quantile is the served one moved by
    its own offset's difference from the served offset.

    One offset serves a whole panel, so a batch of `series` series counts each point in time
    once: the rows' steps and losses are averaged over the series. Summed instead, a batch
    of 100 series would move the offsets 100 times as far as one series does, and they
    swing from side to side on every batch (a correctly calibrated panel then covers far
    from its level).

    `weights` (N,) scale each row's step: `learn_offsets` gives a point in time forecast from
    k origins 1/k per forecast, so a series forecast every hour counts each actual once."""
    weights = np.ones(len(actual)) if weights is None else np.asarray(weights, dtype=float)
    rates = np.asarray(state.rates)
    decay = float(np.exp(-weights.sum() / max(series, 1) / loss_memory(state.rates)))
    step = rates * error_scale(served, actual, state.levels, weights) / max(series, 1)
    trackers, losses, gaps = dict(state.trackers), dict(state.losses), dict(state.gaps)
    for j, q in enumerate(state.levels):
        if q == 0.5:
            continue
        theta = state.trackers[q]
        own = served[:, j, None] + (theta - state.offset(q))  # (N, K): each tracker's quantile
        error = actual[:, None] - own
        loss = weights @ np.maximum(q * error, (q - 1) * error) / max(series, 1)
        # every row's miss counted once: the same as N sequential steps of the update when
        # each step is small against the quantile's spacing, and order-free
        trackers[q] = theta + step * (weights @ (q - (actual[:, None] <= own)))
        gaps[q] = decay * state.gaps[q] + mixability_gap(state.weights(q), loss, state.gaps[q])
        losses[q] = decay * state.losses[q] + loss
    return AdaptiveOffsets(state.levels, updates=state.updates + len(actual), rates=state.rates,
                           trackers=trackers, losses=losses, gaps=gaps)


def learn_offsets(store, model_name: str, model_version: str, levels: tuple[float, ...],
                  rates: tuple[float, ...] = DEFAULT_RATES) -> AdaptiveOffsets:
    """The version's offsets after the scored forecasts no update has used yet (each is used
    once: a repeated actual never moves them twice), saved back to `store` (a ForecastLog).
    An actual that several overlapping forecasts scored (a day-ahead forecast made every
    hour is scored by up to 24) moves them once, shared among those forecasts: the step
    does not grow with how often clients ask."""
    state = store.offsets(model_name, model_version, levels, rates)
    fresh = store.joined(model_name, model_version, only_unadapted=True)
    if fresh.empty:
        return state
    served = fresh[[f"{q:g}" for q in levels]].to_numpy(dtype=np.float64)
    scale = fresh["scale"].to_numpy()[:, None]  # offsets live in standard deviations
    forecasts_of_point = fresh.groupby(["unique_id", "ds"])["y"].transform("size")
    state = track_quantiles(state, served / scale, fresh["y"].to_numpy() / scale[:, 0],
                            series=fresh["unique_id"].nunique(),
                            weights=1.0 / forecasts_of_point.to_numpy())
    store.save_offsets(model_name, model_version, state,
                       list(zip(fresh["id"].astype(int), fresh["step"].astype(int), strict=True)))
    return state


def replay_offsets(forecast: np.ndarray, actual: np.ndarray, series: np.ndarray,
                   starts: np.ndarray, scale: np.ndarray, levels: tuple[float, ...],
                   rates: tuple[float, ...] = DEFAULT_RATES) -> np.ndarray:
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
    state = AdaptiveOffsets(tuple(levels), rates=tuple(rates))
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        rows = np.flatnonzero(rank == k)
        unit = np.repeat(scale[rows], forecast.shape[1])  # (n * H,)
        flat = forecast[rows].reshape(-1, forecast.shape[-1])
        moved = state.apply(flat, unit)
        served[rows] = moved.reshape(forecast[rows].shape)
        state = track_quantiles(state, moved / unit[:, None],
                                actual[rows].reshape(-1) / unit,
                                series=len(rows))  # one window per series a round
    return served
