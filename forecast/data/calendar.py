"""Calendar features derived from timestamps, as sin/cos pairs so midnight sits next to 23:30."""

from __future__ import annotations

import numpy as np
import pandas as pd

_PERIODS = {
    "hour": (lambda ix: ix.hour + ix.minute / 60.0, 24.0),
    "minute": (lambda ix: ix.minute, 60.0),
    "dayofweek": (lambda ix: ix.day_of_week + ix.hour / 24.0, 7.0),
    "dayofyear": (lambda ix: ix.day_of_year - 1, 366.0),
    "month": (lambda ix: ix.month - 1, 12.0),
}


def calendar_feature_names(features: list[str]) -> list[str]:
    return [f"{name}_{part}" for name in features for part in ("sin", "cos")]


def calendar_features(ds: pd.DatetimeIndex, features: list[str]) -> np.ndarray:
    """(T, 2 * len(features)) float32 array of sin/cos encodings."""
    index = pd.DatetimeIndex(ds)
    columns = []
    for name in features:
        value_of, period = _PERIODS[name]
        angle = 2.0 * np.pi * np.asarray(value_of(index), dtype=np.float64) / period
        columns += [np.sin(angle), np.cos(angle)]
    if not columns:
        return np.zeros((len(index), 0), dtype=np.float32)
    return np.stack(columns, axis=1).astype(np.float32)
