"""Which data: validate the frame, split it in time, scale on train, serve windows to Lightning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
from torch.utils.data import DataLoader

from .config import DataSettings
from .data.chunks import parquet_columns, parquet_pieces, parquet_rows
from .data.loading import load_frame, to_long_format
from .data.panel import FeatureSpec, Panel, PanelAccumulator, build_panel
from .data.split import SplitBounds, split_bounds
from .data.validation import validate_frame
from .errors import DataValidationError
from .windows import Split, WindowDataset, split_dataset, split_step, window_loader


@dataclass
class PreparedData:
    frame: pd.DataFrame | None  # None when a large file was read a piece at a time
    panel: Panel
    bounds: list[SplitBounds]


def feature_spec(settings: DataSettings, freq: str) -> FeatureSpec:
    return FeatureSpec(
        freq=freq,
        past_covariates=tuple(settings.past_covariates),
        future_covariates=tuple(settings.future_covariates),
        static_covariates=tuple(settings.static_covariates),
        calendar=tuple(settings.calendar),
    )


def _covariate_columns(settings: DataSettings) -> list[str]:
    return [*settings.past_covariates, *settings.future_covariates, *settings.static_covariates]


def _prepare_long(settings: DataSettings, long: pd.DataFrame, freq: str | None
                  ) -> tuple[pd.DataFrame, Panel, list[SplitBounds]]:
    """Validate, split and scale one long frame (statistics from each series' training
    part only)."""
    clean, freq = validate_frame(long, _covariate_columns(settings), freq, settings.fill)
    spec = feature_spec(settings, freq)
    bounds = {
        str(uid): split_bounds(
            str(uid), len(group), settings.lookback, settings.horizon,
            settings.val_size, settings.test_size,
        )
        for uid, group in clean.groupby("unique_id", sort=False)
    }
    fit_until = {uid: b.train_end for uid, b in bounds.items()}
    panel = build_panel(clean, spec, fit_until=fit_until, season=settings.season)
    return clean, panel, [bounds[s.unique_id] for s in panel.series]


def prepare_data(settings: DataSettings, frame: pd.DataFrame | None = None) -> PreparedData:
    """Load, validate, split and scale. A Parquet file of more than `data.in_memory_rows`
    rows is read and prepared a piece of whole series at a time, and no DataFrame of it is
    kept: memory is the float32 panel."""
    if frame is None and settings.path and Path(settings.path).suffix in (".parquet", ".pq") \
            and parquet_rows(settings.path) > settings.in_memory_rows:
        return _prepare_pieces(settings)
    clean, panel, bounds = _prepare_long(settings, load_frame(settings, frame), settings.freq)
    return PreparedData(clean, panel, bounds)


def _prepare_pieces(settings: DataSettings) -> PreparedData:
    names = settings.columns
    present = parquet_columns(settings.path)
    id_column = names.unique_id if names.unique_id and names.unique_id in present else None
    columns = [c for c in (id_column, names.ds, names.y, *_covariate_columns(settings)) if c]
    whole: PanelAccumulator | None = None
    bounds: list[SplitBounds] = []
    freq = settings.freq
    rows = min(settings.in_memory_rows, 1_000_000)  # per piece: bounds validation's copies
    for piece in parquet_pieces(settings.path, columns, id_column, rows):
        _, panel, piece_bounds = _prepare_long(settings, to_long_format(piece, settings), freq)
        freq = panel.spec.freq  # every later piece is held to the first piece's frequency
        whole = whole or PanelAccumulator(panel.spec, parquet_rows(settings.path))
        whole.add(panel)
        bounds += piece_bounds
    if whole is None:
        raise DataValidationError(f"{settings.path} has no rows; expected at least one series")
    return PreparedData(None, whole.panel(), bounds)


class WindowDataModule(pl.LightningDataModule):
    def __init__(self, prepared: PreparedData, settings: DataSettings,
                 keys: np.ndarray | None = None):
        super().__init__()
        self.prepared, self.settings, self.keys = prepared, settings, keys

    def dataset(self, split: Split, step: int | None = None) -> WindowDataset:
        default = split_step(split, self.settings.horizon, self.settings.window_step)
        return split_dataset(
            self.prepared.panel, self.prepared.bounds, split,
            self.settings.lookback, self.settings.horizon, step or default, self.keys,
        )

    def _loader(self, split: Split, shuffle: bool) -> DataLoader:
        return window_loader(self.dataset(split), self.settings.batch_size, shuffle,
                             self.settings.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
