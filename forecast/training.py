"""How to run: a Lightning Trainer with early stopping, best checkpoint and a Rich progress bar.

`train` is the library's one training function: config + prepared data in, a complete
`Predictor` (with its test metrics) and a report out.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar

from .averaging import EpochEMA
from .config import ForecastConfig, TrainerSettings
from .data.split import SplitBounds
from .datamodule import PreparedData, WindowDataModule
from .errors import ConfigError
from .evaluation import calibrate, evaluate, forecast_split, scores_on_test
from .models import get_family
from .module import ForecastModule
from .predictor import Predictor

SCALE_POWERS = {"equal": 0.0, "sqrt": 0.5, "scale": 1.0}  # model.loss_weighting -> power


def scale_unit(prepared: PreparedData, weighting: str) -> float | None:
    """The panel's mean of its series' training spreads to the weighting's power: the unit of
    `loss_weighting` `scale` and `sqrt`, so the weights average 1 (None: equal)."""
    if weighting == "equal":
        return None
    power = SCALE_POWERS[weighting]
    return float(np.mean([s.stats.y_std ** power for s in prepared.panel.series]))


class EpochTimer(Callback):
    """Wall time of each training epoch, for the benchmarks and the run's metrics."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.durations.append(time.perf_counter() - self._start)


class LossHistory(Callback):
    """Per-epoch train/validation losses and the epoch's learning rate, kept so callers can
    log them anywhere (and a refit can replay the rates)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self._rate = float("nan")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        # read here: Lightning steps a cosine schedule before validation, a plateau one after
        self._rate = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        row = {k: float(v) for k, v in trainer.callback_metrics.items()
               if k in ("train_loss", "val_loss", "val_mae")}
        self.epochs.append({"epoch": trainer.current_epoch, **row, "lr": self._rate})


@dataclass
class SeasonalInputChoice:
    """What `model.rnn.seasonal_input: auto` measured on the validation windows (MAE in the
    data's units) and chose: the input is tried only when the plain network trails seasonal
    naive there, and kept only when it does better than the plain network."""

    without: float  # the plain network's validation MAE
    seasonal_naive: float
    with_input: float | None = None  # None: not tried (the plain network beat seasonal naive)

    @property
    def chosen(self) -> bool:
        return self.with_input is not None and self.with_input < self.without

    def metrics(self) -> dict[str, float]:
        """Named as the run logs them."""
        values = {"val_mae_without_seasonal_input": self.without,
                  "val_mae_seasonal_naive": self.seasonal_naive,
                  "seasonal_input_chosen": float(self.chosen)}
        if self.with_input is not None:
            values["val_mae_with_seasonal_input"] = self.with_input
        return values


@dataclass
class TrainingReport:
    epochs_run: int
    best_val_loss: float
    epoch_seconds: list[float]
    history: list[dict[str, float]] = field(default_factory=list)
    world_size: int = 1  # processes that trained together
    refit_epochs: int | None = None  # trainer.refit: epochs of the second fit, on train + val
    # trainer.refit: the first fit's calibrated forecasts (N, H, Q) of the validation windows
    # and their actuals (N, H), the out-of-sample ones an ensemble's weights are chosen on
    validation: tuple[np.ndarray, np.ndarray] | None = None
    # model.rnn.seasonal_input: auto: the validation MAEs it compared and what it chose
    seasonal_input: SeasonalInputChoice | None = None

    @property
    def kept_epoch(self) -> dict[str, float] | None:
        """The history row of the epoch with the lowest validation loss, whose weights early
        stopping kept; None without validation."""
        scored = [row for row in self.history if "val_loss" in row]
        return min(scored, key=lambda row: row["val_loss"]) if scored else None

    @property
    def best_epochs(self) -> int:
        """Epochs up to and including the kept one: the budget a refit trains for."""
        kept = self.kept_epoch
        return max(self.epochs_run, 1) if kept is None else int(kept["epoch"]) + 1

    @property
    def kept_rates(self) -> list[float]:
        """The learning rate of each epoch up to the kept one: what a refit replays when the
        schedule followed validation (`lr_schedule: plateau`)."""
        return [row["lr"] for row in self.history[: self.best_epochs] if "lr" in row]

    @property
    def best_val_mae(self) -> float:
        """The kept epoch's validation MAE, in the data's units: unlike the loss, it compares
        fits trained with different loss weightings."""
        kept = self.kept_epoch
        return float("nan") if kept is None else kept.get("val_mae", float("nan"))


def is_global_zero() -> bool:
    """False in the worker processes of a distributed run (launched by Lightning's DDP or by
    torchrun): only rank 0 evaluates, writes bundles, logs and registers."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"]) == 0
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def check_devices(settings: TrainerSettings) -> None:
    """On CPU, Lightning starts as many processes as asked; more than the cores is a mistake.
    (GPU counts are Lightning's to check: its message names what is available.)"""
    devices, cores = settings.devices, os.cpu_count() or 1
    if settings.accelerator == "cpu" and isinstance(devices, int) and devices > cores:
        raise ConfigError(f"trainer.devices {devices} exceeds this machine's {cores} CPU cores "
                          "(each device is a training process on CPU)")


def fit_module(module: pl.LightningModule, datamodule: pl.LightningDataModule,
               settings: TrainerSettings, extra_callbacks: list[Callback] | None = None,
               logger=False, epochs: int | None = None) -> TrainingReport:
    """Train with early stopping on val_loss, then load the best weights back into `module`.
    With `epochs` (a refit), train exactly that many epochs without validation and keep the
    last weights: the datamodule's training windows then include the validation part."""
    check_devices(settings)
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    checkpoint = None if epochs else ModelCheckpoint(
        dirpath=settings.checkpoint_dir or tempfile.mkdtemp(prefix="forecast-ckpt-"),
        monitor="val_loss", mode="min", save_top_k=1, save_weights_only=True, filename="best")
    timer, history = EpochTimer(), LossHistory()
    selection: list[Callback] = [] if checkpoint is None else [
        EarlyStopping(monitor="val_loss", mode="min", patience=settings.patience), checkpoint]
    averaging: list[Callback] = ([EpochEMA(settings.weight_average_epochs)]
                                 if settings.weight_average_epochs else [])
    callbacks: list[Callback] = [*selection, *averaging, timer, history, *(extra_callbacks or [])]
    if settings.enable_progress_bar:
        callbacks.append(RichProgressBar(leave=True))
    trainer = pl.Trainer(
        max_epochs=epochs or settings.max_epochs,
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        num_nodes=settings.num_nodes,
        precision=settings.precision,
        gradient_clip_val=settings.gradient_clip_val,
        limit_train_batches=settings.limit_train_batches,
        limit_val_batches=0 if epochs else settings.limit_val_batches,
        callbacks=callbacks,
        logger=logger,
        enable_progress_bar=settings.enable_progress_bar,
        enable_model_summary=False,
        enable_checkpointing=checkpoint is not None,  # a refit keeps its last weights: no files
        num_sanity_val_steps=0,
        deterministic=False,
    )
    trainer.fit(module, datamodule=datamodule)
    # rank 0 wrote the checkpoint and is the only rank that reports, so only it restores it
    if checkpoint is not None and trainer.is_global_zero and checkpoint.best_model_path:
        # the checkpoint holds tensors only (save_weights_only), so weights_only loading works
        state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
        Path(checkpoint.best_model_path).unlink(missing_ok=True)
    best = checkpoint.best_model_score if checkpoint is not None else None
    return TrainingReport(
        epochs_run=trainer.current_epoch,
        best_val_loss=float(best) if best is not None else float("nan"),
        epoch_seconds=timer.durations,
        history=history.epochs,
        world_size=trainer.world_size,
    )


def warm_start_mismatches(init: Predictor, config: ForecastConfig, spec) -> list[str]:
    """What keeps `init`'s weights from fitting the network `config` builds for data of
    `spec`: another family, window, feature set, quantiles or architecture."""
    config = settle_seasonal_input(config, init)
    data, model = config.data, config.model
    pairs = [("model family", init.name, model.name),
             ("data.lookback", init.lookback, data.lookback),
             ("data.horizon", init.horizon, data.horizon),
             ("features", init.spec.feature_names, spec.feature_names),
             ("static covariates", list(init.spec.static_covariates),
              list(spec.static_covariates)),
             ("model.quantiles", list(init.quantiles), list(model.quantiles)),
             ("model.copies", init.copies, model.network_copies)]
    if init.name == model.name and model.family.neural:
        pairs.append((f"model.{model.family.section}", init.architecture.model_dump(),
                      model.architecture.model_dump()))
    return [f"{what}: the version has {old}, the new training {new}"
            for what, old, new in pairs if old != new]


def check_warm_start(init: Predictor, config: ForecastConfig, spec) -> None:
    """ConfigError naming every difference that keeps `init`'s weights from carrying over."""
    mismatches = warm_start_mismatches(init, config, spec)
    if mismatches:
        raise ConfigError("cannot continue training from this version: "
                          + "; ".join(mismatches))


def warm_start(predictor: Predictor, init: Predictor) -> None:
    """Copy `init`'s weights into `predictor`'s network (same family, window and features,
    checked by `warm_start_mismatches`); a series embedding keeps the rows of the series both
    know and learns the rest."""
    source, target = init.network.state_dict(), predictor.network.state_dict()
    for key, tensor in source.items():
        if key not in target:
            continue
        if target[key].shape == tensor.shape:
            target[key] = tensor.clone()
        elif key.endswith("table.weight") and init.series_ids:
            target[key][0] = tensor[0]  # the row of series never seen
            rows = {uid: init.key_of(uid) for uid in init.series_ids}
            for uid, row in rows.items():
                new_row = predictor.key_of(uid)
                if new_row:
                    target[key][new_row] = tensor[row]
        else:
            raise ConfigError(f"the initial weights do not fit: {key} is {tuple(tensor.shape)} "
                              f"in the version and {tuple(target[key].shape)} here")
    predictor.network.load_state_dict(target)


SEASONAL_INPUT = "model.rnn.seasonal_input"


@dataclass
class FirstFit:
    """One candidate's selecting fit: the config it was trained with, the trained predictor,
    a copy of its initial weights for `trainer.refit`, and its report (None for baselines)."""

    config: ForecastConfig
    predictor: Predictor
    refitted: Predictor | None
    report: TrainingReport | None


def seasonal_input_undecided(config: ForecastConfig) -> bool:
    return getattr(config.model.architecture, "seasonal_input", None) == "auto"


def settle_seasonal_input(config: ForecastConfig, init: Predictor | None = None
                          ) -> ForecastConfig:
    """`config` with an `auto` seasonal input settled where there is nothing to choose: the
    version's own value when training continues from it (its weights fit only that network),
    false where the input cannot apply (the `last` decoder, or no season inside the
    lookback). Otherwise `auto` stays for `train` to decide."""
    if not seasonal_input_undecided(config):
        return config
    if init is not None:
        value = getattr(init.architecture, "seasonal_input", False) is True
        return config.with_values({SEASONAL_INPUT: value})
    architecture, data = config.model.architecture, config.data
    if architecture.decoder != "aligned" or not 1 < data.season <= data.lookback:
        return config.with_values({SEASONAL_INPUT: False})
    return config


def train(config: ForecastConfig, prepared: PreparedData,
          callbacks: list[Callback] | None = None, logger=False, init: Predictor | None = None
          ) -> tuple[Predictor, TrainingReport | None]:
    """Fit the configured family on `prepared` and score it on the test windows; with `init`,
    training continues from that model's weights (continued training on newer data).

    Baselines have nothing to learn: they get the scalers and no report.
    """
    config = settle_seasonal_input(config, init)
    if seasonal_input_undecided(config):
        fit = first_fit(config.with_values({SEASONAL_INPUT: False}), prepared, callbacks,
                        logger)
        if fit.report is not None and fit.report.world_size == 1:  # ranks could disagree
            fit = with_seasonal_input_if_better(config, prepared, fit)
    else:
        fit = first_fit(config, prepared, callbacks, logger, init)
    config, predictor, refitted, report = fit.config, fit.predictor, fit.refitted, fit.report
    settings = config.model
    if refitted is not None:  # the callers' callbacks and logger watch the selecting fit only
        refit = fit_network(refitted, config, prepared, WindowDataModule(
            with_validation_in_training(prepared), config.data,
            refitted.keys_for(prepared.panel)), None, False, epochs=report.best_epochs,
            lr_replay=report.kept_rates if config.trainer.lr_schedule == "plateau" else None)
        report.refit_epochs = refit.epochs_run
        refitted.network.eval()
    if not is_global_zero():  # a worker of a distributed run: rank 0 scores and reports
        return refitted or predictor, report
    # the offsets come from the first fit: the refit has seen the validation windows
    predictor = calibrate(predictor, prepared, settings.calibration == "conformal",
                          scale=settings.calibration_scale, median=settings.median_calibrated)
    if refitted is not None:
        windows = forecast_split(predictor, prepared, "val")
        report.validation = (windows.forecast, windows.actual)
        predictor = refitted.with_calibration(predictor.calibration)
    return predictor.with_metrics(scores_on_test(predictor, prepared)), report


def first_fit(config: ForecastConfig, prepared: PreparedData,
              callbacks: list[Callback] | None = None, logger=False,
              init: Predictor | None = None) -> FirstFit:
    """Build the configured network (from `init`'s weights when given) and train it with
    early stopping on the validation windows; with `trainer.refit`, also keep a copy of its
    initial weights for the second fit."""
    data, settings = config.data, config.model
    # seeded before the network is built: its initial weights follow trainer.seed too, so the
    # same config and data give the same model in any process, first fit or tenth
    pl.seed_everything(config.trainer.seed, workers=True, verbose=False)
    predictor = Predictor.build(settings.name, settings.architecture, prepared.panel.spec,
                                prepared.panel.scaler, data.lookback, data.horizon,
                                settings.quantiles, data.season, config.model_dump(),
                                point_head=settings.point_head,
                                series_ids=[s.unique_id for s in prepared.panel.series]
                                if settings.series_embedding else (),
                                embedding_dim=settings.series_embedding,
                                normalization=settings.normalizer,
                                copies=settings.network_copies)
    if init is not None:
        check_warm_start(init, config, prepared.panel.spec)
        warm_start(predictor, init)
    report, refitted = None, None
    if settings.family.neural:
        if config.trainer.refit:  # the same initial weights, before the first fit moves them
            refitted = dataclasses.replace(predictor, network=copy.deepcopy(predictor.network))
        report = fit_network(predictor, config, prepared, WindowDataModule(
            prepared, data, predictor.keys_for(prepared.panel)), callbacks, logger)
    predictor.network.eval()
    return FirstFit(config, predictor, refitted, report)


def seasonal_naive(config: ForecastConfig, prepared: PreparedData) -> Predictor:
    """The yardstick `auto` holds a recurrent network to: last season's values."""
    family = get_family("seasonal_naive")
    data = config.data
    return Predictor.build(family.name, family.config_class(), prepared.panel.spec,
                           prepared.panel.scaler, data.lookback, data.horizon,
                           config.model.quantiles, data.season, point_head=True)


def with_seasonal_input_if_better(config: ForecastConfig, prepared: PreparedData,
                                  plain: FirstFit) -> FirstFit:
    """`model.rnn.seasonal_input: auto` after the plain network's fit: where it trails
    seasonal naive on the validation windows (a season the hidden state does not carry), fit
    the network with the seasonal input from the same seed and keep whichever scores better
    there. Both are the selecting fits, out of sample on validation."""
    without = evaluate(plain.predictor, prepared, "val")["mae"]
    choice = SeasonalInputChoice(without, evaluate(seasonal_naive(config, prepared), prepared,
                                                   "val")["mae"])
    chosen = plain
    if choice.without > choice.seasonal_naive:
        candidate = first_fit(config.with_values({SEASONAL_INPUT: True}), prepared)
        choice.with_input = evaluate(candidate.predictor, prepared, "val")["mae"]
        if choice.chosen:
            chosen = candidate
    chosen.report.seasonal_input = choice
    return chosen


def fit_network(predictor: Predictor, config: ForecastConfig, prepared: PreparedData,
                datamodule: WindowDataModule, callbacks: list[Callback] | None, logger,
                epochs: int | None = None, lr_replay: list[float] | None = None
                ) -> TrainingReport:
    """Train `predictor`'s network in place with the configured loss and schedule (or, for a
    refit, the rates `lr_replay` of the first fit's epochs)."""
    return fit_module(training_module(predictor, config, prepared, lr_replay), datamodule,
                      config.trainer, callbacks, logger, epochs)


def training_module(predictor: Predictor, config: ForecastConfig, prepared: PreparedData,
                    lr_replay: list[float] | None = None) -> ForecastModule:
    """The LightningModule that trains (and validates) `predictor`'s network as configured."""
    settings, trainer = config.model, config.trainer
    return ForecastModule(predictor.network, settings.quantiles, settings.training_loss,
                          trainer.learning_rate, trainer.weight_decay, trainer.max_epochs,
                          scale_unit(prepared, settings.weighting),
                          SCALE_POWERS[settings.weighting], trainer.lr_schedule, lr_replay)


def with_validation_in_training(prepared: PreparedData) -> PreparedData:
    """`prepared` whose training part reaches the test part: a refit's training windows take
    in the validation part (the same scalers: the offsets are in their units)."""
    return dataclasses.replace(prepared, bounds=[
        SplitBounds(train_end=b.val_end, val_end=b.val_end, length=b.length)
        for b in prepared.bounds])
