"""Sliding windows that index into one shared tensor, and the batch every model consumes."""

from __future__ import annotations

from typing import Literal, TypedDict

import numpy as np
import torch
from torch.utils.data import Dataset

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


def split_step(split: Split, horizon: int, window_step: int) -> int:
    """Stride between windows: every `window_step` in training, a quarter horizon in
    validation (more origins for early stopping), one horizon in test (no overlap)."""
    return {"train": window_step, "val": max(1, horizon // 4), "test": horizon}[split]


def window_starts(
    bounds: SplitBounds, split: Split, lookback: int, horizon: int, step: int
) -> np.ndarray:
    """First target index of every window whose targets lie inside `split`."""
    lo, hi = {
        "train": (lookback, bounds.train_end),
        "val": (bounds.train_end, bounds.val_end),
        "test": (bounds.val_end, bounds.length),
    }[split]
    lo = max(lo, lookback)
    return np.arange(lo, hi - horizon + 1, step, dtype=np.int64)


class WindowDataset(Dataset):
    """Windows over a panel; `__getitem__` slices views of one concatenated tensor, no copies."""

    def __init__(
        self,
        panel: Panel,
        starts: list[np.ndarray],
        lookback: int,
        horizon: int,
    ):
        self.panel, self.lookback, self.horizon = panel, lookback, horizon
        self.n_past_only = panel.spec.n_past_only
        lengths = [len(s.values) for s in panel.series]
        self.offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.values = torch.from_numpy(np.concatenate([s.values for s in panel.series]))
        self.static = torch.from_numpy(np.stack([s.static for s in panel.series]))
        stats = [panel.scaler.stats[s.unique_id] for s in panel.series]
        self.loc = torch.tensor([st.y_mean for st in stats], dtype=torch.float32)
        self.scale = torch.tensor([st.y_std for st in stats], dtype=torch.float32)
        self.series_index = np.concatenate(
            [np.full(len(st), i, dtype=np.int64) for i, st in enumerate(starts)]
        )
        self.starts = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> Batch:
        s, t = int(self.series_index[i]), int(self.starts[i])
        row = int(self.offsets[s]) + t
        target_block = self.values[row : row + self.horizon]  # (H, F)
        return Batch(
            past=self.values[row - self.lookback : row],  # (L, F)
            future=target_block[:, 1 + self.n_past_only :],  # (H, Ff)
            static=self.static[s],
            target=target_block[:, 0],
            loc=self.loc[s],
            scale=self.scale[s],
            series=torch.tensor(s),
            start=torch.tensor(t),
        )


def split_dataset(
    panel: Panel,
    bounds: list[SplitBounds],
    split: Split,
    lookback: int,
    horizon: int,
    step: int,
) -> WindowDataset:
    starts = [window_starts(b, split, lookback, horizon, step) for b in bounds]
    return WindowDataset(panel, starts, lookback, horizon)
