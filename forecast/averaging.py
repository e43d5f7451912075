"""`trainer.weight_average_epochs`: validate, keep and serve an exponential moving average of the
weights instead of the last step's, which SGD noise moves around a minimum.

Lightning's `WeightAveraging` keeps the average and swaps it in for validation. Two things are
added here:
- the decay follows the epoch, not the step: the average spans about `epochs` epochs of
  optimiser steps whatever the batch size or data size, and is a plain mean until it has seen
  that many steps (so the first epoch's average is not mostly the initial weights);
- the average stays in the module from validation until the next training epoch starts, so
  the best-epoch checkpoint (saved weights-only, after validation) holds the weights that
  were validated. Lightning writes its averaged state only into full checkpoints.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import WeightAveraging


class EpochEMA(WeightAveraging):
    """An exponential moving average of the weights over about `epochs` epochs of steps."""

    def __init__(self, epochs: float):
        self.epochs, self.span = epochs, 1.0
        self._swapped = False
        # parameters only: the networks' buffers are constants (index tables, positions), and
        # an integer index averaged in floating point can round down to the wrong step
        super().__init__(use_buffers=False, multi_avg_fn=self._average)

    def _average(self, averaged: list[torch.Tensor], current: list[torch.Tensor],
                 num_averaged: torch.Tensor) -> None:
        """One step of the average, in place over a group of parameters: a running mean for
        the first `span` steps, then an EMA whose weights fall by 1/e over `span` steps. The
        count is read once per step, not once per parameter (on a GPU each read waits)."""
        n = float(num_averaged)
        weight = 1.0 - min(1.0 - 1.0 / self.span, n / (n + 1.0))
        for average, value in zip(averaged, current, strict=True):
            average.lerp_(value, weight)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        steps = max(int(trainer.num_training_batches), 1)  # batches per epoch, known by now
        accumulate = max(int(trainer.accumulate_grad_batches), 1)
        self.span = max(1.0, self.epochs * steps / accumulate)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._swapped:  # the last validation's average goes back; training resumes
            self._swap_models(pl_module)
            self._swapped = False

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule
                                  ) -> None:
        if self._average_model is not None and not self._swapped:
            self._swap_models(pl_module)
            self._swapped = True

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule
                                ) -> None:
        """Kept in until the next epoch: the checkpoint saved after validation holds it."""

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._swapped:  # the module already holds the average of the last validation
            self._swap_models(pl_module)
            self._swapped = False
        super().on_train_end(trainer, pl_module)
