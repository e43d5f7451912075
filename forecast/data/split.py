"""Time-ordered train / validation / test boundaries for one series."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SeriesTooShortError


@dataclass(frozen=True)
class SplitBounds:
    """Targets of split k lie in [start, end); inputs may reach back `lookback` before start."""

    train_end: int  # == validation start
    val_end: int  # == test start
    length: int


def split_bounds(
    unique_id: str, length: int, lookback: int, horizon: int, val_size: int, test_size: int
) -> SplitBounds:
    val_end = length - test_size
    train_end = val_end - val_size
    needed = lookback + horizon + val_size + test_size
    if train_end < lookback + horizon:
        raise SeriesTooShortError(
            unique_id, length, needed, "lookback + horizon + validation + test steps"
        )
    if val_size < horizon or test_size < horizon:
        raise SeriesTooShortError(unique_id, min(val_size, test_size), horizon, "horizon steps")
    return SplitBounds(train_end=train_end, val_end=val_end, length=length)
