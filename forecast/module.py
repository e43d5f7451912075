"""The LightningModule: what to optimise. No loop code: Trainer and callbacks run it."""

from __future__ import annotations

from functools import partial

import lightning.pytorch as pl
import torch
from torch import nn

from .calibration import non_crossing
from .metrics import pinball_loss, point_index
from .models.base import Copies
from .windows import Batch

MIN_LR_FRACTION = 0.05  # both schedules end no lower than this share of the learning rate

POINT_LOSSES = {  # per element: `ForecastModule.loss` averages them per window, then weighs
    "mse": partial(nn.functional.mse_loss, reduction="none"),
    "mae": partial(nn.functional.l1_loss, reduction="none"),
    "huber": partial(nn.functional.huber_loss, reduction="none"),  # delta 1: MSE near, MAE far
}


class ForecastModule(pl.LightningModule):
    def __init__(
        self,
        model: nn.Module,
        quantiles: list[float],
        loss: str | None = None,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        max_epochs: int = 10,
        scale_unit: float | None = None,
        scale_power: float = 1.0,
        lr_schedule: str = "cosine",
        lr_replay: list[float] | None = None,
    ):
        super().__init__()
        self.model = model
        # the levels the head emits: none for a point loss (quantiles come from calibration)
        self.loss_name = loss or ("pinball" if quantiles else "mse")
        self.quantiles = list(quantiles) if self.loss_name == "pinball" else []
        self.register_buffer("quantile_tensor", torch.tensor(self.quantiles or [0.5]),
                             persistent=False)
        self.learning_rate, self.weight_decay, self.max_epochs = (
            learning_rate, weight_decay, max_epochs)
        self.point = point_index(self.quantiles)
        # loss_weighting "scale"/"sqrt": a window counts in proportion to its series' training
        # spread to this power, over this unit (the panel's mean of it); None: all the same
        self.scale_unit, self.scale_power = scale_unit, scale_power
        # trainer.lr_schedule; a refit, which has no validation to watch, replays the rate
        # each epoch of the first fit had instead (`lr_replay`, one rate per epoch)
        self.lr_schedule, self.lr_replay = lr_schedule, lr_replay

    def forward(self, batch: Batch) -> torch.Tensor:
        return non_crossing(self.model(batch))

    def loss(self, pred: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The training loss in scaled units; with a `scale_unit`, each window weighted by
        its series' spread (power 1: the panel's loss in the data's own units) or a power of
        it (0.5: between that and every series alike)."""
        target = batch["target"]
        if self.quantiles:
            per_window = pinball_loss(pred, target, self.quantile_tensor, reduce=False)
        else:
            per_window = POINT_LOSSES[self.loss_name](pred[..., 0], target).mean(dim=1)
        if self.scale_unit is None:
            return per_window.mean()
        return (per_window * batch["scale"] ** self.scale_power / self.scale_unit).mean()

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        """The batch's loss; for `model.copies`, the mean of each copy's own loss, so every
        copy learns as if alone (no copy is trained to make up for another)."""
        if isinstance(self.model, Copies):
            loss = torch.stack([self.loss(non_crossing(out), batch)
                                for out in self.model.each(batch)]).mean()
        else:
            loss = self.loss(self(batch), batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(batch["target"]), sync_dist=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        pred = self(batch)
        n = len(batch["target"])
        # reduced across ranks in a distributed run, so early stopping sees the whole split
        self.log("val_loss", self.loss(pred, batch), prog_bar=True, batch_size=n,
                 sync_dist=True)
        # MAE on the original scale, comparable across runs and with the test metrics
        error = (pred[..., self.point] - batch["target"]) * batch["scale"][:, None]
        self.log("val_mae", error.abs().mean(), prog_bar=True, batch_size=n, sync_dist=True)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        floor = self.learning_rate * MIN_LR_FRACTION
        if self.lr_replay:
            rates = self.lr_replay
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda epoch: rates[min(epoch, len(rates) - 1)] / self.learning_rate)
        elif self.lr_schedule == "plateau":
            # halve after each epoch without a better validation loss (patience 0): early
            # stopping's patience then counts halvings that did not help
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=0.5, patience=0, min_lr=floor)
            return {"optimizer": optimizer, "lr_scheduler": {
                "scheduler": scheduler, "interval": "epoch", "monitor": "val_loss"}}
        else:
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=max(self.max_epochs, 1), eta_min=floor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
