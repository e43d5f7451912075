"""A trained run on local disk: model directory, metrics, history and plots.

Training writes the bundle first and logs it to MLflow second, so a tracking server that
dies mid-run loses nothing: `forecast log-run DIR` logs the same bundle later.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from forecast import Ensemble, Forecaster, __version__
from forecast.batch import needed_columns
from forecast.datamodule import PreparedData
from forecast.metrics import quantile_hits

from .plots import as_long_frame, fan_chart, forecast_vs_actual, reliability_diagram, residuals

RUN_FILE = "run.json"
BUNDLE_ROOT = Path(".forecast") / "runs"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
    return flat


def write_bundle(forecaster: Forecaster, root: Path | None = None,
                 backtest: list[dict] | None = None, started_ms: int | None = None) -> Path:
    """Save model, metrics, loss history, test forecasts and plots under one directory;
    `started_ms` (when training began) and now become the MLflow run's start and end."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    directory = ((root or BUNDLE_ROOT) / f"{forecaster.name}-{stamp}-{time.time_ns() % 10**6}"
                 ).resolve()  # absolute: printed for `forecast log-run`, valid from anywhere
    directory.mkdir(parents=True, exist_ok=True)
    forecaster.save(directory / "model")
    windows = forecaster.forecast_split("test")
    test = as_long_frame(windows, forecaster.predictor.point)
    test.to_csv(directory / "test_forecasts.csv", index=False)
    plots = directory / "plots"
    plots.mkdir(exist_ok=True)
    forecast_vs_actual(test, plots / "forecast_vs_actual.png",
                       f"{forecaster.name}: test forecasts vs actual (last 2 weeks)")
    residuals(test, plots / "residuals.png", f"{forecaster.name}: test residuals")
    quantiles = list(forecaster.predictor.quantiles)
    if quantiles:
        method = forecaster.predictor.calibration.method
        reliability_diagram({f"{forecaster.name} ({method})": (
            quantiles, quantile_hits(windows.actual, windows.forecast))},
            plots / "reliability.png", f"{forecaster.name}: calibration on the test windows")
        fan_chart(windows, quantiles, plots / "fan_chart.png",
                  f"{forecaster.name}: the last test forecast and its intervals ({method})")
    (directory / "config.yaml").write_text(yaml.safe_dump(forecaster.config.model_dump()))
    report = forecaster.report
    run = {
        "model": forecaster.name,
        "metrics": forecaster.metrics,
        "history": report.history if report else [],
        "epoch_seconds": report.epoch_seconds if report else [],
        "refit_epochs": report.refit_epochs if report else None,  # trainer.refit's second fit
        # model.rnn.seasonal_input: auto: the validation MAEs it compared, and its choice
        "selection": report.seasonal_input.metrics() if report and report.seasonal_input
        else {},
        "backtest": backtest or [],
        "params": flatten(run_params(forecaster)),
        "tags": {"forecast.version": __version__, "git.commit": git_commit() or "none",
                 "model.architecture": forecaster.name},
        "data_rows": len(forecaster.prepared.panel.values),
        "data_digest": data_digest(forecaster.prepared),
        "started_ms": started_ms or now_ms(),
        "ended_ms": now_ms(),
    }
    (directory / RUN_FILE).write_text(json.dumps(run, indent=2, default=str))
    pd.DataFrame(columns=needed_columns(forecaster.predictor)).to_csv(
        directory / "data_schema.csv", index=False)
    return directory


def run_params(forecaster: Forecaster) -> dict[str, Any]:
    """The training configuration, with each `model:` setting left to its family's default
    (`null`) replaced by what training used, so a run says how it was trained. An
    ensemble's members may differ there, so its config stays as written, with the
    ensemble's method, members and weights added."""
    params = forecaster.config.model_dump()
    if isinstance(forecaster.predictor, Ensemble):
        return {**params, "ensemble": forecaster.predictor.describe()}
    params["model"].update(forecaster.config.model.resolved)
    section = forecaster.config.model.family.section
    if section:  # what training built (an `auto` seasonal input settled)
        params["model"][section] = forecaster.predictor.architecture.model_dump()
    calibration = forecaster.predictor.calibration  # what `calibrate_median: auto` decided
    params["calibration"] = {"median_bias": calibration.median_bias,
                             "median_moved": calibration.median_moved}
    return params


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def read_bundle(directory: Path) -> dict[str, Any]:
    path = Path(directory) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a run bundle: {RUN_FILE} is missing")
    return json.loads(path.read_text())


def data_digest(prepared: PreparedData) -> str:
    """MLflow's own dataset digest, so runs on the same data share it; for data read a piece
    at a time (no DataFrame kept), a hash of the prepared panel."""
    if prepared.frame is None:
        digest = hashlib.sha256(memoryview(prepared.panel.values).cast("B"))
        digest.update(",".join(s.unique_id for s in prepared.panel.series).encode())
        return digest.hexdigest()[:8]
    import mlflow.data

    return mlflow.data.from_pandas(prepared.frame, targets="y").digest


def bundle_experiment(directory: Path) -> str:
    """The MLflow experiment the bundle's run was configured for."""
    config = yaml.safe_load((Path(directory) / "config.yaml").read_text()) or {}
    return config.get("tracking", {}).get("experiment", "forecast")


RUNS_FILE = "mlflow_runs.txt"


def record_run(directory: Path, run_id: str) -> None:
    """Remember a run created for this bundle, so a failed attempt can be closed later."""
    with (Path(directory) / RUNS_FILE).open("a") as f:
        f.write(run_id + "\n")


def recorded_runs(directory: Path) -> list[str]:
    path = Path(directory) / RUNS_FILE
    return path.read_text().split() if path.is_file() else []
