"""The history file `forecast predict` reads, in the shape the model was trained from: the
same `--set data.layout=...` and `--set data.columns.*=...` that trained on a file read the
next month of it, long or wide, so nobody reshapes or renames a file between the two."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.config import DataSettings, apply_overrides, build_config, parse_override
from forecast.data.columns import rename_fix, resolve_columns
from forecast.data.loading import file_columns, read_data_file, to_long_format
from forecast.data.validation import parse_timestamps
from forecast.errors import ConfigError, DataValidationError

FILE_KEYS = ("layout", "columns", "default_unique_id")  # how a file is laid out, nothing else
CONTRACT = {"long": ("ds", "y"), "wide": ("ds",)}  # what each layout names in the file


def file_settings(overrides: list[str] | None) -> DataSettings:
    """`--set` overrides of the file's shape only: the model fixes the task (lookback,
    covariates, frequency), so any other key is refused rather than silently ignored."""
    refused = [".".join(key) for key, _ in map(parse_override, overrides or [])
               if key[0] != "data" or len(key) < 2 or key[1] not in FILE_KEYS]
    if refused:
        raise ConfigError(f"forecast predict takes --set only for how its file is laid out "
                          f"({', '.join(f'data.{k}' for k in FILE_KEYS)}); {refused} belong to "
                          f"the model and cannot be changed here")
    values = apply_overrides({}, overrides or [])
    return build_config(values).data


def read_history(path: Path, settings: DataSettings, covariates: list[str] | None,
                 columns: list[str] | None = None) -> pd.DataFrame:
    """Long rows (unique_id, ds, y and the covariates). In the wide layout the model's
    `covariates` stay columns shared by every series and every other column is a series;
    in the long one only `columns` (contract names, None = all) are read, so the columns of
    a large file that the model does not read cost nothing. Every one of `columns` missing
    is named in one error, in either layout."""
    whole = None
    if not set(file_names(settings, CONTRACT[settings.layout])) <= set(file_columns(path)):
        settings, whole = named_otherwise(path, settings, covariates)  # as training reads it
    usecols = None
    if settings.layout == "long" and columns is not None:
        usecols = file_names(settings, columns)
    if whole is None:
        frame = read_data_file(path, usecols)
    else:  # read once, whole, to find its columns
        frame = whole if usecols is None else whole[[c for c in usecols if c in whole.columns]]
    shared = settings.model_copy(update={"past_covariates": covariates or [],
                                         "future_covariates": []})
    if usecols is not None:  # long: checked under the file's names, before reshaping
        require_all(path, frame, usecols, settings)
    rows = to_long_format(frame, shared)
    if "ds" in rows.columns:  # period labels (1956 Q1), years and time zones as training reads them
        rows["ds"] = parse_timestamps(rows["ds"])
    if settings.layout == "wide" and columns is not None:  # wide: a covariate lost shows here
        require_all(path, rows, columns, settings)
    return rows


def named_otherwise(path: Path, settings: DataSettings, covariates: list[str] | None
                    ) -> tuple[DataSettings, pd.DataFrame]:
    """The whole file, and `settings` naming its timestamp, target and id columns as training
    found them (`resolve_columns`); `settings` as given when no one column fits, so the
    model's own needs are what the error names."""
    frame = read_data_file(path)
    try:
        found, _ = resolve_columns(frame, settings.model_copy(
            update={"past_covariates": covariates or []}))
    except DataValidationError:
        return settings, frame
    return settings.model_copy(update={"columns": found.columns}), frame


def require_all(path: Path, frame: pd.DataFrame, wanted: list[str],
                settings: DataSettings) -> None:
    """Every column the model reads, all the missing ones in one error; when the timestamp
    or target is among them, the fix for a file whose columns are named otherwise or laid
    out wide, since that, not a lost column, is the usual cause."""
    missing = [c for c in wanted if c not in frame.columns
               and c not in settings.columns.id_columns]  # no id column: one series
    if not missing:
        return
    renames = [key for key in ("ds", "y") if getattr(settings.columns, key) in missing]
    fix = f"; name them with {rename_fix(renames)}" if renames else ""
    if settings.layout == "wide":  # the series are columns: name what the file itself needs
        contract = settings.columns.model_dump()  # unique_id, ds, y: not columns there
        needs = [file_name(settings, "ds"), *[c for c in wanted if c not in contract]]
        layout = "wide layout: the timestamp, these covariates and one column per series"
    else:
        needs, layout = wanted, "long layout: one row per series and timestamp"
    raise DataValidationError(
        f"{path} lacks column(s) {missing}; this model needs {needs} ({layout}); "
        f"found {file_columns(path)}{fix}", missing[0])


def file_name(settings: DataSettings, column: str) -> str:
    """The file's name for the timestamp, the target or a covariate."""
    return settings.columns.model_dump().get(column) or column


def file_names(settings: DataSettings, columns: list[str] | tuple[str, ...]) -> list[str]:
    """The file's columns for contract columns and covariates: the series id may be
    several key columns, or none."""
    return [name for c in columns for name in (
        settings.columns.id_columns if c == "unique_id" else [file_name(settings, c)])]
