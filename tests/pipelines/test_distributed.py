"""Lightning DDP over 2 CPU processes (gloo): rank 0 alone logs and registers, once."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlflow import MlflowClient

from pipelines.tracking import child_env
from tests.pipelines.conftest import write_project
from tests.servers import BIN

# 2 processes each see half the windows per epoch, so their model is not the 1-process one;
# on this tiny panel their test MAE stays within 30% of it
TOLERANCE = 0.30


def compare(config: Path, uri: str, name: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "forecast"), "compare", "--config", str(config), "--set", "models=[gru]",
           "--set", f"tracking.experiment={name}", "--set",
           f"tracking.registered_model={name}", *extra]
    return subprocess.run(cmd, env=child_env({"MLFLOW_TRACKING_URI": uri}), cwd=config.parent,
                          capture_output=True, text=True, timeout=600)


def child_runs(client: MlflowClient, experiment: str) -> tuple[list, list]:
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return runs, children


def test_ddp_on_two_processes_logs_and_registers_once(tracking_server, tmp_path):
    _, config = write_project(tmp_path / "project")
    ddp = compare(config, tracking_server, "ddp", "--devices", "2", "--strategy", "ddp")
    assert ddp.returncode == 0, ddp.stdout[-2000:] + ddp.stderr[-3000:]
    single = compare(config, tracking_server, "single")
    assert single.returncode == 0, single.stderr[-3000:]

    client = MlflowClient(tracking_server, tracking_server)
    runs, [child] = child_runs(client, "ddp")
    assert len(runs) == 2  # the compare parent and the gru child: nothing from rank 1
    assert child.data.params["trainer.devices"] == "2"
    assert child.data.params["trainer.strategy"] == "ddp"
    assert len(client.get_metric_history(child.info.run_id, "test_mae")) == 1
    assert len(client.search_model_versions("name='ddp'")) == 1
    assert ddp.stdout.count("comparison on the test window") == 1  # one report, from rank 0

    _, [one] = child_runs(client, "single")
    mae_ddp, mae_one = child.data.metrics["test_mae"], one.data.metrics["test_mae"]
    assert abs(mae_ddp - mae_one) / mae_one < TOLERANCE, (mae_ddp, mae_one)
