"""After deployment, end to end, on a stream made in code: train on its first part, serve,
send actuals day by day (status ok), then the level rises by half and the spread doubles:
the status turns degraded, adaptive intervals bring coverage back towards nominal, and
`forecast retrain --when degraded` registers and promotes a continued version, which the
service reloads. `tests/pipelines/test_stream.py` runs it against real servers;
`benchmarks/stream.py` runs it and draws docs/images/after_deployment.png.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import yaml

SERIES = ("north", "south", "east")
HOURS = 24
TRAIN_DAYS, CALM_DAYS, SHIFTED_DAYS, AFTER_DAYS = 60, 6, 14, 4
RETRAIN_DAYS = 21  # the newer data continued training gets: the last three weeks
WINDOW_DAYS = 3  # monitoring window of origins for the stream's status


def make_stream(seed: int = 0, days: int | None = None) -> pd.DataFrame:
    """Hourly series with a daily profile and noise; from day TRAIN_DAYS + CALM_DAYS on,
    every level is half as high again and the noise twice as wide."""
    days = days or TRAIN_DAYS + CALM_DAYS + SHIFTED_DAYS + AFTER_DAYS
    rng = np.random.default_rng(seed)
    t = np.arange(days * HOURS)
    shifted = t >= (TRAIN_DAYS + CALM_DAYS) * HOURS
    frames = []
    for i, uid in enumerate(SERIES):
        level = 100.0 * (i + 1)
        profile = 0.2 * level * np.sin(2 * np.pi * (t % HOURS) / HOURS + i)
        noise = rng.normal(0, 0.03 * level, len(t)) * np.where(shifted, 2.0, 1.0)
        y = np.where(shifted, 1.5 * level, level) + profile + noise
        frames.append(pd.DataFrame({"unique_id": uid, "ds": pd.date_range(
            "2024-01-01", periods=len(t), freq="h"), "y": y}))
    return pd.concat(frames, ignore_index=True)


def stream_config(path: Path, data: Path) -> Path:
    """A small LSTM with per-series scaling, so a level shift is something to learn."""
    path.write_text(yaml.safe_dump({
        "model": {"name": "lstm", "normalization": "series", "rnn": {"hidden_size": 32}},
        "data": {"path": str(data), "lookback": 48, "horizon": HOURS, "batch_size": 64},
        "trainer": {"max_epochs": 8, "patience": 3, "limit_train_batches": 30},
        "backtest": {"n_windows": 2},
        "models": ["lstm"],
    }))
    return path


def upto(stream: pd.DataFrame, day: int) -> pd.DataFrame:
    """Everything observed before day `day` begins."""
    return stream[stream["ds"] < stream["ds"].min() + pd.Timedelta(days=day)]


def day_rows(stream: pd.DataFrame, day: int) -> pd.DataFrame:
    start = stream["ds"].min() + pd.Timedelta(days=day)
    return stream[(stream["ds"] >= start) & (stream["ds"] < start + pd.Timedelta(days=1))]


def series_body(rows: pd.DataFrame) -> dict:
    """`{"series": [{unique_id, ds, y}, ...]}`: a /predict history or an /actuals body."""
    return {"series": [{"unique_id": uid, "ds": g["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist(),
                        "y": g["y"].tolist()} for uid, g in rows.groupby("unique_id")]}


def predict_body(history: pd.DataFrame, lookback_days: int = 7) -> dict:
    return series_body(history[history["ds"] >= history["ds"].max()
                               - pd.Timedelta(days=lookback_days)])


@dataclass
class DayRecord:
    day: int
    version: str
    mae: float  # of the day's median forecasts against its actuals
    coverage_80: float  # of the day's served 80% intervals (adaptive offsets included)
    status: str  # the serving version's status after the day's actuals
    offsets: dict[str, float] = field(default_factory=dict)


@dataclass
class StreamRun:
    days: list[DayRecord] = field(default_factory=list)
    degraded_on: int | None = None  # the first day whose status was degraded
    retrained_to: str | None = None  # the version the retrain promoted

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([vars(d) for d in self.days])


class Client:
    """The service as a user's scheduler calls it."""

    def __init__(self, url: str, headers: dict | None = None):
        self.url, self.headers = url, headers or {}

    def post(self, path: str, body: dict | None = None) -> dict:
        answer = httpx.post(self.url + path, json=body, headers=self.headers, timeout=120)
        answer.raise_for_status()
        return answer.json()

    def get(self, path: str) -> dict:
        answer = httpx.get(self.url + path, headers=self.headers, timeout=120)
        answer.raise_for_status()
        return answer.json()


def serve_day(client: Client, stream: pd.DataFrame, day: int) -> DayRecord:
    """Forecast day `day` from the week before it, then send its actuals."""
    answer = client.post("/predict", predict_body(upto(stream, day)))
    actual = day_rows(stream, day)
    errors, inside = [], []
    for forecast in answer["forecasts"]:
        truth = actual[actual["unique_id"] == forecast["unique_id"]]["y"].to_numpy()
        errors += list(np.abs(np.asarray(forecast["mean"]) - truth))
        lo, hi = np.asarray(forecast["quantiles"]["0.1"]), np.asarray(forecast["quantiles"]["0.9"])
        inside += list((truth >= lo) & (truth <= hi))
    # the log is written off the request path (within about a second): actuals are
    # idempotent, so sending them again until every point matches is safe
    deadline = time.monotonic() + 15
    while client.post("/actuals", series_body(actual))["matched"] < len(actual) and \
            time.monotonic() < deadline:
        time.sleep(0.3)
    report = client.get("/monitoring")
    version = answer["model"]["version"]
    mine = next(v for v in report["versions"] if v["version"] == version)
    return DayRecord(day, version, float(np.mean(errors)), float(np.mean(inside)),
                     mine["status"], dict(mine["adaptive_offsets"]))


def run_stream(client: Client, stream: pd.DataFrame, workdir: Path, retrain, progress=print
               ) -> StreamRun:
    """Serve the calm and shifted days, call `retrain(data_path)` (the CLI's `forecast
    retrain --when degraded`) at the end of the shifted days, reload, serve the days after."""
    run = StreamRun()
    first = TRAIN_DAYS
    for day in range(first, first + CALM_DAYS + SHIFTED_DAYS):
        record = serve_day(client, stream, day)
        run.days.append(record)
        if record.status == "degraded" and run.degraded_on is None:
            run.degraded_on = day
        progress(f"[stream] day {day}: v{record.version} MAE {record.mae:.1f}, 80% interval "
                 f"held {record.coverage_80:.2f}, status {record.status}")
    recent = upto(stream, first + CALM_DAYS + SHIFTED_DAYS)
    recent = recent[recent["ds"] >= recent["ds"].max() - pd.Timedelta(days=RETRAIN_DAYS)
                    + pd.Timedelta(hours=1)]
    data = workdir / "newer.csv"
    recent.to_csv(data, index=False)
    retrain(data)
    reloaded = client.post("/reload")
    run.retrained_to = reloaded["version"]
    progress(f"[stream] retrained: {reloaded['detail']}")
    for day in range(first + CALM_DAYS + SHIFTED_DAYS,
                     first + CALM_DAYS + SHIFTED_DAYS + AFTER_DAYS):
        record = serve_day(client, stream, day)
        run.days.append(record)
        progress(f"[stream] day {day}: v{record.version} MAE {record.mae:.1f}, 80% interval "
                 f"held {record.coverage_80:.2f}, status {record.status}")
    return run


def plot(run: StreamRun, path: Path, without_adaptation: StreamRun | None = None) -> Path:
    """Live MAE and 80% coverage per day; with `without_adaptation`, the same stream served
    with FORECAST_ADAPTIVE=off beside it."""
    from .plots import plt, save_figure

    frame = run.frame()
    shift = TRAIN_DAYS + CALM_DAYS
    retrain = shift + SHIFTED_DAYS
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(frame["day"], frame["mae"], marker="o", label="live MAE per day")
    right.plot(frame["day"], frame["coverage_80"], marker="o",
               label="80% interval held (adaptive)")
    if without_adaptation is not None:
        other = without_adaptation.frame()
        right.plot(other["day"], other["coverage_80"], marker=".", color="grey",
                   label="80% interval held (adaptive off)")
    right.axhline(0.8, color="green", linestyle=":", label="nominal 0.80")
    right.set_ylim(0, 1.05)
    for ax in (left, right):
        ax.axvline(shift - 0.5, color="red", linestyle="--", label="level +50%, spread x2")
        ax.axvline(retrain - 0.5, color="purple", linestyle="--", label="retrain + reload")
        ax.set_xlabel("day")
        ax.legend(fontsize=8)
    left.set_title("live MAE")
    right.set_title("coverage of the 80% interval")
    fig.suptitle("after deployment: a shift, adaptive intervals, continued training")
    return save_figure(fig, path)
