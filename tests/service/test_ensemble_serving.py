"""An ensemble champion end to end: registered by `compare`, served by a real `bentoml serve`,
loaded as an MLflow pyfunc and by batch scoring, all forecasting alike; continued training
re-forms it."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from forecast import Ensemble, Forecaster
from pipelines.cli import main
from pipelines.mlflow_run import log_pyfunc
from pipelines.registry import download_model_dir, register_version
from tests.conftest import HORIZON, make_panel
from tests.floats import assert_forecasts_close
from tests.pipelines.conftest import write_project
from tests.servers import bento_server, mlflow_server
from tests.service.helpers import API_KEY, AUTH, request_body

CUT = 300


@pytest.fixture(scope="module")
def ensemble_stack(tmp_path_factory):
    """A weighted ensemble of gru, transformer and mlp (three network copies: `model.copies`)
    as the champion, and the service."""
    root = tmp_path_factory.mktemp("ensemble-stack")
    _, config = write_project(root / "project")
    previous = os.environ.get("MLFLOW_TRACKING_URI")  # the package's stack, when it runs
    mp = pytest.MonkeyPatch()
    with mlflow_server(root / "store") as (uri, _):
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root / "project")
        assert main(["compare", "--config", str(config), "--set", "models=[gru,transformer,mlp]",
                     "--set", "ensembles=[weighted]", "--set", "tracking.experiment=ens"]) == 0
        client = MlflowClient(uri, uri)
        champion = client.get_model_version_by_alias("forecaster", "champion")
        if champion.tags["architecture"] != "ensemble_weighted":  # the members may win here
            experiment = client.get_experiment_by_name("ens")
            run = client.search_runs([experiment.experiment_id],
                                     "tags.`mlflow.runName` = 'ensemble_weighted'")[0]
            bundle = run.data.tags["forecast.bundle"]
            model_uri, model_id = log_pyfunc(run.info.run_id, Path(bundle) / "model")
            version = register_version(client, "forecaster", model_uri, run.info.run_id,
                                       model_id, {"architecture": "ensemble_weighted"})
            assert main(["promote", "--version", version]) == 0
        env = {"MLFLOW_TRACKING_URI": uri, "FORECAST_CACHE_DIR": str(root / "cache"),
               "FORECAST_API_KEY": API_KEY}
        with bento_server(env, root / "bento.log") as url:
            yield {"url": url, "uri": uri, "root": root, "config": config, "client": client}
    mp.undo()
    if previous:  # `forecast compare` pointed MLflow's process-wide URIs at this server
        mlflow.set_tracking_uri(previous)
        mlflow.set_registry_uri(previous)


def champion_model(stack) -> Forecaster:
    version = stack["client"].get_model_version_by_alias("forecaster", "champion").version
    return Forecaster.load(download_model_dir(f"models:/forecaster/{version}"))


def scoring_frame() -> pd.DataFrame:
    """History up to CUT, then HORIZON rows of future covariates with y empty."""
    frame = make_panel()
    rows = frame.groupby("unique_id").head(CUT + HORIZON).copy()
    rows.loc[rows.groupby("unique_id").cumcount() >= CUT, "y"] = np.nan
    return rows.reset_index(drop=True)


def test_the_service_serves_the_ensemble_as_the_library_forecasts(ensemble_stack):
    model = champion_model(ensemble_stack)
    assert isinstance(model.predictor, Ensemble)
    response = httpx.post(ensemble_stack["url"] + "/predict",
                          json=request_body(make_panel(), CUT), headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["model"]["architecture"] == "ensemble_weighted"
    local = model.predict(scoring_frame())
    for forecast in payload["forecasts"]:
        mine = local[local["unique_id"] == forecast["unique_id"]]
        assert_forecasts_close(forecast["mean"], mine["mean"].to_numpy())
        served = np.array(list(forecast["quantiles"].values())).T  # (H, Q)
        assert_forecasts_close(served, mine[list(forecast["quantiles"])].to_numpy())
        assert (np.diff(served, axis=1) >= 0).all()


def test_model_info_lists_the_members_and_explanations_name_theirs(ensemble_stack):
    info = httpx.get(ensemble_stack["url"] + "/model", timeout=10).json()
    assert info["architecture"] == "ensemble_weighted"
    members = {m["architecture"]: m for m in info["members"]}
    assert set(members) == {"gru", "transformer", "mlp"}
    # the MLP's and the Transformer's forecasts are the mean of three copies (their default);
    # the GRU has one
    assert [members[n]["copies"] for n in ("gru", "transformer", "mlp")] == [1, 3, 3]
    assert info["copies"] is None
    assert sum(m["weight"] for m in members.values()) == pytest.approx(1.0)
    assert all("mae" in m["metrics"] for m in members.values())
    # each member says what calibration did to its median: the GRU's is moved (`true`), the
    # Transformer's when its bias share reached 0.5 (`auto`); the ensemble itself does not say
    assert members["gru"]["median_moved"] is True
    transformer = members["transformer"]
    assert transformer["median_moved"] is (transformer["median_bias"] >= 0.5)
    assert info["median_moved"] is None and info["median_bias"] is None
    explainer = [name for name, m in members.items() if m["explains"]]
    assert len(explainer) == 1
    response = httpx.post(ensemble_stack["url"] + "/predict",
                          json=request_body(make_panel(), CUT, explain=True, top_k=3),
                          headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    explanation = response.json()["forecasts"][0]["explanation"]
    expected = "attention" if explainer == ["transformer"] else "saliency"
    assert explanation["method"] == expected and len(explanation["ds"]) == 3


def test_pyfunc_and_batch_scoring_forecast_as_the_library(ensemble_stack, tmp_path):
    model = champion_model(ensemble_stack)
    frame = scoring_frame()
    expected = model.predict(frame)
    pyfunc = mlflow.pyfunc.load_model("models:/forecaster@champion").predict(frame)
    data, out = tmp_path / "batch.csv", tmp_path / "out.csv"
    frame.to_csv(data, index=False)
    assert main(["predict", "--model", "models:/forecaster@champion", "--data", str(data),
                 "--output", str(out)]) == 0
    batch = pd.read_csv(out)
    numeric = list(expected.columns[2:])
    for result in (pyfunc, batch):
        assert list(result.columns) == list(expected.columns) and len(result) == 2 * HORIZON
        assert_forecasts_close(result[numeric].to_numpy(), expected[numeric].to_numpy())


def test_continued_training_re_forms_the_ensemble(ensemble_stack):
    client = ensemble_stack["client"]
    before = champion_model(ensemble_stack).predictor
    assert main(["train", "--init-from", "models:/forecaster@champion",
                 "--set", "trainer.max_epochs=1"]) == 0
    versions = client.search_model_versions("name='forecaster'")
    newest = max(versions, key=lambda v: int(v.version))
    assert newest.tags["architecture"] == "ensemble_weighted"
    assert newest.tags["init_from"] == "models:/forecaster@champion"
    continued = Forecaster.load(download_model_dir(f"models:/forecaster/{newest.version}"))
    assert continued.predictor.member_names == before.member_names
    # the members moved on from the champion's weights
    for old, new in zip(before.members, continued.predictor.members, strict=True):
        old_state, new_state = old.network.state_dict(), new.network.state_dict()
        assert old_state.keys() == new_state.keys()
        assert any(not np.allclose(old_state[k], new_state[k]) for k in old_state)
