"""Shared fixtures: small synthetic panels that train in a second, and tiny configs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import build_config

LOOKBACK, HORIZON, SEASON = 24, 6, 24


def make_panel(n_series: int = 2, length: int = 400, freq: str = "h", seed: int = 0,
               start: str = "2024-01-01") -> pd.DataFrame:
    """Daily-seasonal series with a temperature effect (past) and a holiday bump (future)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        ds = pd.date_range(start, periods=length, freq=freq)
        t = np.arange(length)
        temperature = 20 + 5 * np.sin(2 * np.pi * t / 24 + i) + rng.normal(0, 0.5, length)
        holiday = ((t // 24) % 7 == 6).astype(float)
        y = (100 * (i + 1) + 10 * np.sin(2 * np.pi * t / 24) + 2 * temperature + 15 * holiday
             + rng.normal(0, 1, length))
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y,
                                    "temp": temperature, "holiday": holiday,
                                    "size": float(i + 1)}))
    return pd.concat(frames, ignore_index=True)


def wide_twin(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long rows as a wide table (timestamp `time`, a column per series, s0's temp and
    holiday shared by all) and the long rows that table stands for."""
    shared = rows.loc[rows["unique_id"] == "s0", ["ds", "temp", "holiday"]]
    wide = (rows.pivot(index="ds", columns="unique_id", values="y").reset_index()
            .merge(shared, on="ds").rename(columns={"ds": "time"}))
    wide.columns.name = None
    return wide, rows.drop(columns=["temp", "holiday"]).merge(shared, on="ds")


def hours_ending(end: str, periods: int) -> pd.DatetimeIndex:
    """`periods` hourly timestamps whose last is `end`. Counted from the start: pandas 2's
    `date_range(end=...)` fails an internal assertion near 2262 under numpy 2.4."""
    last = pd.Timestamp(end)
    return pd.date_range(last - pd.Timedelta(hours=periods - 1), periods=periods, freq="h")


def tiny_config_values(**data_extra) -> dict:
    return {
        # seasonal_input pinned: `auto` (the default) may fit a recurrent model twice, which
        # tests/forecast/test_seasonal_skip.py and the compare test cover
        "model": {"name": "lstm", "rnn": {"hidden_size": 8, "seasonal_input": False},
                  "transformer": {"d_model": 8, "n_heads": 2, "n_layers": 1, "ff_dim": 16,
                                  "patch_len": 4}},
        "data": {"lookback": LOOKBACK, "horizon": HORIZON, "season": SEASON,
                 "val_size": 48, "test_size": 48, "batch_size": 32, "window_step": 2,
                 "past_covariates": ["temp"], "future_covariates": ["holiday"],
                 "calendar": ["hour", "dayofweek"], **data_extra},
        "trainer": {"max_epochs": 2, "patience": 2, "enable_progress_bar": False,
                    "limit_train_batches": 5},
        "backtest": {"n_windows": 2, "step": HORIZON},
    }


@pytest.fixture
def panel_frame() -> pd.DataFrame:
    return make_panel()


@pytest.fixture
def tiny_config():
    return build_config(tiny_config_values())
