"""Which data: validate the frame, split it in time, scale on train, serve windows to Lightning."""

from __future__ import annotations

from dataclasses import dataclass

import lightning.pytorch as pl
import pandas as pd
from torch.utils.data import DataLoader

from .config import DataSettings
from .data.loading import load_frame
from .data.panel import FeatureSpec, Panel, build_panel
from .data.split import SplitBounds, split_bounds
from .data.validation import validate_frame
from .windows import Split, WindowDataset, split_dataset, split_step


@dataclass
class PreparedData:
    frame: pd.DataFrame
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


def prepare_data(settings: DataSettings, frame: pd.DataFrame | None = None) -> PreparedData:
    """Load, validate, split and scale (statistics from each series' training part only)."""
    long = load_frame(settings, frame)
    columns = [*settings.past_covariates, *settings.future_covariates, *settings.static_covariates]
    clean, freq = validate_frame(long, columns, settings.freq, settings.fill)
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
    return PreparedData(clean, panel, [bounds[s.unique_id] for s in panel.series])


class WindowDataModule(pl.LightningDataModule):
    def __init__(self, prepared: PreparedData, settings: DataSettings):
        super().__init__()
        self.prepared, self.settings = prepared, settings

    def dataset(self, split: Split, step: int | None = None) -> WindowDataset:
        default = split_step(split, self.settings.horizon, self.settings.window_step)
        return split_dataset(
            self.prepared.panel, self.prepared.bounds, split,
            self.settings.lookback, self.settings.horizon, step or default,
        )

    def _loader(self, split: Split, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.dataset(split),
            batch_size=self.settings.batch_size,
            shuffle=shuffle,
            num_workers=self.settings.num_workers,
            persistent_workers=self.settings.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
