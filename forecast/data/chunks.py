"""Large Parquet panels, read a piece at a time: each piece holds whole series, so the
panel is built without ever holding the file as one DataFrame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ..errors import DataValidationError, MissingColumnError


def parquet_rows(path: str | Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def parquet_lengths(path: str | Path, id_column: str | None, default_id: str) -> dict[str, int]:
    """Rows per series, from the id column alone (how the split is fitted before any piece
    of the file is prepared)."""
    if id_column is None:
        return {default_id: parquet_rows(path)}
    counts = pq.read_table(path, columns=[id_column]).column(0).to_pandas().astype(str)
    return {str(k): int(v) for k, v in counts.value_counts(sort=False).items()}


def parquet_columns(path: str | Path) -> list[str]:
    return pq.ParquetFile(path).schema_arrow.names


def parquet_head(path: str | Path, rows: int = 10_000) -> pd.DataFrame:
    """The file's first rows: enough to tell its columns apart by their values."""
    batches = pq.ParquetFile(path).iter_batches(batch_size=rows)
    return next(batches).to_pandas()


def parquet_pieces(path: str | Path, columns: list[str], id_column: str | None,
                   rows: int = 2_000_000) -> Iterator[pd.DataFrame]:
    """Pieces of about `rows` rows, only `columns`, each with every row of its series. The
    rows of a series must be together in the file (sorted by id, or written series by
    series); a series that comes back after others is an error naming it."""
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    missing = [c for c in columns if c not in names]
    if missing:
        raise MissingColumnError(missing[0], names)
    finished: set[str] = set()
    carry: pd.DataFrame | None = None
    for batch in file.iter_batches(batch_size=rows, columns=columns):
        frame = batch.to_pandas()
        frame = frame if carry is None else pd.concat([carry, frame], ignore_index=True)
        if id_column is None:  # one series: it is complete only at the end of the file
            carry = frame
            continue
        ids = frame[id_column].astype(str)
        last = ids.iloc[-1]
        carry, complete = frame[ids == last], frame[ids != last]
        if len(complete):
            yield _checked(complete, id_column, finished)
    if carry is not None and len(carry):
        yield _checked(carry, id_column, finished)


def _checked(piece: pd.DataFrame, id_column: str | None, finished: set[str]) -> pd.DataFrame:
    if id_column is None:
        return piece
    ids = set(piece[id_column].astype(str).unique())
    again = sorted(ids & finished)
    if again:
        raise DataValidationError(
            f"rows of series '{again[0]}' are not together in the file: a large Parquet file "
            "is read a piece at a time, so each series' rows must be contiguous (sort the file "
            "by series, or write it series by series)", "unique_id")
    finished |= ids
    return piece
