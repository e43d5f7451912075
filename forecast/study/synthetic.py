"""A long-range dependency task: reproduce the value of a marked event seen exactly d steps ago.

Every other step carries a random distractor value, so the only way to the target is to carry
(RNN) or fetch (attention) the marked value across d steps.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from ..windows import Batch

MARGIN = 16  # steps after the event, so every model sees some input after it


def dependency_length(distance: int) -> int:
    """Lookback that puts the event exactly `distance` steps before the first forecast step."""
    return distance + MARGIN


def make_dependency_batch(n: int, distance: int, generator: torch.Generator) -> Batch:
    """past (n, L, 2): [value, marker]; target (n, 1) = value at index L - distance."""
    length = dependency_length(distance)
    values = torch.randn(n, length, generator=generator)
    marker = torch.zeros(n, length)
    event = length - distance  # first forecast step is index `length`
    marker[:, event] = 1.0
    past = torch.stack([values, marker], dim=-1)  # (n, L, 2)
    return Batch(
        past=past,
        future=torch.zeros(n, 1, 0),
        static=torch.zeros(n, 0),
        target=values[:, event : event + 1].clone(),  # (n, 1)
        loc=torch.zeros(n),
        scale=torch.ones(n),
        series=torch.zeros(n, dtype=torch.long),
        start=torch.full((n,), length),
        key=torch.zeros(n, dtype=torch.long),
    )


class DependencyStream(torch.utils.data.IterableDataset):
    """Fresh batches (`batches` of them, or forever): the task cannot be memorised, only solved."""

    def __init__(self, distance: int, batch_size: int, seed: int, batches: int | None = None):
        self.distance, self.batch_size, self.seed, self.batches = (
            distance, batch_size, seed, batches)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed)
        count = 0
        while self.batches is None or count < self.batches:
            count += 1
            yield make_dependency_batch(self.batch_size, self.distance, generator)


class DependencyData(pl.LightningDataModule):
    """One epoch of `steps` fresh training batches and a fixed validation batch, so the task
    trains through the library's `fit_module` like any forecaster."""

    def __init__(self, distance: int, batch_size: int, steps: int, seed: int, n_val: int = 64):
        super().__init__()
        self.train_stream = DependencyStream(distance, batch_size, seed, steps)
        self.val_batch = make_dependency_batch(n_val, distance,
                                               torch.Generator().manual_seed(seed + 1))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_stream, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([self.val_batch], batch_size=None)
