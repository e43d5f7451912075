"""Sliding windows that index into one shared tensor, and the batch every model consumes."""

from __future__ import annotations

from typing import Literal, TypedDict

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .data.calendar import calendar_from_ns
from .data.panel import Panel
from .data.split import SplitBounds

Split = Literal["train", "val", "test"]


class Batch(TypedDict):
    """The one batch contract (NeuralForecast-style) shared by every model."""

    past: torch.Tensor  # (B, L, F) all step features over the lookback; column 0 is scaled y
    future: torch.Tensor  # (B, H, Ff) features known ahead over the horizon
    static: torch.Tensor  # (B, S)
    target: torch.Tensor  # (B, H) scaled y (zeros when unknown, at inference)
    loc: torch.Tensor  # (B,) series mean, to return to the original scale
    scale: torch.Tensor  # (B,) series std
    series: torch.Tensor  # (B,) index of the series in its panel
    start: torch.Tensor  # (B,) index of the first target step in the series
    key: torch.Tensor  # (B,) the series' row in a series embedding (0: unknown / none)


def split_step(split: Split, horizon: int, window_step: int) -> int:
    """Stride between windows: every `window_step` in training, a quarter horizon in
    validation (more origins for early stopping), one horizon in test (no overlap)."""
    return {"train": window_step, "val": max(1, horizon // 4), "test": horizon}[split]


def window_starts(
    bounds: SplitBounds, split: Split, lookback: int, horizon: int, step: int
) -> range:
    """First target index of every window whose targets lie inside `split` (a range: the
    window index of a panel costs a few numbers per series, not one per window)."""
    lo, hi = {
        "train": (lookback, bounds.train_end),
        "val": (bounds.train_end, bounds.val_end),
        "test": (bounds.val_end, bounds.length),
    }[split]
    lo = max(lo, lookback)
    return range(lo, max(lo, hi - horizon + 1), step)


def keep_batch(batch: Batch) -> Batch:
    """The collate function of window loaders: `WindowDataset.__getitems__` already
    returns a whole batch (module level, so worker processes can pickle it)."""
    return batch


class WindowDataset(Dataset):
    """Windows over a panel, fetched a batch at a time: one gather from the panel's float32
    array and the calendar features computed for the batch's timestamps.

    With `jitter` (training) each fetch moves a window's start by a random 0..stride-1 steps
    (never past its series' last window): windows `stride` apart from a series' first start
    would otherwise all fall on the same few phases of its cycle (a stride of 4 in monthly data
    never starts a forecast in January), and a network never trained from the other phases
    forecasts badly from them. Jittered, every origin is drawn about as often (a draw past a
    series' last window lands on it, so that window is drawn a little more often)."""

    def __init__(self, panel: Panel, starts: list[range], lookback: int, horizon: int,
                 keys: np.ndarray | None = None, jitter: bool = False):
        self.panel, self.lookback, self.horizon = panel, lookback, horizon
        # each series' row in the model's series embedding (all 0 without one)
        self.keys = torch.from_numpy(np.zeros(len(panel.series), np.int64) if keys is None
                                     else np.asarray(keys, dtype=np.int64))
        self.n_past_only = panel.spec.n_past_only
        self.calendar = list(panel.spec.calendar)
        self.values = torch.from_numpy(panel.values)
        self.offsets = panel.offsets
        n_static = len(panel.spec.static_covariates)
        self.static = torch.from_numpy(np.stack([s.static for s in panel.series])
                                       if panel.series else np.zeros((0, n_static), np.float32))
        self.loc = torch.tensor([s.stats.y_mean for s in panel.series], dtype=torch.float32)
        self.scale = torch.tensor([s.stats.y_std for s in panel.series], dtype=torch.float32)
        counts = np.array([len(r) for r in starts], dtype=np.int64)
        self.cumulative = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.first = np.array([r.start for r in starts], dtype=np.int64)
        self.stride = np.array([r.step for r in starts], dtype=np.int64)
        # the last valid first-target index of each series (its range's stop is one past it)
        self.last = np.array([max(r.start, r.stop - 1) for r in starts], dtype=np.int64)
        self.jitter = jitter and bool((self.stride > 1).any())
        self.steps = np.arange(-lookback, horizon, dtype=np.int64)  # rows around a target start
        fixed = all(s.stamps is None for s in panel.series)  # calendar freqs store stamps
        self.start_ns = np.array([s.start_ns for s in panel.series], np.int64) if fixed else None
        self.step_ns = np.array([s.step_ns for s in panel.series], np.int64) if fixed else None

    def __len__(self) -> int:
        return int(self.cumulative[-1])

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window numbers -> (series, first target index in the series)."""
        series = np.searchsorted(self.cumulative, indices, side="right") - 1
        return series, self.first[series] + (indices - self.cumulative[series]) * self.stride[series]

    def _timestamps(self, series: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(B, L+H) int64 ns: start + row * step for a fixed step, one array operation."""
        if self.start_ns is not None:
            return self.start_ns[series][:, None] + rows * self.step_ns[series][:, None]
        return np.stack([self.panel.series[s].ns(r) for s, r in zip(series, rows, strict=True)])

    def jittered(self, series: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Starts moved by 0..stride-1 steps, drawn from torch's generator (seeded by
        Lightning's `seed_everything`, and per worker by the DataLoader)."""
        draws = torch.rand(len(starts), dtype=torch.float64).numpy()
        moved = starts + (draws * self.stride[series]).astype(np.int64)
        return np.minimum(moved, self.last[series])

    def __getitems__(self, indices: list[int]) -> Batch:
        series, starts = self.locate(np.asarray(indices, dtype=np.int64))
        if self.jitter:
            starts = self.jittered(series, starts)
        rows = starts[:, None] + self.steps  # (B, L+H) rows within each series
        block = self.values[torch.from_numpy(self.offsets[series][:, None] + rows)]
        if self.calendar:
            calendar = calendar_from_ns(self._timestamps(series, rows), self.calendar)
            block = torch.cat([block, torch.from_numpy(calendar)], dim=-1)
        target_block = block[:, self.lookback:]  # (B, H, F)
        index = torch.from_numpy(series)
        return Batch(
            past=block[:, :self.lookback],  # (B, L, F)
            future=target_block[..., 1 + self.n_past_only:],  # (B, H, Ff)
            static=self.static[index],
            target=target_block[..., 0],
            loc=self.loc[index],
            scale=self.scale[index],
            series=index,
            start=torch.from_numpy(starts),
            key=self.keys[index],
        )

    def __getitem__(self, i: int) -> Batch:
        batch = self.__getitems__([i])
        return Batch(**{k: v[0] for k, v in batch.items()})


def window_loader(dataset: Dataset, batch_size: int, shuffle: bool = False,
                  num_workers: int = 0) -> DataLoader:
    """The one DataLoader over windows (training, evaluation, calibration)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=keep_batch,
                      num_workers=num_workers, persistent_workers=num_workers > 0)


def split_dataset(
    panel: Panel,
    bounds: list[SplitBounds],
    split: Split,
    lookback: int,
    horizon: int,
    step: int,
    keys: np.ndarray | None = None,
    jitter: bool = False,
) -> WindowDataset:
    starts = [window_starts(b, split, lookback, horizon, step) for b in bounds]
    return WindowDataset(panel, starts, lookback, horizon, keys, jitter)
