"""`forecast compare` against a real `mlflow server`: runs, artifacts, registry, gating."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from pipelines.cli import main
from tests.conftest import HORIZON, make_panel


@pytest.fixture
def client(tracking_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    return MlflowClient(tracking_server, tracking_server)


def test_compare_tracks_everything_and_gates_champion(client, project, capsys):
    # the recurrent families' default seasonal input (the tiny config pins it off)
    assert main(["compare", "--config", str(project), "--set", "tracking.experiment=cmp",
                 "--set", "model.rnn.seasonal_input=auto"]) == 0
    experiment = client.get_experiment_by_name("cmp")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    # four models, and the two ensembles of its two neural families
    assert len(parents) == 1 and len(children) == 6
    assert all(r.info.status == "FINISHED" for r in runs)
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}

    gru = next(c for c in children if c.data.tags["mlflow.runName"] == "gru")
    assert gru.data.params["data.lookback"] == "24"
    assert gru.data.params["model.rnn.hidden_size"] == "8"
    # settings left to the family's default are logged as training used them
    assert (gru.data.params["model.loss_weighting"], gru.data.params["model.normalization"],
            gru.data.params["model.loss"], gru.data.params["model.calibrate_median"]) == \
        ("sqrt", "revin", "pinball", "True")
    transformer = next(c for c in children if c.data.tags["mlflow.runName"] == "transformer")
    assert (transformer.data.params["model.loss_weighting"],
            transformer.data.params["model.calibrate_median"]) == ("equal", "auto")
    # and what `auto` decided, from the share it measured (MEDIAN_BIAS_SHARE)
    share = float(transformer.data.params["calibration.median_bias"])
    assert transformer.data.params["calibration.median_moved"] == str(share >= 0.5)
    assert gru.data.params["calibration.median_moved"] == "True"
    # what `seasonal_input: auto` compared on validation, and the network it kept
    naive, plain = (gru.data.metrics[k] for k in ("val_mae_seasonal_naive",
                                                 "val_mae_without_seasonal_input"))
    tried = "val_mae_with_seasonal_input" in gru.data.metrics
    assert tried == (plain > naive)
    kept = tried and gru.data.metrics["val_mae_with_seasonal_input"] < plain
    assert gru.data.metrics["seasonal_input_chosen"] == float(kept)
    assert gru.data.params["model.rnn.seasonal_input"] == str(kept)
    history = client.get_metric_history(gru.info.run_id, "val_loss")
    assert len(history) >= 1 and [m.step for m in history] == sorted(m.step for m in history)
    rates = client.get_metric_history(gru.info.run_id, "lr")  # each epoch's learning rate
    assert [m.step for m in rates] == [m.step for m in history]
    assert rates[0].value == float(gru.data.params["trainer.learning_rate"])
    for key in ("test_mae", "test_mase", "backtest_mean_mae", "test_coverage_80",
                "test_coverage_90", "test_width_80", "test_wql", "test_crps",
                "test_served_coverage_80", "test_served_wql"):
        assert key in gru.data.metrics
    assert gru.data.tags["data.digest"]
    artifacts = {a.path for a in client.list_artifacts(gru.info.run_id, "model")}
    assert {"model/model.safetensors", "model/config.json", "model/scaler.json"} <= artifacts
    plots = {a.path for a in client.list_artifacts(gru.info.run_id, "plots")}
    assert {"plots/forecast_vs_actual.png", "plots/residuals.png", "plots/reliability.png",
            "plots/fan_chart.png"} <= plots
    weighted = next(c for c in children if c.data.tags["mlflow.runName"] == "ensemble_weighted")
    # the two networks, and a baseline when the weights on validation gave it a share
    listed = json.loads(weighted.data.params["ensemble.members"])
    assert listed[:2] == ["gru", "transformer"] and len(listed) <= 3
    assert set(listed[2:]) <= {"naive", "seasonal_naive"}
    median = next(c for c in children if c.data.tags["mlflow.runName"] == "ensemble_median")
    assert json.loads(median.data.params["ensemble.members"]) == ["gru", "transformer"]
    assert "test_coverage_80" in weighted.data.metrics
    assert "backtest_mean_mae" in weighted.data.metrics
    members = {a.path for a in client.list_artifacts(weighted.info.run_id, "model/members")}
    assert members == {f"model/members/{name}" for name in listed}
    comparison = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"comparison/comparison.csv", "comparison/comparison.md",
            "comparison/comparison.png"} <= comparison

    champion = client.get_model_version_by_alias("forecaster", "champion")
    assert champion.tags["promotion.decision"] == "promoted"
    best = parent.data.tags["best_model"]
    assert champion.tags["architecture"] == best

    # the registered version loads as an MLflow pyfunc and forecasts
    model = mlflow.pyfunc.load_model("models:/forecaster@champion")
    frame = make_panel()
    history, future = frame.groupby("unique_id").head(300), frame.groupby("unique_id").nth(
        list(range(300, 300 + HORIZON)))
    out = model.predict(pd.concat([history, future.assign(y=float("nan"))]))
    assert len(out) == 2 * HORIZON and out["mean"].notna().all()
    levels = ["0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95"]  # quantiles by default
    assert list(out.columns[-len(levels):]) == levels
    assert (out[levels].diff(axis=1).iloc[:, 1:] >= 0).all().all()

    # a worse challenger is registered but does not take the alias
    assert main(["compare", "--config", str(project), "--set", "tracking.experiment=cmp",
                 "--set", "models=[naive]"]) == 0
    versions = client.search_model_versions("name='forecaster'")
    newest = max(versions, key=lambda v: int(v.version))
    assert newest.tags["promotion.decision"] == "kept_champion"
    assert float(newest.tags["promotion.challenger_score"]) > float(
        newest.tags["promotion.champion_score"])
    assert client.get_model_version_by_alias("forecaster", "champion").version == \
        champion.version

    # promote by hand, and see it in `forecast models`
    assert main(["promote", "--version", newest.version]) == 0
    assert client.get_model_version_by_alias("forecaster", "champion").version == \
        newest.version
    capsys.readouterr()
    assert main(["models"]) == 0
    assert "champion" in capsys.readouterr().out


def test_promote_unknown_version_is_a_clear_error(client, project, capsys):
    assert main(["promote", "--version", "999"]) == 2
    assert "no version 999" in capsys.readouterr().err
