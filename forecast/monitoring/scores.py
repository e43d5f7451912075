"""Live scores: served forecasts joined with the actuals that arrived, scored as in training
(MAE, MASE with the series' training scale, interval coverage and width, weighted quantile
loss), overall, by horizon step, per series and per day of origin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics import quantile_metrics

# columns of a joined frame (ForecastLog.joined); quantile columns are named by level ("0.1")
JOINED = ("model_name", "model_version", "unique_id", "origin", "ds", "step", "median", "y",
          "scale", "mase_scale", "train_mean")


def level_columns(frame: pd.DataFrame) -> list[str]:
    out = []
    for c in frame.columns:
        try:
            float(c)
        except (TypeError, ValueError):
            continue
        out.append(c)
    return sorted(out, key=float)


def score_rows(frame: pd.DataFrame) -> dict[str, float]:
    """One set of scores for the rows of `frame` (one model version)."""
    if frame.empty:
        return {"n": 0}
    error = np.abs(frame["y"].to_numpy() - frame["median"].to_numpy())
    scores = {"n": len(frame), "mae": float(error.mean()),
              "mase": float(np.mean(error / frame["mase_scale"].to_numpy()))}
    levels = level_columns(frame)
    if levels:
        values = frame[levels].to_numpy(dtype=np.float64)[:, None, :]  # (N, 1, Q)
        quantile = quantile_metrics(frame["y"].to_numpy()[:, None], values,
                                    [float(q) for q in levels])
        scores.update({k: v for k, v in quantile.items() if k != "crps"})
    return scores


@dataclass
class LiveScores:
    overall: dict[str, float]
    by_step: pd.DataFrame  # one row per horizon step
    by_series: pd.DataFrame  # one row per unique_id
    by_day: pd.DataFrame  # one row per calendar day of origin: the history MLflow draws


def _grouped(frame: pd.DataFrame, key) -> pd.DataFrame:
    rows = [{"key": k, **score_rows(g)} for k, g in frame.groupby(key, sort=True)]
    return pd.DataFrame(rows)


def live_scores(joined: pd.DataFrame) -> LiveScores:
    """Scores of one model version's scored forecasts (`joined`: forecasts with actuals)."""
    by_day = _grouped(joined, pd.to_datetime(joined["origin"]).dt.floor("D")) \
        if len(joined) else pd.DataFrame()
    return LiveScores(score_rows(joined),
                      _grouped(joined, "step").rename(columns={"key": "step"}) if len(joined)
                      else pd.DataFrame(),
                      _grouped(joined, "unique_id").rename(columns={"key": "unique_id"})
                      if len(joined) else pd.DataFrame(),
                      by_day.rename(columns={"key": "day"}))
