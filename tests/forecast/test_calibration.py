"""Quantiles by default: non-crossing, conformal calibration, losses, scores, persistence."""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, build_config
from forecast.calibration import Calibration, conformal_offsets, non_crossing
from forecast.errors import ArtifactError, ConfigError
from forecast.metrics import quantile_hits, quantile_metrics
from forecast.module import ForecastModule
from tests.conftest import tiny_config_values
from tests.forecast.test_forecaster import split_history

LEVELS = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]


def draw(rng: np.random.Generator, n: int, horizon: int = 3) -> np.ndarray:
    """Actuals whose true quantiles at step h are NormalDist().inv_cdf(q) * (1 + h)."""
    return rng.standard_normal((n, horizon)) * (1 + np.arange(horizon))


def miscalibrated_base(n: int, horizon: int = 3) -> np.ndarray:
    """A quantile 'model' too narrow by half and biased by +0.3: its 80% interval covers far
    less than 80%."""
    spread = (1 + np.arange(horizon))[:, None] * np.array([NormalDist().inv_cdf(q) for q in LEVELS])[None, :]
    return np.broadcast_to(0.3 + 0.5 * spread, (n, horizon, len(LEVELS))).copy()


def test_conformal_offsets_give_nominal_coverage_over_many_draws():
    rng, n_cal, hits, raw_hits = np.random.default_rng(0), 400, [], []
    for _ in range(200):
        offsets = conformal_offsets(miscalibrated_base(n_cal), draw(rng, n_cal), LEVELS)
        fresh = draw(rng, 2000)
        base = miscalibrated_base(len(fresh))
        hits.append(quantile_hits(fresh, base + offsets))
        raw_hits.append(quantile_hits(fresh, base))
    mean_hits, raw = np.mean(hits, axis=0), np.mean(raw_hits, axis=0)
    for q, hit, before in zip(LEVELS, mean_hits, raw, strict=True):
        if q == 0.5:  # the median is never moved: it stays the point forecast
            assert hit == pytest.approx(before)
            continue
        # conformal: at least nominal on the covering side, at most 1/(n+1) beyond it
        slack = 1 / (n_cal + 1) + 0.005
        assert (q - 0.005 <= hit <= q + slack) if q > 0.5 else (q - slack <= hit <= q + 0.005)
    assert raw[LEVELS.index(0.9)] - raw[LEVELS.index(0.1)] < 0.6  # far off before


@pytest.mark.parametrize("n_cal", [19, 49])
def test_few_windows_give_split_conformal_coverage_exactly(n_cal):
    """With n exchangeable residuals the bound at rank ceil((n+1)q) holds a new value below
    it with probability ceil((n+1)q)/(n+1): 0.90 at q=0.9 for these n. A bound one rank
    higher (the largest of 19 residuals) would hold 0.95, and a test with many windows
    cannot tell the two apart."""
    rng, levels = np.random.default_rng(3), [0.1, 0.5, 0.9]
    base = np.zeros((n_cal, 1, len(levels)))
    hits = []
    for _ in range(4000):
        offsets = conformal_offsets(base, rng.standard_normal((n_cal, 1)), levels)
        fresh = rng.standard_normal((100, 1))
        hits.append(quantile_hits(fresh, np.zeros((100, 1, len(levels))) + offsets))
    below_lower, _, below_upper = np.mean(hits, axis=0)
    assert below_upper == pytest.approx(0.90, abs=0.006)
    assert below_lower == pytest.approx(0.10, abs=0.006)


def test_a_calibrated_median_removes_a_bias_and_leaves_the_other_offsets_alone():
    rng, n_cal, hits, raw_hits = np.random.default_rng(2), 400, [], []
    middle = LEVELS.index(0.5)
    for _ in range(100):
        actual = draw(rng, n_cal)
        plain = conformal_offsets(miscalibrated_base(n_cal), actual, LEVELS)
        offsets = conformal_offsets(miscalibrated_base(n_cal), actual, LEVELS, median=True)
        # the median's offset is its median error: the base's +0.3 bias, taken back
        np.testing.assert_allclose(offsets[:, middle], np.median(actual - 0.3, axis=0))
        np.testing.assert_array_equal(np.delete(offsets, middle, axis=1),
                                      np.delete(plain, middle, axis=1))
        fresh = draw(rng, 2000)
        base = miscalibrated_base(len(fresh))
        hits.append(quantile_hits(fresh, base + offsets)[middle])
        raw_hits.append(quantile_hits(fresh, base)[middle])
    assert np.mean(hits) == pytest.approx(0.5, abs=0.01)  # half the new actuals below it
    assert np.mean(raw_hits) > 0.55  # the biased median had too many below


def test_residual_conformal_turns_a_point_forecast_into_calibrated_quantiles():
    rng, n = np.random.default_rng(1), 3000
    point = np.full((n, 3, len(LEVELS)), 0.2)  # a biased point forecast in every column
    offsets = conformal_offsets(point, draw(rng, n), LEVELS)
    fresh = draw(rng, 20000)
    hits = quantile_hits(fresh, np.full((len(fresh), 3, len(LEVELS)), 0.2) + offsets)
    for q, hit in zip(LEVELS, hits, strict=True):
        if q != 0.5:
            assert hit == pytest.approx(q, abs=0.02)


def test_crossing_outputs_are_served_in_order():
    raw = torch.tensor([[[0.5, -1.0, 2.0], [3.0, 1.0, 0.0]]])  # (1, 2, 3), crossing
    calibration = Calibration("conformal", "quantiles", (0.1, 0.5, 0.9),
                              np.array([[-0.2, 0.0, 0.1], [-3.0, 0.0, 3.0]]), 10, "val")
    served = calibration.apply(raw)
    assert (served.diff(dim=-1) >= 0).all()
    assert torch.equal(non_crossing(raw), raw.sort(dim=-1).values)
    module = ForecastModule(torch.nn.Identity(), [0.1, 0.5, 0.9])
    assert (module(raw).diff(dim=-1) >= 0).all()  # sorted in training too


def test_quantile_metrics_on_a_known_case():
    actual = np.array([[0.0, 10.0]])
    forecast = np.array([[[-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]] * 2])  # (1, 2, 7)
    scores = quantile_metrics(actual, forecast, LEVELS)
    assert scores["coverage_80"] == 0.5 and scores["coverage_90"] == 0.5
    assert scores["width_80"] == pytest.approx(2.0) and scores["width_90"] == pytest.approx(3.0)
    exact = quantile_metrics(actual, np.repeat(actual[..., None], 7, axis=-1), LEVELS)
    assert exact["wql"] == 0.0 and exact["crps"] == 0.0 and exact["coverage_80"] == 1.0
    assert scores["crps"] > 0 and scores["wql"] > 0


def test_calibration_json_round_trip_and_bad_offsets():
    cal = Calibration("conformal", "point", (0.1, 0.5, 0.9), np.ones((4, 3)), 7, "val")
    back = Calibration.from_json(json.loads(json.dumps(cal.to_json())), horizon=4)
    assert back.method == "conformal" and back.base == "point" and back.windows == 7
    np.testing.assert_array_equal(back.offsets, cal.offsets)
    with pytest.raises(ArtifactError, match="offsets have shape"):
        Calibration.from_json(cal.to_json(), horizon=5)
    with pytest.raises(ArtifactError, match="not known"):
        Calibration.from_json({**cal.to_json(), "method": "magic"}, horizon=4)


@pytest.mark.parametrize("quantiles,message", [
    ([0.1, 0.9], "must include 0.5"),
    ([0.1, 0.5, 0.5], "must not repeat"),
    ([0.0, 0.5], "strictly between 0 and 1"),
])
def test_bad_quantile_lists_are_config_errors(quantiles, message):
    with pytest.raises(ConfigError, match=f"model.quantiles.*{message}"):
        build_config({"model": {"quantiles": quantiles}})


def test_loss_and_calibration_must_fit_the_quantiles():
    with pytest.raises(ConfigError, match="pinball' needs quantiles"):
        build_config({"model": {"quantiles": [], "loss": "pinball"}})
    with pytest.raises(ConfigError, match="gets its quantiles from calibration"):
        build_config({"model": {"loss": "mae", "calibration": "none"}})
    assert build_config({}).model.quantiles == LEVELS  # quantiles by default
    assert build_config({"model": {"quantiles": []}}).model.training_loss == "mse"


@pytest.mark.parametrize("loss", ["pinball", "mse", "mae", "huber"])
def test_each_loss_trains_and_serves_calibrated_quantiles(loss, panel_frame, tmp_path):
    values = tiny_config_values()
    values["model"].update(name="gru", loss=loss)
    forecaster = Forecaster("gru", build_config(values)).fit(panel_frame)
    predictor = forecaster.predictor
    assert predictor.dims.n_outputs == (len(LEVELS) if loss == "pinball" else 1)
    assert predictor.calibration.method == "conformal" and predictor.calibration.split == "val"
    assert predictor.calibration.base == ("quantiles" if loss == "pinball" else "point")
    assert {"coverage_80", "coverage_90", "width_80", "wql", "crps"} <= set(forecaster.metrics)
    assert np.isfinite(forecaster.report.best_val_loss)

    forecaster.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predictor.calibration.offsets,
                                  predictor.calibration.offsets)
    history, future, _ = split_history(panel_frame, 300)
    before = forecaster.predict(history, future_df=future)
    pd.testing.assert_frame_equal(before, loaded.predict(history, future_df=future))
    quantile_columns = before[[f"{q:g}" for q in LEVELS]].to_numpy()
    assert (np.diff(quantile_columns, axis=1) >= 0).all()  # non-crossing
    assert (quantile_columns[:, -1] > quantile_columns[:, 0]).all()  # a real interval
    np.testing.assert_allclose(before["mean"], before["0.5"])


def test_baselines_get_empirical_quantiles_from_their_training_part(tiny_config, panel_frame):
    forecaster = Forecaster("seasonal_naive", tiny_config).fit(panel_frame)
    calibration = forecaster.predictor.calibration
    assert calibration.method == "empirical" and calibration.split == "train"
    assert not calibration.calibrated and calibration.windows > 0
    assert calibration.offsets[:, 0].max() < 0 < calibration.offsets[:, -1].min()
    assert 0.3 < forecaster.metrics["coverage_80"] <= 1.0


def test_calibration_none_keeps_the_heads_quantiles(panel_frame):
    values = tiny_config_values()
    values["model"]["calibration"] = "none"
    forecaster = Forecaster("lstm", build_config(values)).fit(panel_frame)
    assert forecaster.predictor.calibration.method == "none"
    assert forecaster.predictor.calibration.offsets is None


def test_a_point_model_has_no_intervals(panel_frame):
    values = tiny_config_values()
    values["model"]["quantiles"] = []
    forecaster = Forecaster("lstm", build_config(values)).fit(panel_frame)
    assert forecaster.predictor.quantiles == () and forecaster.predictor.dims.n_outputs == 1
    assert "coverage_80" not in forecaster.metrics and "mae" in forecaster.metrics


def test_calibration_uses_every_validation_origin_up_to_a_cap(tiny_config, panel_frame):
    from forecast.evaluation import calibrate, split_windows

    forecaster = Forecaster("lstm", tiny_config).fit(panel_frame)
    predictor, prepared = forecaster.predictor, forecaster.prepared
    assert predictor.calibration.windows == len(split_windows(predictor, prepared, "val",
                                                              step=1))
    capped = calibrate(predictor, prepared, conformal=True, max_windows=10)
    assert capped.calibration.windows == 10 and capped.calibration.offsets.shape == (
        predictor.horizon, len(LEVELS))
