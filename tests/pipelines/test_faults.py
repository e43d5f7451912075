"""Bad input and tracking failures: clear errors, no RUNNING runs, nothing lost."""

from __future__ import annotations

import time

import pytest
from lightning.pytorch.callbacks import Callback
from mlflow import MlflowClient

from forecast import load_config
from pipelines.cli import main
from pipelines.train import TrackingFailedError, run_train
from tests.servers import free_port, mlflow_server, stop


def test_unreachable_server_fails_within_seconds(project, monkeypatch, capsys):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    start = time.monotonic()
    assert main(["train", "--config", str(project)]) == 2
    assert time.monotonic() - start < 15
    assert uri in capsys.readouterr().err


@pytest.mark.parametrize("args,needle", [
    (["--set", "trainer.max_epoch=3"], "valid keys here"),
    (["--set", "data.lookback=-1"], "data.lookback"),
    (["--data", "missing.csv"], "missing.csv"),
])
def test_bad_input_leaves_no_run(tracking_server, project, monkeypatch, capsys, args, needle):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    assert main(["train", "--config", str(project), "--set", "tracking.experiment=bad",
                 *args]) == 2
    assert needle in capsys.readouterr().err
    client = MlflowClient(tracking_server)
    experiment = client.get_experiment_by_name("bad")
    if experiment is not None:
        assert client.search_runs([experiment.experiment_id]) == []


def test_an_empty_config_file_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    (tmp_path / "empty.yaml").write_text("")
    assert main(["train", "--config", str(tmp_path / "empty.yaml")]) == 2
    err = capsys.readouterr().err
    assert "empty.yaml holds no settings" in err and "Traceback" not in err


def test_unknown_model_choice_is_listed(project, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--model", "prophet"])
    assert "invalid choice: 'prophet'" in capsys.readouterr().err


class StopServer(Callback):
    def __init__(self, proc):
        self.proc = proc

    def on_train_epoch_end(self, trainer, pl_module):
        stop(self.proc)


def test_server_dying_mid_training_keeps_bundle_for_log_run(tmp_path, project, monkeypatch,
                                                            capsys):
    store, port = tmp_path / "store", free_port()
    config = load_config(project, ["tracking.experiment=dies", "model.name=gru"])
    with mlflow_server(store, port) as (uri, proc):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        with pytest.raises(TrackingFailedError) as info:
            run_train(config, callbacks=[StopServer(proc)])
    bundle = info.value.bundles[0]
    assert (bundle / "model" / "model.safetensors").is_file()
    assert f"forecast log-run {bundle}" in str(info.value)

    with mlflow_server(store, port) as (uri, _):
        client = MlflowClient(uri)
        assert client.search_registered_models() == []
        assert main(["log-run", str(bundle), "--set", "tracking.experiment=dies"]) == 0
        experiment = client.get_experiment_by_name("dies")
        runs = client.search_runs([experiment.experiment_id])
        assert [r.info.status for r in runs] == ["FINISHED"]
        assert "test_mae" in runs[0].data.metrics


def test_server_dying_while_logging_leaves_no_running_run(tmp_path, project, monkeypatch,
                                                          capsys):
    """The run was created, then the server died: log-run closes that run as FAILED and logs
    a finished one to the experiment the bundle was trained for."""
    import pipelines.mlflow_run as mlflow_run

    store, port = tmp_path / "store", free_port()
    config = load_config(project, ["tracking.experiment=dies-while-logging", "model.name=naive"])
    with mlflow_server(store, port) as (uri, proc):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        real = mlflow_run.mlflow.log_artifacts

        def die_then_log(*args, **kwargs):
            stop(proc)
            return real(*args, **kwargs)

        monkeypatch.setattr(mlflow_run.mlflow, "log_artifacts", die_then_log)
        with pytest.raises(TrackingFailedError) as info:
            run_train(config)
        monkeypatch.undo()
    bundle = info.value.bundles[0]
    assert f"forecast log-run {bundle.resolve()}" in str(info.value)  # absolute path

    with mlflow_server(store, port) as (uri, _):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("dies-while-logging")
        [abandoned] = client.search_runs([experiment.experiment_id])
        assert abandoned.info.status == "RUNNING"  # what the crash left behind
        assert main(["log-run", str(bundle)]) == 0  # no --set: the bundle's own experiment
        runs = client.search_runs([experiment.experiment_id])
        assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
        assert str(bundle.resolve()) in capsys.readouterr().out


def test_devices_beyond_the_machine_are_a_clear_error(project, capsys):
    assert main(["train", "--model", "gru", "--devices", "999", "--strategy", "ddp"]) == 2
    assert "trainer.devices 999 exceeds" in capsys.readouterr().err
