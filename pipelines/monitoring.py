"""`forecast actuals` and `forecast monitor`: actuals into the forecast log, and each model
version's live scores, status and drift out of it, logged to MLflow as a monitoring run tied
to the registered version (metrics with one step per day, and a picture)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from forecast.config import DataSettings
from forecast.data.loading import load_frame
from forecast.errors import ForecastError
from forecast.monitoring import ForecastLog, StatusRule, assess, learn_offsets, live_scores
from forecast.monitoring.adaptive import RATES_VARIABLE, parse_rates
from forecast.monitoring.scores import LiveScores
from forecast.monitoring.store import in_window

from .plots import live_vs_test
from .redaction import redact
from .registry import version_by_alias
from .tracking import ensure_experiment

DEFAULT_LOG = Path(".forecast") / "forecast_log.db"


def log_url() -> str:
    """FORECAST_LOG_URL, else the SQLite file the service in this folder writes."""
    url = os.environ.get("FORECAST_LOG_URL")
    if url:
        return url
    DEFAULT_LOG.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_LOG.resolve()}"


def open_log(url: str | None = None) -> ForecastLog:
    url = url or log_url()
    try:
        return ForecastLog(url)
    except Exception as err:  # noqa: BLE001 - named, not a traceback
        raise ForecastError(redact(f"the forecast log at {url} is unavailable "
                                   f"({type(err).__name__}: {str(err)[:200]}); set "
                                   "FORECAST_LOG_URL")) from None


def run_actuals(data: DataSettings, url: str | None = None):
    """Store a file of actuals (`data.path`: unique_id, ds, y, or laid out and named as
    `data` says, as training read it; idempotent), then move every logged version's
    adaptive offsets by the forecasts they score for the first time, at the service's
    FORECAST_ADAPTIVE_RATE (other rates would restart the trackers)."""
    try:
        rates = parse_rates(os.environ.get(RATES_VARIABLE))
    except ValueError as err:
        raise ForecastError(str(err)) from None
    frame = _actuals(data)
    store = open_log(url)
    result = store.add_actuals(frame)
    for name, version, levels in store.model_versions():
        if levels:
            learn_offsets(store, name, version, levels, rates)
    return result


def _actuals(data: DataSettings) -> pd.DataFrame:
    """unique_id, ds, y from a file, each row checked; timestamps need not be regular. In
    the wide layout an empty cell is a series with no actual at that time yet, not an error."""
    from forecast.data.validation import _check_finite, parse_timestamps

    frame = load_frame(data)
    if data.layout == "wide":
        frame = frame[frame["y"].notna()]
    if frame.empty:
        raise ForecastError(f"{data.path} has no rows; expected unique_id, ds, y")
    frame = frame[["unique_id", "ds", "y"]].copy()
    frame["ds"] = parse_timestamps(frame["ds"])
    frame = _check_finite(frame, "y", "error")
    dupes = frame.duplicated(["unique_id", "ds"])
    if dupes.any():
        row = frame.loc[dupes].iloc[0]
        raise ForecastError(f"series '{row['unique_id']}' has ds={row['ds']} twice; expected "
                            "one actual per series and timestamp")
    return frame


@dataclass
class VersionReport:
    model: str
    version: str
    alias: str
    status: str
    reasons: list[str]
    test_mae: float | None
    scores: LiveScores  # over the window
    drift: pd.DataFrame
    daily: pd.DataFrame  # scores per day of origin over everything logged: the history


def version_reports(client, store: ForecastLog, name: str, alias: str, window_days: float,
                    rule: StatusRule) -> list[VersionReport]:
    """Live scores, status and drift of every version of `name` the log has forecasts of."""
    current = version_by_alias(client, name, alias)
    reports = []
    for version in store.versions(name):
        everything = store.joined(name, version)  # the window's scores, every day's history
        test_mae = _test_metric(client, name, version, "mae")
        verdict = assess(in_window(everything, window_days), test_mae, rule)
        tag = alias if current is not None and current.version == version else ""
        reports.append(VersionReport(name, version, tag, verdict.status, verdict.reasons,
                                     test_mae, verdict.scores, verdict.drift,
                                     live_scores(everything).by_day))
    return reports


def _test_metric(client, name: str, version: str, metric: str) -> float | None:
    try:
        run_id = client.get_model_version(name, version).run_id
        return client.get_run(run_id).data.metrics.get(f"test_{metric}")
    except mlflow.exceptions.MlflowException:
        return None


def log_monitoring_run(client, experiment_id: str, report: VersionReport, out: Path) -> str:
    """A monitoring run for one registered version: live metrics one step per day of origin
    (the MLflow UI draws them over time, beside the version's test_* figures), a picture of
    live MAE and coverage against the test ones, and the status as tags."""
    from mlflow.entities import Metric

    run = client.create_run(experiment_id, tags={
        MLFLOW_RUN_NAME: f"monitor {report.model} v{report.version}",
        "forecast.monitoring": "live", "registered_model": report.model,
        "model_version": report.version, "monitoring.status": report.status,
        "monitoring.reasons": "; ".join(report.reasons)[:5000]})
    run_id = run.info.run_id
    days = report.daily
    # live intervals are served with adaptive offsets: the test windows served the same way
    # (versions trained before those scores existed have the static figure only)
    test_coverage = _test_metric(client, report.model, report.version, "served_coverage_80")
    if test_coverage is None:
        test_coverage = _test_metric(client, report.model, report.version, "coverage_80")
    metrics = []
    for row in days.to_dict("records"):
        stamp = int(pd.Timestamp(row["day"]).timestamp() * 1000)
        step = stamp // 86_400_000  # days since 1970: the same day keeps its step on reruns
        for key in ("mae", "mase", "coverage_80", "coverage_90", "width_80", "wql", "n"):
            if key in row and np.isfinite(row[key]):
                metrics.append(Metric(f"live_{key}", float(row[key]), stamp, step))
        if report.test_mae is not None:
            metrics.append(Metric("test_mae_reference", float(report.test_mae), stamp, step))
    for key, value in report.scores.overall.items():
        if isinstance(value, (int, float)) and np.isfinite(value):
            metrics.append(Metric(f"window_{key}", float(value), 0, 0))
    if len(report.drift):
        metrics.append(Metric("drifted_series", float(report.drift["drifted"].sum()), 0, 0))
    for i in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[i:i + 500])
    out.mkdir(parents=True, exist_ok=True)
    if len(days):
        picture = live_vs_test(days, report.test_mae, test_coverage,
                               out / f"live_v{report.version}.png",
                               f"{report.model} v{report.version}: live scores by day")
        client.log_artifact(run_id, str(picture), "monitoring")
    for name, frame in (("by_step", report.scores.by_step),
                        ("by_series", report.scores.by_series), ("drift", report.drift)):
        if len(frame):
            path = out / f"{name}_v{report.version}.csv"
            frame.to_csv(path, index=False)
            client.log_artifact(run_id, str(path), "monitoring")
    client.set_terminated(run_id, "FINISHED")
    client.set_model_version_tag(report.model, report.version, "monitoring.status",
                                 report.status)
    client.set_model_version_tag(report.model, report.version, "monitoring.run_id", run_id)
    return run_id


def run_monitor(config, window_days: float, rule: StatusRule, url: str | None = None,
                log_runs: bool = True) -> list[tuple[VersionReport, str | None]]:
    from .tracking import connect

    client = connect()
    store = open_log(url)
    name, alias = config.tracking.registered_model, config.tracking.alias
    reports = version_reports(client, store, name, alias, window_days, rule)
    if not log_runs:
        return [(r, None) for r in reports]
    experiment_id = ensure_experiment(client, config.tracking.experiment)
    out = Path(".forecast") / "monitoring"
    return [(r, log_monitoring_run(client, experiment_id, r, out)) for r in reports]


def model_identity(model: str) -> tuple[str, str]:
    """(name, version) a batch's forecasts are logged under: the registered version behind a
    `models:/` URI (an alias resolved), else the directory's name and 'local'."""
    if not model.startswith("models:/"):
        return Path(model).resolve().name, "local"
    from .registry import registry_client

    ref = model[len("models:/"):]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        found = version_by_alias(registry_client(), name, alias)
        return name, found.version if found is not None else alias
    name, _, version = ref.partition("/")
    return name, version or "latest"


def log_batch(predictor, model: str, history: pd.DataFrame, forecasts: pd.DataFrame,
              url: str | None = None) -> int:
    """Record a batch's forecasts in the forecast log, as the service records its answers:
    per series and step, with the series' training statistics (or its own history's, for a
    series the model never saw). Returns the rows written."""
    from forecast.data.scaling import SeriesStats
    from forecast.frames import quantile_label
    from forecast.monitoring import ForecastRecord

    if forecasts.empty:
        return 0
    name, version = model_identity(model)
    levels = tuple(predictor.quantiles)
    observed = history[history["y"].notna()]
    observed = observed.assign(ds=pd.to_datetime(observed["ds"]))
    columns = [quantile_label(q) for q in levels]
    records = []
    for uid, group in forecasts.groupby("unique_id", sort=False):
        past = observed[observed["unique_id"] == uid]
        stats = predictor.scaler.stats.get(str(uid)) or SeriesStats.fit(
            past["y"].to_numpy(np.float64), np.zeros((len(past), 0)), predictor.dims.season)
        values = group[columns].to_numpy(np.float64) if columns else np.zeros((len(group), 0))
        records.append(ForecastRecord(
            name, version, "batch", str(uid), past["ds"].max(), pd.DatetimeIndex(group["ds"]),
            group["mean"].to_numpy(np.float64), levels, values, stats.y_std, stats.mase_scale,
            stats.y_mean))
    return open_log(url).write_forecasts(records)
