"""Ensembles as one model: combination rules, weights chosen on validation, save and load."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from forecast import Ensemble, Forecaster, build_config, load_model
from forecast.artifacts import ENSEMBLE, find_artifact
from forecast.batch import series_inputs
from forecast.ensemble import (
    choose_weights,
    combine,
    fit_ensemble,
    fit_ensembles,
    simplex_grid,
    validation_loss,
)
from forecast.errors import ArtifactError, ConfigError
from forecast.evaluation import forecast_split
from tests.conftest import make_panel, tiny_config_values
from tests.floats import assert_forecasts_close
from tests.forecast.test_forecaster import split_history

LEVELS = (0.1, 0.5, 0.9)


def ordered_draws(rng, shape):
    """Random quantile forecasts (..., Q) in increasing order along the last axis."""
    return torch.from_numpy(np.sort(rng.normal(0, 3, shape), axis=-1))


def test_median_and_weighted_mean_are_per_level_and_keep_quantiles_ordered():
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = int(rng.integers(2, 6))
        stacked = ordered_draws(rng, (m, 4, 6, len(LEVELS)))
        median = combine(stacked, "median", [1 / m] * m)
        np.testing.assert_allclose(median.numpy(), np.median(stacked.numpy(), axis=0), rtol=1e-12)
        weights = rng.dirichlet(np.ones(m))
        mean = combine(stacked, "weighted", weights)
        np.testing.assert_allclose(mean.numpy(), np.tensordot(weights, stacked.numpy(), 1),
                                   rtol=1e-12)
        for combined in (median, mean):
            assert (combined.diff(dim=-1) >= -1e-12).all()


@pytest.mark.parametrize("n", [2, 3, 4])
def test_the_weight_grid_covers_the_simplex(n):
    grid = simplex_grid(n, steps=10)
    assert len(grid) == math.comb(10 + n - 1, n - 1)
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert (grid >= 0).all() and len(np.unique(grid, axis=0)) == len(grid)
    assert any((row == np.eye(n)[0]).all() for row in grid)  # each member alone is a candidate


def test_weights_go_to_the_member_that_forecasts_the_validation_windows():
    rng = np.random.default_rng(1)
    actual = rng.normal(0, 1, (40, 6))
    good = actual[..., None] + np.array([-1.28, 0.0, 1.28])  # the truth's own quantiles
    noisy = good + rng.normal(0, 2, good.shape)
    forecasts = np.stack([noisy, good, noisy[::-1]])
    assert choose_weights(forecasts, actual, LEVELS) == (0.0, 1.0, 0.0)
    # a point model's loss is its MAE
    assert validation_loss(actual[..., None] + 1.0, actual, ()) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def panel_frame_module():
    return make_panel()


@pytest.fixture(scope="module")
def members(panel_frame_module):
    config = build_config(tiny_config_values())
    fitted = [Forecaster(config=config.with_model(n)).fit(panel_frame_module)
              for n in ("gru", "transformer")]
    return [f.predictor for f in fitted], fitted[0].prepared


def test_an_ensemble_is_scored_and_chosen_on_validation(members):
    predictors, prepared = members
    median, weighted = fit_ensembles(predictors, ["median", "weighted"], prepared)
    assert (median.name, weighted.name) == ("ensemble_median", "ensemble_weighted")
    assert median.weights == (0.5, 0.5) and sum(weighted.weights) == pytest.approx(1.0)
    for ensemble in (median, weighted):
        assert {"mae", "coverage_80", "wql"} <= set(ensemble.metrics)
    # on the windows the weights were chosen on, the weighted mean is no worse than any member
    validation = [forecast_split(m, prepared, "val") for m in predictors]
    member_losses = [validation_loss(w.forecast, w.actual, predictors[0].quantiles)
                     for w in validation]
    combined = forecast_split(weighted, prepared, "val")
    loss = validation_loss(combined.forecast, combined.actual, predictors[0].quantiles)
    assert loss <= min(member_losses) * (1 + 1e-4)  # float32 sums differ in the last bits
    assert weighted.explainer == predictors[int(np.argmin(member_losses))].name


def test_save_load_predict_identical_and_explained_by_the_named_member(tmp_path, members,
                                                                      panel_frame_module):
    predictors, prepared = members
    ensemble = fit_ensembles(predictors, ["weighted"], prepared)[0]
    history, future, _ = split_history(panel_frame_module, 300)
    before = Forecaster.from_predictor(ensemble).predict(history, future_df=future)
    ensemble.save(tmp_path / "download" / "model")
    document = json.loads((tmp_path / "download" / "model" / ENSEMBLE).read_text())
    assert document["members"] == ["gru", "transformer"]
    assert document["weights"] == dict(zip(["gru", "transformer"], ensemble.weights,
                                           strict=True))
    # below a downloaded MLflow model the ensemble's directory is found, not a member's
    found = find_artifact(tmp_path / "download", "test")
    assert found == tmp_path / "download" / "model"
    loaded = load_model(found)
    assert isinstance(loaded, Ensemble) and loaded.weights == ensemble.weights
    assert loaded.metrics == pytest.approx(dict(ensemble.metrics))
    after = Forecaster.load(found).predict(history, future_df=future)
    assert list(after.columns) == list(before.columns)
    numeric = before.columns[2:]
    assert_forecasts_close(after[numeric].to_numpy(), before[numeric].to_numpy())

    member = loaded.member(loaded.explainer)
    checked = [loaded.check(item) for item in series_inputs(loaded, history, future)]
    ours, theirs = loaded.explain(checked, 5), member.explain(checked, 5)
    assert [e.ds for e in ours] == [e.ds for e in theirs] and len(ours) == 2


def test_members_of_different_tasks_cannot_form_an_ensemble(members, panel_frame_module):
    predictors, _ = members
    longer = build_config({**tiny_config_values(), "model": {
        **tiny_config_values()["model"], "name": "lstm"}}).with_values({"data.horizon": 8})
    other = Forecaster(config=longer).fit(panel_frame_module).predictor
    with pytest.raises(ConfigError, match="horizon 8"):
        Ensemble((predictors[0], other), "median", (0.5, 0.5), "gru")
    with pytest.raises(ConfigError, match="two or more distinct"):
        Ensemble((predictors[0], predictors[0]), "median", (0.5, 0.5), "gru")
    with pytest.raises(ConfigError, match="summing to 1"):
        Ensemble(tuple(predictors), "weighted", (0.7, 0.7), "gru")


def test_a_broken_ensemble_directory_is_an_artifact_error(tmp_path, members):
    predictors, prepared = members
    ensemble = fit_ensembles(predictors, ["median"], prepared)[0]
    ensemble.save(tmp_path / "m")
    document = json.loads((tmp_path / "m" / ENSEMBLE).read_text())
    (tmp_path / "m" / ENSEMBLE).write_text(json.dumps({**document, "members": ["gru", "lstm"]}))
    with pytest.raises(ArtifactError, match="lacks|does not describe"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / ENSEMBLE).write_text(json.dumps({**document, "format_version": 9}))
    with pytest.raises(ArtifactError, match="format_version 9"):
        load_model(tmp_path / "m")


@pytest.fixture(scope="module")
def baselines(panel_frame_module, members):
    config = build_config(tiny_config_values())
    return [Forecaster(config=config.with_model(n)).fit(prepared=members[1]).predictor
            for n in ("naive", "seasonal_naive")]


def biased(actual: np.ndarray, shift: float, levels: int = 7) -> np.ndarray:
    """Quantile forecasts (N, H, levels) around `actual`, all moved by `shift`."""
    return actual[..., None] + shift + np.linspace(-1.0, 1.0, levels)


def test_a_baseline_that_errs_the_other_way_joins_the_weighted_mean_only(members, baselines):
    """Networks that all forecast 1 too low and a yardstick 3 too high: a quarter of the
    yardstick cancels the bias, so the weighted mean takes it in; the median stays theirs."""
    predictors, _ = members
    yardstick = baselines[1]
    actual = np.random.default_rng(2).normal(0, 1, (30, 6))
    validation = {"gru": (biased(actual, -1.0), actual),
                  "transformer": (biased(actual, -1.0), actual),
                  "seasonal_naive": (biased(actual, 3.0), actual)}
    weighted = fit_ensemble(predictors, "weighted", validation, yardstick)
    assert weighted.member_names == ["gru", "transformer", "seasonal_naive"]
    assert weighted.weights[-1] == pytest.approx(0.25)
    assert weighted.explainer in ("gru", "transformer")  # a yardstick explains nothing
    median = fit_ensemble(predictors, "median", validation, yardstick)
    assert median.member_names == ["gru", "transformer"]
    # one that errs the same way as the networks, only more, gets no weight and is left out
    validation["seasonal_naive"] = (biased(actual, -3.0), actual)
    alone = fit_ensemble(predictors, "weighted", validation, yardstick)
    assert alone.member_names == ["gru", "transformer"]
    assert sum(alone.weights) == pytest.approx(1.0)


def test_the_baseline_weighed_is_the_one_lower_on_validation(members, baselines):
    predictors, prepared = members
    losses = {b.name: validation_loss(w.forecast, w.actual, b.quantiles)
              for b in baselines for w in [forecast_split(b, prepared, "val")]}
    weighted = fit_ensembles([*predictors, *baselines], ["weighted"], prepared)[0]
    plain = fit_ensembles(predictors, ["weighted"], prepared)[0]
    # on the windows the weights were chosen on, a candidate more never makes it worse
    with_baseline, without = (
        validation_loss(w.forecast, w.actual, e.quantiles)
        for e in (weighted, plain) for w in [forecast_split(e, prepared, "val")])
    assert with_baseline <= without * (1 + 1e-4)
    extra = set(weighted.member_names) - {"gru", "transformer"}
    assert extra <= {min(losses, key=losses.get)}


def test_an_ensemble_with_a_baseline_member_saves_and_loads_with_the_same_forecasts(
        tmp_path, members, baselines, panel_frame_module):
    predictors, prepared = members
    actual = np.zeros((4, 6))
    validation = {"gru": (biased(actual, -1.0), actual),
                  "transformer": (biased(actual, -1.0), actual),
                  "seasonal_naive": (biased(actual, 3.0), actual)}
    ensemble = fit_ensemble(predictors, "weighted", validation, baselines[1])
    assert "seasonal_naive" in ensemble.member_names
    history, future, _ = split_history(panel_frame_module, 300)
    before = Forecaster.from_predictor(ensemble).predict(history, future_df=future)
    ensemble.save(tmp_path / "model")
    assert (tmp_path / "model" / "members" / "seasonal_naive").is_dir()
    loaded = load_model(tmp_path / "model")
    assert loaded.member_names == ensemble.member_names and loaded.weights == ensemble.weights
    after = Forecaster.load(tmp_path / "model").predict(history, future_df=future)
    numeric = before.columns[2:]
    assert_forecasts_close(after[numeric].to_numpy(), before[numeric].to_numpy())
