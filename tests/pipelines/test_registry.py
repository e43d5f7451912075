"""The one registry module against a real tracking server: register, alias, resolve, download."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from forecast import Forecaster, Predictor
from forecast.errors import ForecastError
from pipelines.mlflow_run import log_pyfunc
from pipelines.registry import (
    download_model_dir,
    list_versions,
    register_version,
    set_alias,
    version_by_alias,
)
from pipelines.tracking import connect, ensure_experiment
from tests.concurrency import together


def test_register_alias_resolve_download(tracking_server, tmp_path, tiny_config, panel_frame,
                                         monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    client = connect()  # sets the tracking and registry URIs, as the CLI does
    assert version_by_alias(client, "registry-test", "champion") is None  # no model yet

    forecaster = Forecaster("naive", tiny_config).fit(panel_frame)
    forecaster.save(tmp_path / "model")
    experiment = client.create_experiment("registry-test")
    run = client.create_run(experiment)
    uri, model_id = log_pyfunc(run.info.run_id, tmp_path / "model")
    client.set_terminated(run.info.run_id)

    first = register_version(client, "registry-test", uri, run.info.run_id, model_id,
                             tags={"architecture": "naive"})
    second = register_version(client, "registry-test", uri, run.info.run_id, model_id)
    assert (first, second) == ("1", "2")
    assert version_by_alias(client, "registry-test", "champion") is None  # no alias yet

    set_alias(client, "registry-test", "champion", first, decision="promoted_by_hand")
    assert version_by_alias(client, "registry-test", "champion").version == first
    rows = list_versions(client, "registry-test")
    assert [r["aliases"] for r in rows] == ["champion", ""]
    assert rows[0]["architecture"] == "naive" and rows[0]["decision"] == "promoted_by_hand"

    with pytest.raises(ForecastError, match="has no version 9"):
        set_alias(client, "registry-test", "champion", "9")

    directory = download_model_dir("models:/registry-test@champion", tmp_path / "download")
    assert Predictor.load(directory).name == "naive"


def test_an_unreachable_registry_is_an_error_not_a_missing_alias():
    client = MlflowClient("http://127.0.0.1:9", "http://127.0.0.1:9")
    with pytest.raises(MlflowException):
        version_by_alias(client, "forecaster", "champion")


def test_workers_starting_together_share_one_experiment_and_model(
        tracking_server, tmp_path, tiny_config, panel_frame, monkeypatch):
    """Workers launched at once (tune, compare) each create the experiment and the registered
    model on first use; the ones that lose the race must join, not fail."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    client = connect()
    Forecaster("naive", tiny_config).fit(panel_frame).save(tmp_path / "model")
    workers = 4
    for name in ("race-0", "race-1", "race"):  # a window of milliseconds: several chances
        [experiment_id, *others] = together(workers,
                                            lambda _, name=name: ensure_experiment(client, name))
        assert others == [experiment_id] * (workers - 1)

    runs = [client.create_run(experiment_id).info.run_id for _ in range(workers)]
    logged = [log_pyfunc(run, tmp_path / "model") for run in runs]

    def register(i: int) -> str:
        uri, model_id = logged[i]
        return register_version(client, "race", uri, runs[i], model_id)

    versions = together(workers, register)
    assert sorted(int(version) for version in versions) == [1, 2, 3, 4]
