"""A real `mlflow server` and a real `bentoml serve`: forecasts, errors, reload, cache."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from forecast import Forecaster as ForecastModel
from forecast.inference import SeriesInput
from forecast.monitoring import AdaptiveOffsets
from pipelines.cli import main
from pipelines.registry import download_model_dir, register_version, set_alias
from tests.conftest import HORIZON, LOOKBACK, make_panel, wide_twin
from tests.servers import bento_server
from tests.service.helpers import API_KEY, AUTH, mutate, post, request_body, request_schema
from tests.service.test_batch_scoring import batch_file


def test_forecast_matches_the_library(stack):
    frame = make_panel()
    response = post(stack, request_body(frame))
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["model"]["alias"] == "champion" and payload["model"]["architecture"] == "gru"
    assert payload["model"]["calibrated"] is True
    model = ForecastModel.load(download_model_dir(
        f"models:/forecaster/{payload['model']['version']}"))
    # the default normalisation (RevIN) runs inside the served network as in the library
    assert model.predictor.normalization.method == "revin"
    info = httpx.get(stack["url"] + "/model", timeout=10).json()
    assert info["normalization"] == "revin"
    # the adaptive offsets in force (learnt from actuals other tests sent) move the served
    # quantiles by offset x the series' training standard deviation, never the median
    levels = tuple(model.predictor.quantiles)
    offsets = AdaptiveOffsets(levels, {float(k): v for k, v in info["adaptive_offsets"].items()})
    for forecast, (uid, group) in zip(payload["forecasts"], frame.groupby("unique_id"),
                                      strict=True):
        expected_ds = pd.date_range(group["ds"].iloc[299], periods=HORIZON + 1, freq="h")[1:]
        assert pd.DatetimeIndex(forecast["ds"]).equals(expected_ds)
        history = group.iloc[:300]
        item = SeriesInput(uid, pd.DatetimeIndex(history["ds"]), history["y"].to_numpy(),
                           {"temp": history["temp"].to_numpy(),
                            "holiday": group["holiday"].iloc[:300 + HORIZON].to_numpy()})
        local = offsets.apply(model.predict_series([item])[0].values,
                              model.predictor.scaler.stats[uid].y_std)
        np.testing.assert_allclose(forecast["mean"], local[:, model.predictor.point],
                                   rtol=1e-4, atol=1e-3)
        # calibrated quantiles by default: every level the model serves, in order
        assert list(forecast["quantiles"]) == [f"{q:g}" for q in model.predictor.quantiles]
        served = np.array(list(forecast["quantiles"].values())).T  # (H, Q)
        np.testing.assert_allclose(served, local, rtol=1e-4, atol=1e-3)
        assert (np.diff(served, axis=1) >= 0).all()


def test_quantiles_named_in_the_request_and_the_model_info(stack):
    info = httpx.get(stack["url"] + "/model", timeout=10).json()
    assert info["quantiles"] == [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
    assert info["calibration"] == "conformal" and info["calibrated"] is True
    # the GRU calibrates its median by default (`true`); the share it measured comes along
    assert info["median_moved"] is True and 0 <= info["median_bias"] <= 1
    assert info["copies"] == 1  # one network: the GRU's default
    response = post(stack, request_body(make_panel(), quantiles=[0.1, 0.9]))
    assert response.status_code == 200, response.text
    forecast = response.json()["forecasts"][0]
    assert list(forecast["quantiles"]) == ["0.1", "0.9"]
    assert all(lo < hi for lo, hi in zip(*forecast["quantiles"].values(), strict=True))


@pytest.mark.parametrize("quantiles,reason", [
    ([0.1, 1.5], "[1.5] lie outside (0, 1)"),
    ([0.1, 0.1], "[0.1] are repeated"),
    ([0.33], "[0.33] are not served"),
])
def test_bad_quantiles_are_422_listing_the_available_ones(stack, quantiles, reason):
    response = post(stack, request_body(make_panel(), quantiles=quantiles))
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["field"] == "quantiles" and reason in payload["error"]
    assert "serves [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]" in payload["error"]


def test_shorter_horizon_and_explanations(stack):
    response = post(stack, request_body(make_panel(), horizon=3, explain=True, top_k=4))
    assert response.status_code == 200, response.text
    forecast = response.json()["forecasts"][0]
    assert len(forecast["mean"]) == 3
    explanation = forecast["explanation"]
    assert explanation["method"] == "saliency" and len(explanation["ds"]) == 4
    assert explanation["weight"] == sorted(explanation["weight"], reverse=True)
    assert 0 < sum(explanation["weight"]) <= 1 + 1e-6


@pytest.mark.parametrize("change,field", [
    (lambda s: s.update(y=s["y"][:-1]), "series[0]"),
    (lambda s: s.update(y=s["y"][-10:], ds=s["ds"][-10:],
                        covariates={"temp": s["covariates"]["temp"][-10:],
                                    "holiday": s["covariates"]["holiday"][-16:]}), "series[0].y"),
    (lambda s: s["y"].__setitem__(-1, math.inf), "series[0].y"),
    (lambda s: s["ds"].__setitem__(-2, "2030-01-01T00:00:00"), "series[0].ds"),
    (lambda s: s["covariates"].update(holiday=s["covariates"]["holiday"][:-2]),
     "series[0].covariates.holiday"),
    (lambda s: s["covariates"].pop("temp"), "series[0].covariates.temp"),
])
def test_invalid_series_get_422_with_field(stack, change, field):
    body = mutate(request_body(make_panel(n_series=1)), change)
    content = json.dumps(body).replace("Infinity", "1e999")  # JSON has no inf literal
    response = httpx.post(stack["url"] + "/predict", content=content,
                          headers={**AUTH, "content-type": "application/json"}, timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_wrong_frequency_is_422(stack):
    frame = make_panel(n_series=1, freq="30min")
    response = post(stack, request_body(frame))
    assert response.status_code == 422 and "frequency 'h'" in response.json()["error"]


def test_schema_errors_and_horizon_are_422(stack):
    assert post(stack, {"series": "nope"}).status_code == 422
    response = post(stack, request_body(make_panel(), horizon=HORIZON + 1))
    assert response.status_code == 422 and response.json()["field"] == "horizon"


def test_limits_and_auth(stack):
    too_many = request_body(make_panel(n_series=6))
    assert post(stack, too_many).status_code == 413
    assert post(stack, request_body(make_panel()), headers={}).status_code == 401
    assert post(stack, request_body(make_panel()),
                headers={"X-API-Key": "wrong"}).status_code == 401
    info = httpx.get(stack["url"] + "/model", timeout=10).json()
    assert info["lookback"] == LOOKBACK and info["horizon"] == HORIZON and info["freq"] == "h"
    assert info["covariates"] == {"past": ["temp"], "future": ["holiday"], "static": []}
    for path in ("/livez", "/readyz", "/metrics", "/docs.json"):
        assert httpx.get(stack["url"] + path, timeout=10).status_code == 200
    docs = httpx.get(stack["url"] + "/docs", timeout=10, follow_redirects=True)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(stack["url"] + "/docs.json", timeout=10).json()
    assert "/predict" in spec["paths"] and "/reload" in spec["paths"]


async def _burst(url: str, body: dict, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60) as client:
        return await asyncio.gather(*(client.post(url + "/predict", json=body, headers=AUTH)
                                      for _ in range(n)))


def test_reload_after_promote_serves_new_version_without_failures(stack, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack["uri"])
    monkeypatch.chdir(stack["root"] / "project")
    assert main(["compare", "--config", str(stack["config"]), "--set",
                 "models=[seasonal_naive]"]) == 0
    client = MlflowClient(stack["uri"])
    newest = max(client.search_model_versions("name='forecaster'"), key=lambda v: int(v.version))
    assert main(["promote", "--version", newest.version]) == 0

    body = request_body(make_panel())

    async def burst_with_reload():
        burst = asyncio.create_task(_burst(stack["url"], body, 30))
        async with httpx.AsyncClient(timeout=60) as c:
            reload = await c.post(stack["url"] + "/reload", headers=AUTH)
        return reload, await burst

    reload, responses = asyncio.run(burst_with_reload())
    assert reload.status_code == 200 and reload.json()["status"] == "loaded"
    assert all(r.status_code == 200 for r in responses)
    after = post(stack, body).json()
    assert after["model"]["version"] == newest.version
    assert after["model"]["architecture"] == "seasonal_naive"
    assert httpx.post(stack["url"] + "/reload", headers=AUTH).json()["status"] == "unchanged"


def test_broken_version_is_refused_and_the_old_one_keeps_serving(stack, monkeypatch, tmp_path):
    import shutil

    import mlflow

    from pipelines.mlflow_run import log_pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack["uri"])
    mlflow.set_tracking_uri(stack["uri"])
    client = MlflowClient(stack["uri"])
    serving = post(stack, request_body(make_panel())).json()["model"]["version"]
    good = download_model_dir(f"models:/forecaster/{serving}")
    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    experiment = client.get_experiment_by_name("forecast")
    run = client.create_run(experiment.experiment_id, run_name="broken")
    client.set_terminated(run.info.run_id)
    uri, model_id = log_pyfunc(run.info.run_id, broken)
    version = register_version(client, "forecaster", uri, run.info.run_id, model_id)
    set_alias(client, "forecaster", "champion", version)
    try:
        answer = httpx.post(stack["url"] + "/reload", headers=AUTH, timeout=60).json()
        assert answer["status"] == "refused" and answer["version"] == serving
        assert f"v{version} failed" in answer["detail"]
        after = post(stack, request_body(make_panel()))
        assert after.status_code == 200 and after.json()["model"]["version"] == serving
    finally:
        client.set_registered_model_alias("forecaster", "champion", serving)


def test_no_model_means_503(stack, tmp_path):
    env = {**stack["env"], "FORECAST_MODEL_NAME": "absent", "FORECAST_CACHE_DIR": str(tmp_path)}
    with bento_server(env, tmp_path / "bento.log", ready=False) as url:
        assert httpx.get(url + "/readyz", timeout=10).status_code == 503
        response = httpx.post(url + "/predict", json=request_body(make_panel()), headers=AUTH)
        assert response.status_code == 503 and "absent@champion" in response.json()["error"]
        assert httpx.get(url + "/model", timeout=10).status_code == 503


def test_starts_from_cache_when_registry_is_down(stack, tmp_path):
    env = {**stack["env"], "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    with bento_server(env, tmp_path / "bento.log") as url:
        info = httpx.get(url + "/model", timeout=10).json()
        assert info["source"] == "cache"
        assert post({"url": url}, request_body(make_panel())).status_code == 200


def test_bentoml_client_from_the_readme(stack):
    import bentoml

    body = request_body(make_panel())
    with bentoml.SyncHTTPClient(stack["url"], token=API_KEY) as client:
        result = client.predict(series=body["series"], horizon=HORIZON)
    assert len(result["forecasts"]) == 2 and len(result["forecasts"][0]["mean"]) == HORIZON


def test_forecast_predict_command(stack, tmp_path, monkeypatch):
    frame = make_panel()
    rows = frame.groupby("unique_id").head(300 + HORIZON).copy()
    future = rows.groupby("unique_id").cumcount() >= 300
    rows.loc[future, ["y", "temp"]] = None  # the forecast steps: only holiday is known ahead
    data = tmp_path / "recent.csv"
    rows.assign(unused=1.0).to_csv(data, index=False)  # columns the model does not read
    monkeypatch.setenv("FORECAST_API_KEY", API_KEY)
    out = tmp_path / "forecast.csv"
    assert main(["predict", "--url", stack["url"], "--data", str(data), "--output",
                 str(out)]) == 0
    result = pd.read_csv(out)
    assert list(result.columns[:3]) == ["unique_id", "ds", "mean"] and len(result) == 2 * HORIZON
    assert {"0.05", "0.1", "0.9", "0.95"} <= set(result.columns)  # the calibrated quantiles
    assert (result["0.95"] >= result["0.05"]).all()
    direct = post(stack, request_body(frame)).json()
    np.testing.assert_allclose(result["mean"].iloc[:HORIZON], direct["forecasts"][0]["mean"],
                               rtol=1e-5)


def test_forecast_predict_sends_a_wide_file_as_its_long_rows(stack, tmp_path, monkeypatch):
    wide, long = wide_twin(batch_file(make_panel(seed=4)))
    wide.to_csv(tmp_path / "wide.csv", index=False)
    long.to_csv(tmp_path / "long.csv", index=False)
    monkeypatch.setenv("FORECAST_API_KEY", API_KEY)
    for name, settings in (("wide", ["--set", "data.layout=wide", "--set", "data.columns.ds=time"]),
                           ("long", [])):
        assert main(["predict", "--url", stack["url"], "--data", str(tmp_path / f"{name}.csv"),
                     "--output", str(tmp_path / f"{name}.out.csv"), *settings]) == 0
    got, expected = (pd.read_csv(tmp_path / f"{name}.out.csv") for name in ("wide", "long"))
    assert list(got["unique_id"].unique()) == ["s0", "s1"] and len(got) == 2 * HORIZON
    np.testing.assert_allclose(got["mean"], expected["mean"], rtol=1e-5)


def test_forecast_predict_reports_service_errors(stack, tmp_path, capsys):
    data = tmp_path / "short.csv"
    make_panel(n_series=1, length=10).to_csv(data, index=False)
    assert main(["predict", "--url", stack["url"], "--data", str(data),
                 "--api-key", API_KEY]) == 2
    assert "422" in capsys.readouterr().err


def test_docs_describe_this_service_and_every_route_is_protected(stack):
    spec = httpx.get(stack["url"] + "/docs.json", timeout=10).json()
    assert "/model" in spec["paths"] and "get" in spec["paths"]["/model"]
    assert spec["info"]["title"] == "forecast" and spec["info"]["version"] != "None"
    assert "champion" in spec["info"]["description"]
    assert "Machine Learning Service created with BentoML" not in spec["info"]["description"]
    top_k = request_schema(spec, "/predict")["properties"]["top_k"]
    assert (top_k["minimum"], top_k["maximum"]) == (1, 500)
    # a route nobody listed is protected, not public
    assert httpx.get(stack["url"] + "/not-a-route", timeout=10).status_code == 401
    response = post(stack, request_body(make_panel(), top_k=0))
    assert response.status_code == 422
