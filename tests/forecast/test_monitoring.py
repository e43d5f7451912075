"""The forecast log, live scores, the status rule and adaptive intervals, without a service."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from forecast.monitoring import (
    AdaptiveOffsets,
    ForecastLog,
    ForecastRecord,
    StatusRule,
    drift_by_series,
    learn_offsets,
    live_scores,
    monitoring_status,
    replay_offsets,
    track_quantiles,
)
from forecast.monitoring.adaptive import DEFAULT_RATES, parse_rates
from forecast.monitoring.status import DEGRADED, INSUFFICIENT, OK

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import long_calm  # noqa: E402 - benchmarks/ is scripts, not a package

LEVELS = (0.05, 0.1, 0.5, 0.9, 0.95)


def record(uid: str, origin: str, median: np.ndarray, version: str = "1", spread: float = 1.0
           ) -> ForecastRecord:
    ds = pd.date_range(pd.Timestamp(origin) + pd.Timedelta(hours=1), periods=len(median),
                       freq="h")
    z = norm.ppf(LEVELS)
    return ForecastRecord("m", version, "r1", uid, pd.Timestamp(origin), ds, median, LEVELS,
                          median[:, None] + spread * z[None, :], 1.0, 2.0, 0.0)


@pytest.fixture
def store(tmp_path):
    log = ForecastLog(f"sqlite:///{tmp_path / 'log.db'}")
    yield log
    log.close()


def test_actuals_are_idempotent_and_a_correction_replaces_the_value(store):
    store.write_forecasts([record("a", "2024-01-01 00:00", np.zeros(3))])
    body = pd.DataFrame({"unique_id": ["a", "a", "zz"], "ds": pd.to_datetime(
        ["2024-01-01 01:00", "2024-01-01 02:00", "2024-01-01 01:00"]), "y": [1.0, 2.0, 5.0]})
    first = store.add_actuals(body)
    assert (first.received, first.matched, first.unmatched) == (3, 2, 1)
    again = store.add_actuals(body)
    assert (again.matched, again.unmatched) == (2, 1)
    assert len(store.actuals_frame()) == 3  # stored once
    store.add_actuals(body.iloc[[0]].assign(y=10.0))  # a corrected value
    joined = store.joined("m")
    assert joined.set_index("step").loc[1, "y"] == 10.0 and len(joined) == 2
    assert [f"{q:g}" for q in LEVELS] == [c for c in joined.columns if c[0].isdigit()]


def test_live_scores_match_a_hand_computation(store):
    median = np.array([1.0, 2.0, 3.0, 4.0])
    store.write_forecasts([record("a", "2024-01-01", median), record("b", "2024-01-02", median)])
    y = np.array([1.5, 2.0, 2.0, 10.0])
    for origin, uid in (("2024-01-01", "a"), ("2024-01-02", "b")):
        ds = pd.date_range(pd.Timestamp(origin) + pd.Timedelta(hours=1), periods=4, freq="h")
        store.add_actuals(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y}))
    scores = live_scores(store.joined("m", "1"))
    assert scores.overall["n"] == 8
    assert scores.overall["mae"] == pytest.approx(np.mean(np.abs(y - median)))
    assert scores.overall["mase"] == pytest.approx(np.mean(np.abs(y - median)) / 2.0)
    inside = np.abs(y - median) <= norm.ppf(0.9)
    assert scores.overall["coverage_80"] == pytest.approx(inside.mean())
    assert list(scores.by_step["step"]) == [1, 2, 3, 4] and len(scores.by_day) == 2
    assert scores.by_step.set_index("step").loc[4, "mae"] == pytest.approx(6.0)


def test_the_status_rule():
    rule = StatusRule(mae_tolerance=0.25, coverage_band=0.1, min_points=10)
    assert monitoring_status({"n": 5, "mae": 9.0}, 1.0, rule)[0] == INSUFFICIENT
    assert monitoring_status({"n": 50, "mae": 1.2, "coverage_80": 0.78}, 1.0, rule) == (OK, [])
    status, reasons = monitoring_status({"n": 50, "mae": 1.3, "coverage_80": 0.78}, 1.0, rule)
    assert status == DEGRADED and "live MAE 1.3 > test MAE 1" in reasons[0]
    status, reasons = monitoring_status({"n": 50, "mae": 1.0, "coverage_80": 0.6}, 1.0, rule)
    assert status == DEGRADED and "covered 0.60" in reasons[0]


def test_drift_names_the_series_that_moved():
    rows = pd.DataFrame({"unique_id": ["a"] * 4 + ["b"] * 4, "y": [0, 1, -1, 0, 5, 6, 4, 5.0],
                         "train_mean": 0.0, "scale": 1.0})
    drift = drift_by_series(rows, StatusRule()).set_index("unique_id")
    assert not drift.loc["a", "drifted"] and drift.loc["b", "drifted"]
    assert drift.loc["b", "level_shift_sd"] == pytest.approx(5.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adaptive_offsets_restore_coverage_after_the_spread_doubles(seed):
    """A model calibrated for N(0, 1) noise meets N(0, 2): its 80% interval covers about
    48%. With the offsets updated once a day (48 points), coverage over days 15-30 returns
    to within 0.05 of 0.80."""
    rng = np.random.default_rng(seed)
    z = norm.ppf(LEVELS)
    state, covered_static, covered_adaptive = AdaptiveOffsets(LEVELS), [], []
    for day in range(30):
        actual = rng.normal(0, 2, 48)
        base = np.tile(z, (48, 1))  # the model's quantiles (scale 1)
        served = state.apply(base, np.ones(48))
        lo, hi = LEVELS.index(0.1), LEVELS.index(0.9)
        if day >= 15:
            covered_static += list((actual >= base[:, lo]) & (actual <= base[:, hi]))
            covered_adaptive += list((actual >= served[:, lo]) & (actual <= served[:, hi]))
        state = track_quantiles(state, served, actual)
    assert np.mean(covered_static) == pytest.approx(0.48, abs=0.06)
    assert np.mean(covered_adaptive) == pytest.approx(0.80, abs=0.05)
    assert state.offset(0.5) == 0.0 and state.updates == 30 * 48


def shifted_windows(rng: np.random.Generator, n_series: int = 3, rounds: int = 100,
                    horizon: int = 24) -> tuple[np.ndarray, ...]:
    """Consecutive test windows of a model calibrated for N(0, s) noise around its median,
    where the actuals are N(0.5 s, 2 s): a level shift and a doubled spread after training.
    Each series has its own scale s; rows are shuffled (the replay must order them)."""
    scale = 10.0 ** np.arange(n_series)
    series = np.repeat(np.arange(n_series), rounds)
    starts = np.tile(np.arange(rounds) * horizon, n_series)
    s = scale[series][:, None]
    forecast = (np.zeros((len(series), horizon))[..., None]
                + norm.ppf(LEVELS)) * s[..., None] + 100 * s[..., None]
    actual = 100 * s + rng.normal(0.5, 2.0, (len(series), horizon)) * s
    order = rng.permutation(len(series))
    return forecast[order], actual[order], series[order], starts[order], scale[series][order]


def coverage_80(forecast: np.ndarray, actual: np.ndarray) -> float:
    lo, hi = LEVELS.index(0.1), LEVELS.index(0.9)
    return float(np.mean((actual >= forecast[..., lo]) & (actual <= forecast[..., hi])))


@pytest.mark.parametrize("n_series", [1, 3, 100])
def test_replayed_offsets_restore_coverage_on_test_windows(n_series):
    """Served window after window, learning from each round's actuals, the 80% interval
    covers 0.75-0.85 of the later windows' actuals, over many draws, whatever the panel's
    size; served as trained it covers about 0.45. The median is untouched."""
    static, adaptive = [], []
    for seed in range(20 if n_series < 100 else 3):
        forecast, actual, series, starts, scale = shifted_windows(np.random.default_rng(seed),
                                                                  n_series)
        served = replay_offsets(forecast, actual, series, starts, scale, LEVELS)
        later = starts >= 40 * 24
        static.append(coverage_80(forecast[later], actual[later]))
        adaptive.append(coverage_80(served[later], actual[later]))
        assert (served[..., 2] == forecast[..., 2]).all()
        assert (np.diff(served, axis=-1) >= 0).all()
    assert np.mean(static) < 0.5
    assert 0.75 <= np.mean(adaptive) <= 0.85


def test_a_panel_posted_at_once_moves_the_offsets_as_far_as_one_series():
    """100 series that all miss alike move the offsets as one series missing so does: the
    steps are averaged over the series of a batch, not summed (summed, the offsets swing)."""
    served = np.tile(norm.ppf(LEVELS), (24, 1))
    actual = np.full(24, 5.0)  # above every quantile
    one = track_quantiles(AdaptiveOffsets(LEVELS), served, actual)
    panel = track_quantiles(AdaptiveOffsets(LEVELS), np.tile(served, (100, 1)),
                            np.tile(actual, 100), series=100)
    assert panel.offsets == pytest.approx(one.offsets)
    assert one.offset(0.9) > 0 and panel.updates == 100 * one.updates


def test_an_actual_scored_by_overlapping_forecasts_moves_the_offsets_once(tmp_path):
    """A day-ahead forecast asked for every hour: 24 forecasts score the same actual. They
    share one step, so the offsets move as far as when one forecast scores it, whatever the
    clients' cadence."""
    moved = []
    for origins in (1, 24):
        log = ForecastLog(f"sqlite:///{tmp_path / f'log{origins}.db'}")
        log.write_forecasts([record("a", str(pd.Timestamp("2024-01-02") - pd.Timedelta(hours=k)),
                                    np.zeros(24)) for k in range(origins)])
        log.add_actuals(pd.DataFrame({"unique_id": ["a"], "ds": [pd.Timestamp("2024-01-02 01:00")],
                                      "y": [5.0]}))  # above every served quantile
        assert len(log.joined("m")) == origins
        moved.append(learn_offsets(log, "m", "1", LEVELS))
        log.close()
    one, overlapping = moved
    assert one.offset(0.9) > 0
    assert overlapping.offsets == pytest.approx(one.offsets)


def test_a_shift_many_spreads_wide_is_caught_up_in_days():
    """Three series whose level jumps by 3.4 training spreads while the model's median stays
    put (the stream benchmark's shift): the step grows with the errors' size, so over the
    shift's second week the 80% interval covers 0.7-0.95 of actuals (0.90; one tracker at
    0.015, the rule before the trackers were aggregated, 0.89); at the base step
    it would cover under half (0.42)."""
    rng, covered = np.random.default_rng(0), []
    n, days, horizon, spread = 3, 20, 24, 0.2
    series, starts = np.repeat(np.arange(n), days), np.tile(np.arange(days) * horizon, n)
    forecast = np.zeros((len(series), horizon, 1)) + norm.ppf(LEVELS) * spread
    shifted = (starts >= 6 * horizon)[:, None]
    actual = (rng.normal(0, spread, (len(series), horizon)) * np.where(shifted, 2, 1)
              + np.where(shifted, 3.4, 0))
    served = replay_offsets(forecast, actual, series, starts, np.ones(len(series)), LEVELS)
    second_week = starts >= 13 * horizon
    covered = coverage_80(served[second_week], actual[second_week])
    assert 0.7 <= covered <= 0.95
    calm = track_quantiles(AdaptiveOffsets(LEVELS), np.tile(0.1 * norm.ppf(LEVELS), (24, 1)),
                           np.full(24, 0.3))  # above every quantile, by under one spread
    assert calm.offset(0.9) == pytest.approx(np.mean(DEFAULT_RATES) * 24 * 0.9)  # the base step


def test_replay_serves_each_window_before_its_actuals_are_known():
    """A window's served quantiles depend only on the actuals of earlier rounds: the first
    round is served as forecast, and changing the last round's actuals changes nothing."""
    forecast, actual, series, starts, scale = shifted_windows(np.random.default_rng(0))
    served = replay_offsets(forecast, actual, series, starts, scale, LEVELS)
    first, last = starts == 0, starts == starts.max()
    np.testing.assert_array_equal(served[first], forecast[first])
    changed = actual.copy()
    changed[last] += 1e6
    again = replay_offsets(forecast, changed, series, starts, scale, LEVELS)
    np.testing.assert_array_equal(again, served)


def test_offsets_never_move_the_median_nor_cross_it():
    state = AdaptiveOffsets(LEVELS, {0.05: 3.0, 0.1: 2.5, 0.9: -4.0, 0.95: 0.2})
    served = state.apply(np.tile(norm.ppf(LEVELS), (4, 1)) + 10.0, np.full(4, 2.0))
    assert (served[:, 2] == 10.0).all()  # the median is the point forecast
    assert (np.diff(served, axis=1) >= 0).all()  # non-crossing
    assert (served[:, :2] <= 10.0).all() and (served[:, 3:] >= 10.0).all()


def served_days(actual_mean: float, actual_sd: float, seed: int, days: int = 200
                ) -> tuple[AdaptiveOffsets, float, float, float]:
    """A model calibrated for N(0, 1) served for `days` rounds of 24 points from
    N(actual_mean, actual_sd), learning after each round: the trackers at the end, the
    served 80% interval's mean width and the 0.9 level's mean |offset| over the second half,
    and how far the two slowest trackers' weight exceeds the two fastest' on average over
    the last quarter."""
    rng, state, widths, swings, leads = (np.random.default_rng(seed), AdaptiveOffsets(LEVELS),
                                         [], [], [])
    base = np.tile(norm.ppf(LEVELS), (24, 1))
    for day in range(days):
        served = state.apply(base, np.ones(24))
        if day >= days // 2:
            widths.append(np.mean(served[:, 3] - served[:, 1]))
            swings.append(abs(state.offset(0.9)))
        if day >= 3 * days // 4:
            weights = state.weights(0.9)
            leads.append(weights[:2].sum() - weights[-2:].sum())
        state = track_quantiles(state, served, rng.normal(actual_mean, actual_sd, 24))
    return state, float(np.mean(widths)), float(np.mean(swings)), float(np.mean(leads))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_trackers_weights_follow_what_the_data_asks_for(seed):
    """No one rate suits every series. Where the model is calibrated (steady noise) the slow
    trackers lose least and lead (on average over the last 50 of 200 days: the weights are
    decided over the last `loss_memory` points and wander from day to day; on 30 seeds the
    lead is at least 0.2 there, and at least 0.16 once caught up after a shift), and the
    served interval stays within 10% of the calibrated width while the fastest tracker
    alone swings further (1.4 to 7.9 times the served offset's mean |offset| on 30 seeds;
    1.6 to 12.8 before the losses were forgotten); after a shift of two spreads, the fast
    ones lead while the offsets catch up, and the slow ones again once they have (losses
    are remembered for `loss_memory` points, not for ever)."""
    _, width, swing, slow_lead = served_days(0.0, 1.0, seed)
    assert slow_lead > 0
    calibrated = norm.ppf(0.9) - norm.ppf(0.1)
    assert abs(width / calibrated - 1) < 0.10
    fastest = AdaptiveOffsets(LEVELS, rates=(DEFAULT_RATES[-1],))
    rng, base, swings = np.random.default_rng(seed), np.tile(norm.ppf(LEVELS), (24, 1)), []
    for _ in range(200):
        served = fastest.apply(base, np.ones(24))
        swings.append(abs(fastest.offset(0.9)))
        fastest = track_quantiles(fastest, served, rng.normal(0, 1, 24))
    assert np.mean(swings[100:]) > 1.25 * swing
    catching_up, *_ = served_days(2.0, 1.0, seed, days=20)
    weights = catching_up.weights(0.9)
    assert weights[-2:].sum() > weights[:2].sum() and catching_up.offset(0.9) > 1.0
    # once every tracker has caught up, the steady ones lead again and the offset holds
    caught_up, *_, slow_lead = served_days(2.0, 1.0, seed)
    assert slow_lead > 0 and caught_up.offset(0.9) > 1.5


def test_a_long_calm_does_not_lock_the_fast_trackers_out_after_a_shift():
    """A year of steady errors, then the spread doubles. The trackers' losses are remembered
    for `loss_memory` points, not for ever: cumulative, the slow trackers' year-long lead
    kept the fast ones out and the first week after the shift was covered 0.51 (weeks 2-4:
    0.76); forgetting it, about 0.59 and 0.79 (five seeds)."""
    runs = np.array([long_calm.covered(365, seed, DEFAULT_RATES) for seed in range(5)])
    _, first_week, later = runs.mean(axis=0)  # the benchmark's stream: one simulation
    assert first_week > 0.55 and later > 0.775


def test_the_trackers_are_stored_and_read_back_and_restart_at_other_rates(store):
    state, *_ = served_days(1.0, 1.5, seed=0, days=10)
    store.save_offsets("m", "1", state, [])
    back = store.offsets("m", "1", LEVELS)
    assert back.updates == state.updates and back.offsets == pytest.approx(state.offsets)
    for q in (0.05, 0.1, 0.9, 0.95):
        np.testing.assert_allclose(back.trackers[q], state.trackers[q], rtol=1e-12)
        np.testing.assert_allclose(back.losses[q], state.losses[q], rtol=1e-12)
        assert back.gaps[q] == pytest.approx(state.gaps[q], rel=1e-12)
    single = store.offsets("m", "1", LEVELS, (0.015,))  # FORECAST_ADAPTIVE_RATE changed
    assert single.rates == (0.015,) and single.offsets == pytest.approx(state.offsets)
    assert store.offsets("m", "2", LEVELS).offsets == pytest.approx(dict.fromkeys(
        (0.05, 0.1, 0.9, 0.95), 0.0))  # a version never served starts at zero


def test_the_rate_setting_is_one_rate_or_several_and_a_bad_one_is_named():
    assert parse_rates(None) == parse_rates(" ") == DEFAULT_RATES
    assert parse_rates("0.015") == (0.015,)
    assert parse_rates("0.01, 0.002") == (0.002, 0.01)
    for bad in ("fast", "0.01,-1", "0"):
        with pytest.raises(ValueError, match="FORECAST_ADAPTIVE_RATE"):
            parse_rates(bad)
