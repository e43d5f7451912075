"""PNG plots people would rather look at than tables."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from forecast.evaluation import WindowForecasts  # noqa: E402
from forecast.models import get_family  # noqa: E402

from .files import replaced_atomically  # noqa: E402


def save_figure(fig, path: Path) -> Path:
    """The one way a figure is written: tight layout, 110 dpi PNG, figure closed. Where the
    layout cannot make room (a long title over a short figure, a legend outside the axes)
    matplotlib warns and gives up; the canvas then grows to hold what sticks out instead."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.tight_layout()
    crowded = any("Tight layout not applied" in str(w.message) for w in caught)
    with replaced_atomically(Path(path)) as temporary:  # workers of a study share a plot
        fig.savefig(temporary, dpi=110, bbox_inches="tight" if crowded else None)
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


def bar_color(model: str) -> str:
    """Ensembles green, neural families blue, baselines grey."""
    if model.startswith("ensemble_"):
        return "tab:green"
    return "tab:blue" if get_family(model).neural else "tab:gray"


def comparison_bars(table: pd.DataFrame, metric: str, path: Path) -> Path:
    ordered = table.sort_values(metric)
    fig, ax = plt.subplots(figsize=(8, 4))
    colors = [bar_color(m) for m in ordered["model"]]
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
        "ds": np.concatenate([panel.series[s].ns(np.arange(t, t + h))
                              for s, t in zip(forecasts.series, forecasts.starts, strict=True)]
                             ).view("datetime64[ns]"),
        "step": np.tile(np.arange(h), n),
        "forecast": forecasts.forecast[..., point].reshape(-1),
        "actual": forecasts.actual.reshape(-1),
    }
    return pd.DataFrame(rows)


def reliability_diagram(curves: dict[str, tuple[list[float], np.ndarray]], path: Path,
                        title: str) -> Path:
    """Nominal vs empirical share of actuals below each quantile; on the diagonal is right.
    `curves`: label -> (quantile levels, observed shares)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="gray", lw=1, ls="--", label="perfectly calibrated")
    for label, (levels, hits) in curves.items():
        ax.plot(levels, hits, marker="o", lw=1.5, label=label)
    ax.set_xlabel("nominal quantile level")
    ax.set_ylabel("share of actuals at or below it")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)


def fan_chart(forecasts: WindowForecasts, quantiles: list[float], path: Path, title: str,
              window: int = -1, history: int = 96) -> Path:
    """One test window: the last `history` actuals, the median and the central intervals
    the model serves, shaded from the widest to the narrowest."""
    s, t = int(forecasts.series[window]), int(forecasts.starts[window])
    series = forecasts.panel.series[s]
    horizon = forecasts.actual.shape[1]
    past = slice(max(0, t - history), t)
    ahead = series.ds[t:t + horizon]
    values = forecasts.forecast[window]  # (H, Q)
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(series.ds[past], series.y[past], color="black", lw=1, label="history")
    ax.plot(ahead, forecasts.actual[window], color="black", lw=1, ls=":", label="actual")
    pairs = [(q, 1 - q) for q in quantiles if q < 0.5 and round(1 - q, 6) in quantiles]
    for i, (lo, hi) in enumerate(sorted(pairs)):
        lower = values[:, quantiles.index(lo)]
        upper = values[:, quantiles.index(round(1 - lo, 6))]
        ax.fill_between(ahead, lower, upper, color="tab:blue", alpha=0.15 + 0.15 * i, lw=0,
                        label=f"{round((hi - lo) * 100)}% interval")
    if 0.5 in quantiles:
        ax.plot(ahead, values[:, quantiles.index(0.5)], color="tab:blue", lw=1.5,
                label="median")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return save_figure(fig, path)


def live_vs_test(days: pd.DataFrame, test_mae: float | None, test_coverage: float | None,
                 path: Path, title: str) -> Path:
    """Live MAE and 80% coverage per day of origin, against the version's test figures."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    day = pd.to_datetime(days["day"])
    left.plot(day, days["mae"], marker="o", label="live MAE")
    if test_mae is not None:
        left.axhline(test_mae, color="grey", linestyle="--", label=f"test MAE {test_mae:.3g}")
    left.set_title("MAE by day of origin")
    left.legend()
    if "coverage_80" in days:
        right.plot(day, days["coverage_80"], marker="o", label="live coverage of the 80% interval")
        right.axhline(0.8, color="green", linestyle=":", label="nominal 0.80")
        if test_coverage is not None:
            right.axhline(test_coverage, color="grey", linestyle="--",
                          label=f"test {test_coverage:.2f}")
        right.set_ylim(0, 1)
        right.legend(loc="lower left")
    right.set_title("80% interval coverage by day of origin")
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle(title)
    return save_figure(fig, path)
