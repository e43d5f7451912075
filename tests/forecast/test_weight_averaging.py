"""`trainer.weight_average_epochs`: the moving average of the weights is what is validated,
kept by early stopping's checkpoint, refitted and saved."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from forecast import Forecaster, build_config
from forecast.averaging import EpochEMA
from forecast.datamodule import WindowDataModule
from forecast.training import training_module
from tests.conftest import make_panel, tiny_config_values
from tests.floats import assert_forecasts_close


def fitted(tmp_path=None, **trainer) -> Forecaster:
    values = tiny_config_values()
    values["trainer"].update({"max_epochs": 4, "patience": 4, "limit_train_batches": 8,
                              "refit": False, **trainer})
    return Forecaster("lstm", build_config(values)).fit(make_panel(n_series=2))


def validation_loss(forecaster: Forecaster) -> float:
    """The validation loss of the weights the model holds now, as training measured it."""
    predictor, prepared = forecaster.predictor, forecaster.prepared
    module = training_module(predictor, forecaster.config, prepared)
    data = WindowDataModule(prepared, forecaster.config.data, predictor.keys_for(prepared.panel))
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu")
    return trainer.validate(module, datamodule=data, verbose=False)[0]["val_loss"]


@pytest.mark.parametrize("epochs", [None, 1.0])
def test_the_weights_kept_are_the_ones_early_stopping_validated(epochs):
    forecaster = fitted(weight_average_epochs=epochs)
    best = forecaster.report.best_val_loss
    assert validation_loss(forecaster) == pytest.approx(best, rel=1e-5)


def test_averaging_changes_the_model_and_it_saves_and_loads(tmp_path):
    plain, averaged = fitted(), fitted(weight_average_epochs=1.0)
    first = dict(plain.network.named_parameters())
    assert any(not torch.allclose(p, first[name]) for name, p in
               averaged.network.named_parameters())
    averaged.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model")
    assert_forecasts_close(loaded.forecast_split("test", make_panel(n_series=2)).forecast,
                           averaged.forecast_split("test").forecast)


def test_a_refit_trains_with_the_average_too():
    plain, averaged = fitted(refit=True), fitted(weight_average_epochs=1.0, refit=True)
    assert averaged.report.refit_epochs == averaged.report.best_epochs
    # the refit's weights are its own average, not its last step's
    assert not np.allclose(averaged.forecast_split("test").forecast,
                           plain.forecast_split("test").forecast, rtol=1e-3)


def test_the_average_is_a_running_mean_then_decays_over_its_span():
    ema = EpochEMA(epochs=1.0)
    ema.span = 4.0
    average = torch.tensor(0.0)
    for n, value in enumerate([4.0, 8.0, 0.0], start=1):  # a mean while n < span: n/(n+1)
        ema._average([average], [torch.tensor(value)], torch.tensor(n))
    assert float(average) == pytest.approx((0.0 + 4.0 + 8.0 + 0.0) / 4, rel=1e-6)
    # past the span, each step keeps 1 - 1/span of the average
    average = torch.tensor(1.0)
    ema._average([average], [torch.tensor(0.0)], torch.tensor(10))
    assert float(average) == pytest.approx(0.75, rel=1e-6)


def test_the_span_must_be_positive():
    values = tiny_config_values()
    values["trainer"]["weight_average_epochs"] = 0
    with pytest.raises(ValueError, match="weight_average_epochs"):
        build_config(values)
