"""Log a run bundle to MLflow: params, metric histories, test metrics, tags, artifacts."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from .bundle import read_bundle, record_run, recorded_runs

PYFUNC_REQUIREMENTS = ["forecast", "torch", "lightning", "pandas", "safetensors"]
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")


def _log_batched(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    metrics, params, tags = list(metrics), list(params), list(tags)
    for i in range(0, max(len(metrics), len(params), len(tags), 1), 100):
        client.log_batch(run_id, metrics=metrics[i:i + 100], params=params[i:i + 100],
                         tags=tags[i:i + 100])


def log_bundle(directory: Path, experiment_id: str, run_name: str | None = None,
               parent_run_id: str | None = None, frame: pd.DataFrame | None = None) -> str:
    """Create a finished MLflow run from the bundle, starting and ending when its training
    did; the run ends FAILED if logging breaks."""
    run = read_bundle(directory)
    client = mlflow.MlflowClient()
    tags = {**run["tags"], "data.digest": run.get("data_digest", ""),
            MLFLOW_RUN_NAME: run_name or run["model"]}
    if parent_run_id is not None:
        tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
    created = client.create_run(experiment_id, start_time=run.get("started_ms"), tags=tags)
    run_id = created.info.run_id
    record_run(directory, run_id)
    with mlflow.start_run(run_id=run_id, nested=parent_run_id is not None):
        now = int(pd.Timestamp.now().timestamp() * 1000)
        metrics = [Metric(f"test_{k}", float(v), now, 0) for k, v in run["metrics"].items()]
        for row in run["history"]:
            metrics += [Metric(k, float(v), now, int(row["epoch"]))
                        for k, v in row.items() if k != "epoch"]
        metrics += [Metric("epoch_seconds", float(v), now, i)
                    for i, v in enumerate(run["epoch_seconds"])]
        if run.get("refit_epochs"):  # bundles written before trainer.refit have no such key
            metrics.append(Metric("refit_epochs", float(run["refit_epochs"]), now, 0))
        metrics += [Metric(k, float(v), now, 0) for k, v in run.get("selection", {}).items()]
        for row in run["backtest"]:
            metrics += [Metric(f"backtest_{k}", float(v), now, int(row["window"]))
                        for k, v in row.items() if k not in ("window", "cutoff")]
        if run["backtest"]:
            table = pd.DataFrame(run["backtest"])
            for column in ("mae", "rmse", "smape", "mase"):
                metrics.append(Metric(f"backtest_mean_{column}", float(table[column].mean()),
                                      now, 0))
        params = [Param(k, v[:6000]) for k, v in run["params"].items()]
        _log_batched(client, run_id, metrics, params, [RunTag("forecast.bundle", str(directory))])
        if frame is not None:
            dataset = mlflow.data.from_pandas(frame, targets="y", name="training-data")
            mlflow.log_input(dataset, context="training")
        mlflow.log_artifacts(str(directory / "model"), artifact_path="model")
        mlflow.log_artifacts(str(directory / "plots"), artifact_path="plots")
        mlflow.log_artifact(str(directory / "config.yaml"))
        mlflow.log_artifact(str(directory / "test_forecasts.csv"))
        if run["backtest"]:
            path = directory / "backtest.csv"
            pd.DataFrame(run["backtest"]).to_csv(path, index=False)
            mlflow.log_artifact(str(path))
    if run.get("ended_ms"):
        client.set_terminated(run_id, "FINISHED", end_time=run["ended_ms"])
    return run_id


def close_abandoned_runs(client: mlflow.MlflowClient, directory: Path) -> list[str]:
    """Mark FAILED the runs an interrupted attempt left RUNNING for this bundle."""
    closed = []
    for run_id in recorded_runs(directory):
        try:
            status = client.get_run(run_id).info.status
        except mlflow.exceptions.MlflowException:
            continue  # never reached the server
        if status == "RUNNING":
            client.set_terminated(run_id, "FAILED")
            closed.append(run_id)
    return closed


def log_pyfunc(run_id: str, model_dir: Path) -> tuple[str, str]:
    """Log the model directory as a pyfunc model (from code) in `run_id`: (URI, model id)."""
    with mlflow.start_run(run_id=run_id, nested=True):
        info = mlflow.pyfunc.log_model(
            name="pyfunc",
            python_model=str(PYFUNC_CODE),
            artifacts={"model_dir": str(model_dir)},
            pip_requirements=PYFUNC_REQUIREMENTS,
        )
    return info.model_uri, info.model_id
