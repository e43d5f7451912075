"""PNG plots people would rather look at than tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from forecast.evaluation import WindowForecasts  # noqa: E402
from forecast.models import get_family  # noqa: E402


def save_figure(fig, path: Path) -> Path:
    """The one way a figure is written: tight layout, 110 dpi PNG, figure closed."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def forecast_vs_actual(frame: pd.DataFrame, path: Path, title: str, days: int = 14) -> Path:
    """Line plot of the last `days` of test forecasts against the actual values."""
    tail = frame.sort_values("ds").groupby("unique_id").tail(days * 48)
    fig, ax = plt.subplots(figsize=(11, 4))
    for uid, group in tail.groupby("unique_id"):
        ax.plot(group["ds"], group["actual"], color="black", lw=1, label=f"{uid} actual")
        ax.plot(group["ds"], group["forecast"], lw=1, label=f"{uid} forecast")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.autofmt_xdate()
    return save_figure(fig, path)


def residuals(frame: pd.DataFrame, path: Path, title: str) -> Path:
    error = frame["actual"] - frame["forecast"]
    step_mae = frame.assign(err=error.abs()).groupby("step")["err"].mean()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.hist(error, bins=60, color="tab:blue")
    left.set_title("residual distribution")
    right.plot(step_mae.index + 1, step_mae.values, marker=".")
    right.set_title("MAE by forecast step")
    right.set_xlabel("steps ahead")
    fig.suptitle(title)
    return save_figure(fig, path)


def comparison_bars(table: pd.DataFrame, metric: str, path: Path) -> Path:
    ordered = table.sort_values(metric)
    fig, ax = plt.subplots(figsize=(8, 4))
    colors = ["tab:blue" if get_family(m).neural else "tab:gray" for m in ordered["model"]]
    ax.bar(ordered["model"], ordered[metric], color=colors)
    for i, value in enumerate(ordered[metric]):
        ax.text(i, value, f"{value:.1f}" if value > 10 else f"{value:.3f}", ha="center",
                va="bottom", fontsize=8)
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"Models on the same test window ({metric}, lower is better)")
    return save_figure(fig, path)


def as_long_frame(forecasts: WindowForecasts, point: int) -> pd.DataFrame:
    """Window forecasts (N, H, Q) into rows of unique_id, ds, step, forecast, actual."""
    n, h = forecasts.actual.shape
    panel = forecasts.panel
    rows = {
        "unique_id": np.repeat([panel.series[i].unique_id for i in forecasts.series], h),
        "ds": np.concatenate([panel.series[s].ds[t:t + h]
                              for s, t in zip(forecasts.series, forecasts.starts, strict=True)]),
        "step": np.tile(np.arange(h), n),
        "forecast": forecasts.forecast[..., point].reshape(-1),
        "actual": forecasts.actual.reshape(-1),
    }
    return pd.DataFrame(rows)
