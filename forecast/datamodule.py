"""Which data: validate the frame, split it in time, scale on train, serve windows to Lightning."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
from torch.utils.data import DataLoader

from .config import DataSettings, ForecastConfig
from .data.chunks import parquet_columns, parquet_head, parquet_lengths, parquet_pieces, parquet_rows
from .data.columns import resolve_columns
from .data.defaults import TASK_KEYS, DataProfile, TaskSettings, resolve_task, too_short
from .data.loading import (
    VIC_ELEC_PATCH_LEN,
    VIC_ELEC_PRESET,
    load_vic_elec,
    read_source,
    to_long_format,
)
from .data.panel import FeatureSpec, Panel, PanelAccumulator, build_panel
from .data.split import SplitBounds, split_bounds
from .data.validation import validate_frame
from .errors import DataValidationError, MissingColumnError
from .windows import Split, WindowDataset, split_dataset, split_step, window_loader


@dataclass
class PreparedData:
    frame: pd.DataFrame | None  # None when a large file was read a piece at a time
    panel: Panel
    bounds: list[SplitBounds]
    settings: DataSettings | None = None  # resolved: every task key set
    task: TaskSettings | None = None  # what was resolved, and which values came from the data
    refused: dict[str, str] = field(default_factory=dict)  # series left out, with the reason
    notes: list[str] = field(default_factory=list)  # what validation repaired, one line each


def feature_spec(settings: DataSettings, freq: str) -> FeatureSpec:
    return FeatureSpec(
        freq=freq,
        past_covariates=tuple(settings.past_covariates or ()),
        future_covariates=tuple(settings.future_covariates or ()),
        static_covariates=tuple(settings.static_covariates),
        calendar=tuple(settings.calendar or ()),
        fill=settings.fill,
    )


def given_values(settings: DataSettings, demo: bool = False) -> dict:
    """The data settings as given, with the demo data's preset under them for the demo data
    (no file, no frame); covariates are none unless named."""
    values = settings.model_dump()
    if demo:
        for key, value in VIC_ELEC_PRESET.items():
            values[key] = value if values.get(key) is None else values[key]
    for key in ("past_covariates", "future_covariates"):
        values[key] = values[key] or []
    return values


def _covariate_columns(values: dict) -> list[str]:
    return [*values["past_covariates"], *values["future_covariates"],
            *values["static_covariates"]]


def _validate(long: pd.DataFrame, values: dict, freq: str | None, fill: str, notes: list[str]
              ) -> tuple[pd.DataFrame, str]:
    """validate_frame, with a missing covariate naming the setting that asks for it."""
    try:
        return validate_frame(long, _covariate_columns(values), freq, fill, notes=notes)
    except MissingColumnError as err:
        key = next((k for k in ("past_covariates", "future_covariates", "static_covariates")
                    if err.column in values[k]), None)
        if key is None:
            raise
        rest = [c for c in values[key] if c != err.column]
        raise MissingColumnError(
            err.column, err.available, fix=f"data.{key} names it: add the column, or train "
            f"without it with --set data.{key}=[{','.join(rest)}]") from None


def resolve_settings(settings: DataSettings, profile: DataProfile, patch_len: int | None = None,
                     demo: bool = False) -> tuple[DataSettings, TaskSettings]:
    """`settings` with every task key set: the given ones kept, the others from the data."""
    values = given_values(settings, demo)
    if demo and patch_len is None:
        patch_len = VIC_ELEC_PATCH_LEN
    task = resolve_task(values, profile, patch_len)
    update = {k: getattr(task, k) for k in TASK_KEYS}
    update["calendar"] = list(task.calendar)
    update.update(past_covariates=values["past_covariates"],
                  future_covariates=values["future_covariates"])
    return settings.model_copy(update=update), task


def _refuse_short(clean: pd.DataFrame, task: TaskSettings, freq: str
                  ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Leave out the series too short for the split, each with its reason; an error naming
    the settings that fit when none is left."""
    lengths = clean.groupby("unique_id", sort=False).size()
    short = lengths[lengths < task.needed()]
    if short.empty:
        return clean, {}
    if len(short) == len(lengths):
        raise too_short(str(short.idxmax()), int(short.max()), task, freq)
    refused = {str(uid): str(too_short(str(uid), int(n), task, freq)) for uid, n in short.items()}
    return clean[~clean["unique_id"].isin(short.index)].reset_index(drop=True), refused


def _prepare_long(settings: DataSettings, long: pd.DataFrame, freq: str | None,
                  lengths: dict[str, int] | None = None, patch_len: int | None = None,
                  demo: bool = False) -> PreparedData:
    """Validate, resolve the settings, split and scale one long frame (statistics from each
    series' training part only)."""
    notes: list[str] = []
    clean, freq = _validate(long, given_values(settings, demo), freq, settings.fill, notes)
    resolved, task = resolve_settings(settings, DataProfile(freq, lengths) if lengths
                                      else DataProfile.of(clean, freq), patch_len, demo)
    clean, refused = _refuse_short(clean, task, freq)
    spec = feature_spec(resolved, freq)
    bounds = {
        str(uid): split_bounds(str(uid), len(group), task.lookback, task.horizon,
                               task.val_size, task.test_size)
        for uid, group in clean.groupby("unique_id", sort=False)
    }
    fit_until = {uid: b.train_end for uid, b in bounds.items()}
    panel = build_panel(clean, spec, fit_until=fit_until, season=task.season)
    return PreparedData(clean, panel, [bounds[s.unique_id] for s in panel.series], resolved,
                        task, refused, notes)


def prepare_data(settings: DataSettings, frame: pd.DataFrame | None = None,
                 patch_len: int | None = None) -> PreparedData:
    """Load, validate, resolve the unset settings from the data, split and scale. Series too
    short for the split are left out (`refused`, and a warning). A Parquet file of more than
    `data.in_memory_rows` rows is read and prepared a piece of whole series at a time, and no
    DataFrame of it is kept: memory is the float32 panel."""
    if frame is None and settings.path and Path(settings.path).suffix in (".parquet", ".pq") \
            and parquet_rows(settings.path) > settings.in_memory_rows:
        prepared = _prepare_pieces(settings, patch_len)
    else:
        demo = frame is None and settings.path is None  # vic_elec, with its own preset
        raw, named = read_source(settings, frame), []
        if raw is None:
            long = load_vic_elec()
        else:  # a file or frame may name its columns otherwise
            settings, named = resolve_columns(raw, settings)
            long = to_long_format(raw, settings)
        prepared = _prepare_long(settings, long, settings.freq, patch_len=patch_len, demo=demo)
        prepared.notes[:0] = named
    if prepared.refused:
        warnings.warn(SeriesRefusedWarning(prepared.refused), stacklevel=2)
    return prepared


class SeriesRefusedWarning(UserWarning):
    """Some series were left out of training: too short for the split."""

    def __init__(self, refused: dict[str, str]):
        self.refused = refused
        names = ", ".join(list(refused)[:5]) + (" ..." if len(refused) > 5 else "")
        super().__init__(f"{len(refused)} series left out, too short for the split: {names}; "
                         f"{next(iter(refused.values()))}")


def prepare(config: ForecastConfig, frame: pd.DataFrame | None = None
            ) -> tuple[ForecastConfig, PreparedData]:
    """The data prepared for `config`, and `config` with every setting the data decides set."""
    prepared = prepare_data(config.data, frame, _patch_len(config))
    return resolved_config(config, prepared), prepared


def _patch_len(config: ForecastConfig) -> int | None:
    transformer = getattr(config.model, "transformer", None)
    return getattr(transformer, "patch_len", None)


def resolved_config(config: ForecastConfig, prepared: PreparedData) -> ForecastConfig:
    """`config` with the data settings `prepared` was made with (a no-op when already set)."""
    if prepared.settings is None or prepared.task is None:
        return config
    values = config.model_dump()
    values["data"] = prepared.settings.model_dump()
    values["backtest"]["step"] = values["backtest"]["step"] or prepared.task.horizon
    if "transformer" in values["model"] and values["model"]["transformer"]["patch_len"] is None:
        values["model"]["transformer"]["patch_len"] = prepared.task.patch_len
    return type(config).model_validate(values)


def _prepare_pieces(settings: DataSettings, patch_len: int | None) -> PreparedData:
    settings, named = resolve_columns(parquet_head(settings.path), settings)
    names = settings.columns
    if len(names.id_columns) > 1:
        raise DataValidationError(
            f"{settings.path} is read a piece at a time (over data.in_memory_rows rows), and "
            f"its series are keyed by several columns {names.id_columns}; expected one id "
            f"column there: write their combination as one column", "unique_id")
    present = parquet_columns(settings.path)
    id_column = names.unique_id if names.unique_id and names.unique_id in present else None
    columns = [c for c in (id_column, names.ds, names.y, *_covariate_columns(
        given_values(settings))) if c]
    lengths = parquet_lengths(settings.path, id_column, settings.default_unique_id)
    whole: PanelAccumulator | None = None
    bounds: list[SplitBounds] = []
    refused: dict[str, str] = {}
    notes: list[str] = list(named)
    first: PreparedData | None = None
    for piece in parquet_pieces(settings.path, columns, id_column, min(
            settings.in_memory_rows, 1_000_000)):  # rows per piece: bounds validation's copies
        # every later piece is held to the first piece's frequency and resolved settings
        part = _prepare_long(first.settings if first else settings, to_long_format(
            piece, settings), first.panel.spec.freq if first else settings.freq, lengths,
            patch_len if first is None else first.task.patch_len)
        first = first or part
        whole = whole or PanelAccumulator(part.panel.spec, parquet_rows(settings.path))
        whole.add(part.panel)
        bounds += part.bounds
        refused.update(part.refused)
        notes += part.notes
    if whole is None or first is None:
        raise DataValidationError(f"{settings.path} has no rows; expected at least one series")
    return PreparedData(None, whole.panel(), bounds, first.settings, first.task, refused, notes)


class WindowDataModule(pl.LightningDataModule):
    def __init__(self, prepared: PreparedData, settings: DataSettings,
                 keys: np.ndarray | None = None):
        super().__init__()
        self.prepared, self.settings, self.keys = prepared, settings, keys

    def dataset(self, split: Split, step: int | None = None, jitter: bool = False
                ) -> WindowDataset:
        default = split_step(split, self.settings.horizon, self.settings.window_step)
        return split_dataset(
            self.prepared.panel, self.prepared.bounds, split,
            self.settings.lookback, self.settings.horizon, step or default, self.keys, jitter,
        )

    def _loader(self, split: Split, shuffle: bool) -> DataLoader:
        # training windows shuffled and jittered (every phase of a cycle is trained on)
        jitter = shuffle and self.settings.window_jitter
        return window_loader(self.dataset(split, jitter=jitter), self.settings.batch_size,
                             shuffle, self.settings.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
