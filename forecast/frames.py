"""Long DataFrames in and out of the predictor: one row per series and timestamp."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data.panel import FeatureSpec
from .data.validation import validate_frame
from .inference import SeriesForecast, SeriesInput
from .metrics import point_index


def quantile_label(q: float) -> str:
    return f"{q:g}"


def frame_to_inputs(df: pd.DataFrame, spec: FeatureSpec, horizon: int,
                    future_df: pd.DataFrame | None = None) -> list[SeriesInput]:
    """Split a long frame (and optional future covariates frame) into SeriesInputs."""
    history_columns = [*spec.covariates, *spec.static_covariates]
    clean, _ = validate_frame(df, history_columns, spec.freq)
    future: dict[str, pd.DataFrame] = {}
    if spec.future_covariates and future_df is not None:  # without it: an error per series
        checked, _ = validate_frame(future_df, list(spec.future_covariates), spec.freq,
                                    require_y=False)
        future = {str(k): g for k, g in checked.groupby("unique_id", sort=False)}
    items = []
    for uid, group in clean.groupby("unique_id", sort=False):
        uid = str(uid)
        covariates = {c: group[c].to_numpy(np.float64) for c in spec.past_covariates}
        for c in spec.future_covariates:
            ahead = future.get(uid, pd.DataFrame(columns=["ds", c]))
            ahead = ahead[ahead["ds"] > group["ds"].iloc[-1]].head(horizon)
            covariates[c] = np.concatenate([group[c].to_numpy(np.float64),
                                            ahead[c].to_numpy(np.float64)])
        static = {c: float(group[c].iloc[0]) for c in spec.static_covariates}
        items.append(SeriesInput(uid, pd.DatetimeIndex(group["ds"]),
                                 group["y"].to_numpy(np.float64), covariates, static))
    return items


def forecasts_to_frame(forecasts: list[SeriesForecast], quantiles: list[float]) -> pd.DataFrame:
    """unique_id, ds, mean (the point forecast) and one column per quantile."""
    point = point_index(quantiles)
    frames = []
    for f in forecasts:
        columns = {"unique_id": f.unique_id, "ds": f.ds, "mean": f.values[:, point]}
        for i, q in enumerate(quantiles):
            columns[quantile_label(q)] = f.values[:, i]
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["unique_id", "ds", "mean", *map(quantile_label, quantiles)])
