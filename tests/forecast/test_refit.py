"""`trainer.refit`: after early stopping has chosen the epochs, the network is trained again on
the training and validation parts together, keeping the first fit's conformal offsets."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import Forecaster, build_config, load_config
from forecast.datamodule import WindowDataModule, prepare
from forecast.ensemble import fit_ensembles
from forecast.evaluation import forecast_split
from forecast.forecaster import refit_validation
from forecast.training import TrainingReport, with_validation_in_training
from pipelines.presets import config_path
from tests.conftest import HORIZON, make_panel, tiny_config_values
from tests.floats import assert_forecasts_close


def fitted(frame, refit: bool, name: str = "lstm") -> Forecaster:
    values = tiny_config_values()
    values["trainer"].update(refit=refit, max_epochs=3, patience=3)
    return Forecaster(name, build_config(values)).fit(frame)


def test_the_refit_trains_on_the_validation_part_and_never_on_the_test_part():
    config, prepared = prepare(build_config(tiny_config_values()), make_panel(n_series=2))
    refit = with_validation_in_training(prepared)
    before = WindowDataModule(prepared, config.data).dataset("train", step=1)
    after = WindowDataModule(refit, config.data).dataset("train", step=1)
    series, starts = after.locate(np.arange(len(after)))
    last_target = starts + HORIZON - 1
    for s, bounds in enumerate(prepared.bounds):
        mine = last_target[series == s]
        assert mine.max() == bounds.val_end - 1  # up to the last validation step...
        assert (mine < bounds.val_end).all()  # ...and no target in the test part
    assert len(after) > len(before)
    assert refit.panel is prepared.panel  # the same scalers: the offsets are in their units


def test_the_refit_keeps_the_first_fits_offsets_and_trains_for_its_best_epochs(tmp_path,
                                                                              monkeypatch):
    frame = make_panel(n_series=2)
    monkeypatch.chdir(tmp_path)
    plain, refitted = fitted(frame, refit=False), fitted(frame, refit=True)
    assert list(tmp_path.iterdir()) == []  # no checkpoint left in the working directory
    report = refitted.report
    assert report.refit_epochs == report.best_epochs
    assert plain.report.refit_epochs is None
    # the first fit of a refit is the plain fit (same seed): its offsets are the ones kept
    assert_forecasts_close(refitted.predictor.calibration.offsets,
                           plain.predictor.calibration.offsets)
    assert refitted.predictor.calibration.split == "val"
    # ...while the network that serves is another one
    a, b = (f.forecast_split("test").forecast for f in (plain, refitted))
    assert np.abs(a - b).max() > 1e-3 * np.abs(a).max()
    assert set(refitted.metrics) == set(plain.metrics)


def test_a_refitted_model_saves_and_loads_with_the_same_forecasts(tmp_path):
    frame = make_panel(n_series=1)
    model = fitted(frame, refit=True, name="transformer")
    loaded = Forecaster.load(model.save(tmp_path / "model"))
    assert loaded.config.trainer.refit is True
    assert_forecasts_close(loaded.forecast_split("test", frame).forecast,
                           model.forecast_split("test").forecast)


def test_baselines_have_nothing_to_refit():
    model = fitted(make_panel(n_series=1), refit=True, name="seasonal_naive")
    assert model.report is None


@pytest.mark.parametrize(("losses", "best"), [([3.0, 1.0, 2.0], 2), ([1.0, 2.0, 3.0], 1),
                                              ([3.0, 2.0, 1.0], 3)])
def test_the_best_epochs_are_those_up_to_the_lowest_validation_loss(losses, best):
    history = [{"epoch": i, "train_loss": 1.0, "val_loss": v} for i, v in enumerate(losses)]
    assert TrainingReport(len(losses), min(losses), [], history).best_epochs == best


def test_refit_is_on_by_default_and_off_in_the_quick_preset():
    assert build_config({}).trainer.refit is True
    assert load_config(config_path("default")).trainer.refit is True
    assert load_config(config_path("quick")).trainer.refit is False


def test_an_ensemble_of_refitted_members_is_chosen_on_their_first_fits(members_both_ways):
    """The refitted members' own validation forecasts are in-sample: the ensemble's weights
    and explainer come from the first fits' (which are the plain fits, seed for seed)."""
    plain, refitted = members_both_ways
    prepared = plain[0].prepared
    held = refit_validation(refitted)
    assert set(held) == {"gru", "transformer"} and refit_validation(plain) == {}
    for p, r in zip(plain, refitted, strict=True):
        assert_forecasts_close(held[r.name][0], forecast_split(p.predictor, prepared,
                                                               "val").forecast)
    expected = fit_ensembles([p.predictor for p in plain], ["weighted"], prepared)[0]
    chosen = fit_ensembles([r.predictor for r in refitted], ["weighted"], prepared, held)[0]
    assert chosen.weights == expected.weights and chosen.explainer == expected.explainer
    assert [m.network for m in chosen.members] == [r.predictor.network for r in refitted]


@pytest.fixture(scope="module")
def members_both_ways():
    frame = make_panel(n_series=2)
    return tuple([fitted(frame, refit, name) for name in ("gru", "transformer")]
                 for refit in (False, True))


def test_forecasts_passed_for_a_member_are_the_ones_its_weight_is_chosen_on(members_both_ways):
    refitted = members_both_ways[1]
    prepared = refitted[0].prepared
    held = refit_validation(refitted)
    forecast, actual = held["transformer"]
    perfect = np.repeat(actual[..., None], forecast.shape[-1], axis=-1)  # no error at all
    chosen = fit_ensembles([r.predictor for r in refitted], ["weighted"], prepared,
                           {**held, "transformer": (perfect, actual)})[0]
    assert chosen.weights == (0.0, 1.0) and chosen.explainer == "transformer"
