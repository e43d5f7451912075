"""Which columns of a user's file are the timestamp, the target and the series id when the
file does not use the configured names (by default the contract's `unique_id`, `ds`, `y`).

A file exported from a spreadsheet or a database names them `date`, `sales`, `store`; when
exactly one column fits, it is read as that column and a note says so, so the file trains as
it is. When several fit, the error names them and the key that chooses (`--set
data.columns.y=...`). Nothing is guessed between equals: a file with two numeric columns and
no `y` has no target until the user names it.
"""

from __future__ import annotations

import re

import pandas as pd

from ..config import ColumnNames, DataSettings
from ..errors import DataValidationError, MissingColumnError
from .validation import parse_timestamps

# a column so named (case, spaces and punctuation aside) holds the timestamps
TIME_NAMES = frozenset({
    "ds", "date", "datetime", "dateandtime", "time", "timestamp", "period", "hour", "day",
    "week", "month", "quarter", "year", "yearmonth", "yearquarter", "yearweek"})
SAMPLE_ROWS = 50  # values parsed to tell a timestamp column from text


def _plain(name: object) -> str:
    return re.sub(r"[^a-z]", "", str(name).lower())


def _is_text(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
                or pd.api.types.is_datetime64_any_dtype(values))


def _parses_as_time(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    sample = values.dropna().head(SAMPLE_ROWS)
    if sample.empty or not _is_text(sample):
        return False  # numbers are timestamps only under a time name (a year column)
    try:
        parse_timestamps(sample.astype(str))
    except DataValidationError:
        return False
    return True


def timestamp_candidates(frame: pd.DataFrame, taken: set[str]) -> list[str]:
    """Columns named as times; if none is, the columns whose values parse as timestamps."""
    free = [c for c in frame.columns if c not in taken]
    named = [c for c in free if _plain(c) in TIME_NAMES]
    return named or [c for c in free if _parses_as_time(frame[c])]


def target_candidates(frame: pd.DataFrame, taken: set[str]) -> list[str]:
    return [c for c in frame.columns if c not in taken
            and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def _alike(frame: pd.DataFrame, first: str, other: str) -> bool:
    """Whether two columns split the rows alike (an id and its label)."""
    return (frame.groupby(first)[other].nunique().max() == 1
            and frame.groupby(other)[first].nunique().max() == 1)


def id_candidates(frame: pd.DataFrame, ds: str, taken: set[str]) -> list[str]:
    """Text columns that make each (column, timestamp) pair unique: series ids. Several
    that split the rows alike (an id and its label) count as one, the first in the file."""
    found = [c for c in frame.columns if c not in taken and _is_text(frame[c])
             and not frame.duplicated([c, ds]).any()]
    if len(found) > 1 and all(_alike(frame, found[0], c) for c in found[1:]):
        return found[:1]
    return found


def composite_key(frame: pd.DataFrame, ds: str, taken: set[str]) -> list[str]:
    """The text columns that key the series together (state, gender, legal status), as
    tsibble's keys do: all of them when they make (key, timestamp) unique, less any the
    others already decide (a code's description); empty when even all of them do not."""
    key = [c for c in frame.columns if c not in taken and _is_text(frame[c])]
    if len(key) < 2 or frame.duplicated([*key, ds]).any():
        return []
    for column in reversed(key):  # drop what the rest already tells apart
        rest = [c for c in key if c != column]
        if len(rest) >= 1 and not frame.duplicated([*rest, ds]).any():
            key = rest
    return key


WIDE_HINT = "or, for a table with one column per series, --set data.layout=wide"


def rename_fix(keys: list[str]) -> str:
    """The CLI fix for a timestamp or target (`keys` among ds, y) the file names otherwise;
    a missing target is also how a wide table read as long looks, so that fix joins it."""
    fix = " and ".join(f"--set data.columns.{key}=COLUMN" for key in keys)
    return fix + (f", {WIDE_HINT}" if "y" in keys else "")


def _quoted(column: str | list[str]) -> str:
    return f"'{column}'" if isinstance(column, str) else \
        "the columns " + " + ".join(f"'{c}'" for c in column) + " together"


def _candidates_text(found: list[str]) -> str:
    return f" (columns that could be it: {', '.join(map(str, found))})" if found else ""


def resolve_columns(frame: pd.DataFrame, settings: DataSettings
                    ) -> tuple[DataSettings, list[str]]:
    """`settings` naming the columns this file holds for the timestamp, target and series id,
    and one note per column read from the file's names and types (none when the file uses
    the configured names). Refused, naming the candidates, when several columns fit."""
    names = settings.columns
    covariates = {*(settings.past_covariates or []), *(settings.future_covariates or []),
                  *(settings.static_covariates or [])}
    found: dict[str, str | list[str]] = {}
    ds = names.ds
    if ds not in frame.columns:
        fits = timestamp_candidates(frame, covariates | {names.y, *names.id_columns})
        if len(fits) != 1:
            raise MissingColumnError(ds, list(frame.columns), group="ds",
                                     fix=f"name the timestamp column: {rename_fix(['ds'])}"
                                     + _candidates_text(fits))
        ds = found["ds"] = str(fits[0])
    if settings.layout == "long":
        if names.y not in frame.columns:
            fits = target_candidates(frame, covariates | {ds, *names.id_columns})
            if len(fits) != 1:
                raise MissingColumnError(names.y, list(frame.columns), group="y",
                                         fix=f"name the target column: {rename_fix(['y'])}"
                                         + _candidates_text(fits))
            found["y"] = str(fits[0])
        if names.unique_id == ColumnNames().unique_id and names.unique_id not in frame.columns \
                and frame[ds].duplicated().any():  # several series without an id column
            taken = covariates | {ds, found.get("y", names.y)}
            fits = id_candidates(frame, ds, taken)
            if len(fits) > 1:
                raise MissingColumnError(
                    names.unique_id, list(frame.columns), group="unique_id",
                    fix="the file has several rows per timestamp: name the series id column: "
                        "--set data.columns.unique_id=COLUMN" + _candidates_text(fits))
            if fits:
                found["unique_id"] = str(fits[0])
            elif key := composite_key(frame, ds, taken):
                found["unique_id"] = [str(c) for c in key]
            # else one series with repeated timestamps, refused as such later
    if not found:
        return settings, []
    what = {"ds": "timestamp", "y": "target", "unique_id": "series id"}
    note = ("columns read from the file's names and types: "
            + ", ".join(f"{what[key]} {_quoted(column)} (data.columns.{key})"
                        for key, column in found.items())
            + "; set those keys to choose others")
    return settings.model_copy(update={"columns": names.model_copy(update=found)}), [note]
