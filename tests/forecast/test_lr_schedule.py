"""`trainer.lr_schedule`: cosine over max_epochs, or a rate that halves whenever validation
stalls; a refit replays the rates the first fit's epochs had."""

from __future__ import annotations

import math

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from forecast import Forecaster, build_config
from forecast.datamodule import WindowDataModule
from forecast.errors import ConfigError
from forecast.module import MIN_LR_FRACTION, ForecastModule
from forecast.training import fit_module, training_module, with_validation_in_training
from tests.conftest import make_panel, tiny_config_values

RATE = 1e-3


def fitted(**trainer) -> Forecaster:
    values = tiny_config_values()
    values["trainer"].update({"max_epochs": 5, "patience": 5, "limit_train_batches": 6,
                              "learning_rate": RATE, **trainer})
    return Forecaster("mlp", build_config(values)).fit(make_panel(n_series=2))


def plateau_rates(val_losses: list[float]) -> list[float]:
    """The rate of each epoch when the epochs before it validated at `val_losses`."""
    module = ForecastModule(torch.nn.Linear(1, 1), [0.5], learning_rate=RATE,
                            lr_schedule="plateau")
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["monitor"] == "val_loss"
    rates = [optimizer.param_groups[0]["lr"]]
    for loss in val_losses:
        scheduler.step(loss)
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


def test_plateau_halves_the_rate_after_each_epoch_that_did_not_improve():
    rates = plateau_rates([1.0, 0.9, 0.95, 0.97, 0.5, 0.6])
    assert rates == pytest.approx([RATE, RATE, RATE, RATE / 2, RATE / 4, RATE / 4, RATE / 8])


def test_plateau_never_goes_below_the_floor_cosine_ends_at():
    rates = plateau_rates([1.0] * 12)
    assert min(rates) == pytest.approx(RATE * MIN_LR_FRACTION)


def test_the_history_records_each_epochs_rate_as_the_schedule_set_it():
    cosine = fitted(refit=False).report.history
    assert [row["lr"] for row in cosine] == pytest.approx(
        [RATE * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * (1 + math.cos(math.pi * e / 5)) / 2)
         for e in range(len(cosine))])
    plateau = fitted(refit=False, lr_schedule="plateau").report.history
    best = math.inf
    for row, after in zip(plateau, plateau[1:], strict=False):
        improved = row["val_loss"] < best * (1 - 1e-4)  # ReduceLROnPlateau's default threshold
        best = min(best, row["val_loss"])
        expected = row["lr"] if improved else max(row["lr"] / 2, RATE * MIN_LR_FRACTION)
        assert after["lr"] == pytest.approx(expected)


class RateRecorder(Callback):
    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_a_refit_replays_the_rates_of_the_epochs_it_trains():
    model = fitted(refit=False, lr_schedule="plateau")
    report = model.report
    assert report.kept_rates == [row["lr"] for row in report.history[: report.best_epochs]]
    replay = [RATE, RATE / 2, RATE / 4]
    recorder = RateRecorder()
    prepared = with_validation_in_training(model.prepared)
    module = training_module(model.predictor, model.config, prepared, lr_replay=replay)
    data = WindowDataModule(prepared, model.config.data, model.predictor.keys_for(prepared.panel))
    fit_module(module, data, model.config.trainer, [recorder], epochs=len(replay))
    assert recorder.rates == pytest.approx(replay)


def test_a_plateau_model_refits_for_its_best_epochs():
    report = fitted(lr_schedule="plateau").report
    assert report.refit_epochs == report.best_epochs


def test_an_unknown_schedule_is_refused_by_name():
    values = tiny_config_values()
    values["trainer"]["lr_schedule"] = "step"
    with pytest.raises(ConfigError, match="lr_schedule"):
        build_config(values)
