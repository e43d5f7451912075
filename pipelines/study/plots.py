"""Figures of the RNN-vs-attention study."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..plots import save_figure  # noqa: E402
from .attention import AttentionResult  # noqa: E402

COLORS = {"lstm": "tab:blue", "gru": "tab:green", "transformer": "tab:red",
          "transformer_patched": "tab:orange", "seasonal_naive": "tab:gray"}


def speed_curves(speed: pd.DataFrame, path: Path, infer_batch: int) -> Path:
    panels = [("train_ms_per_sample", "training step, ms per sample"),
              ("infer_ms_batch1", "inference latency, batch 1 (ms)"),
              (f"infer_ms_batch{infer_batch}", f"inference latency, batch {infer_batch} (ms)"),
              ("train_peak_mb", "peak memory of a training step (MB)")]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for ax, (column, title) in zip(axes, panels, strict=True):
        for family, group in speed.groupby("family"):
            ax.plot(group["lookback"], group[column], marker="o", label=family,
                    color=COLORS.get(family))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("lookback (steps)")
        ax.set_title(title)
    axes[0].legend()
    return save_figure(fig, path)


def dependency_errors(errors: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for family, group in errors.groupby("family"):
        ax.plot(group["distance"], group["nmse"], marker="o", label=family,
                color=COLORS.get(family))
    ax.axhline(1.0, color="black", lw=0.8, ls="--", label="no information (predict 0)")
    ax.set_xscale("log")
    ax.set_xlabel("distance d between the event and the forecast (steps)")
    ax.set_ylabel("test MSE / variance")
    ax.set_title("Reproduce a value seen d steps ago")
    ax.legend()
    return save_figure(fig, path)


def gradient_norms(profiles: dict[str, np.ndarray], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for family, profile in profiles.items():
        d = np.arange(len(profile))
        ax.plot(d[1:], profile[1:], label=family, color=COLORS.get(family))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("distance back from the forecast (steps)")
    ax.set_ylabel("|d forecast / d input| (at initialisation)")
    ax.set_title("Gradient reaching inputs d steps back")
    ax.legend()
    return save_figure(fig, path)


def real_accuracy(real: pd.DataFrame, yardstick: float, freq: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for family, group in real.groupby("family"):
        ax.plot(group["lookback"], group["mae"], marker="o", label=family,
                color=COLORS.get(family))
    ax.axhline(yardstick, color="gray", ls="--", label="seasonal_naive (season 336)")
    ax.set_xscale("log")
    ax.set_xlabel(f"lookback (steps of {freq})")
    ax.set_ylabel("test MAE (MW)")
    ax.set_title("vic_elec day-ahead accuracy against lookback")
    ax.legend()
    return save_figure(fig, path)


def attention_map(result: AttentionResult, path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    image = left.imshow(result.attention, cmap="viridis", aspect="auto")
    lags, hours = result.lags, result.hours(result.patch_len)
    left.set_title(f"mean attention (tokens = {result.patch_len} steps = {hours:g} h)")
    left.set_xlabel("key token (older -> newer)")
    left.set_ylabel("query token")
    fig.colorbar(image, ax=left)
    order = sorted(lags)
    right.bar([result.hours(lag) for lag in order], [lags[lag] for lag in order],
              width=hours * 0.8)
    for mark, label in ((24, "1 day"), (168, "1 week")):
        right.axvline(mark, color="red", ls="--", lw=0.8)
        right.text(mark, max(lags.values()), label, color="red", fontsize=8)
    right.set_xlabel("lag from the most recent token (hours)")
    right.set_ylabel("attention weight")
    right.set_title("where the most recent token looks")
    return save_figure(fig, path)
