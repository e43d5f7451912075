"""After deployment, end to end (pipelines/stream.py): a real `mlflow server`, a real `bentoml
serve` with its SQLite forecast log, actuals day by day, a shift, adaptive intervals,
`forecast retrain --when degraded`, the reload, and MLflow's monitoring run."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient

from pipelines.cli import main
from pipelines.stream import (
    CALM_DAYS,
    SHIFTED_DAYS,
    TRAIN_DAYS,
    WINDOW_DAYS,
    Client,
    make_stream,
    run_stream,
    stream_config,
    upto,
)
from tests.servers import bento_server, mlflow_server

pytestmark = pytest.mark.slow


def test_a_shift_is_seen_adapted_to_and_retrained_away(tmp_path, monkeypatch):
    stream = make_stream(seed=0)
    upto(stream, TRAIN_DAYS).to_csv(tmp_path / "first.csv", index=False)
    config = stream_config(tmp_path / "stream.yaml", tmp_path / "first.csv")
    log_url = f"sqlite:///{tmp_path / 'forecast_log.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FORECAST_LOG_URL", log_url)
    with mlflow_server(tmp_path / "store") as (uri, _):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        assert main(["compare", "--config", str(config)]) == 0  # v1, the champion
        env = {"MLFLOW_TRACKING_URI": uri, "FORECAST_CACHE_DIR": str(tmp_path / "cache"),
               "FORECAST_LOG_URL": log_url, "FORECAST_MONITOR_WINDOW_DAYS": str(WINDOW_DAYS)}
        with bento_server(env, tmp_path / "bento.log") as url:
            def retrain(data):
                assert main(["retrain", "--when", "degraded", "--data", str(data),
                             "--window-days", str(WINDOW_DAYS)]) == 0
            run = run_stream(Client(url), stream, tmp_path, retrain)
        assert main(["monitor", "--window-days", str(WINDOW_DAYS)]) == 0
        client = MlflowClient(uri)
        monitoring = client.search_runs(
            [client.get_experiment_by_name("forecast").experiment_id],
            filter_string="tags.`forecast.monitoring` = 'live' and tags.model_version = '1'")
        history = client.get_metric_history(monitoring[0].info.run_id, "live_mae")
        version_tags = client.get_model_version("forecaster", "1").tags

    days = run.frame().set_index("day")
    shift = TRAIN_DAYS + CALM_DAYS
    calm, shifted = days.loc[:shift - 1], days.loc[shift:shift + SHIFTED_DAYS - 1]
    after = days.loc[shift + SHIFTED_DAYS:]
    assert calm["status"].iloc[-1] == "ok", calm
    assert run.degraded_on is not None and run.degraded_on - shift <= 2, days
    # adaptive intervals: the first shifted day's coverage collapses, the last days' return
    first, last = shifted["coverage_80"].iloc[0], shifted["coverage_80"].iloc[-5:].mean()
    assert abs(last - 0.8) < abs(first - 0.8) and last >= 0.6, shifted
    assert set(shifted["version"]) == {"1"} and run.retrained_to == "2"
    assert set(after["version"]) == {"2"}
    assert after["mae"].mean() < shifted["mae"].iloc[-4:].mean(), days
    assert len(history) >= CALM_DAYS and version_tags["monitoring.status"] == "degraded"
    assert np.isfinite(days["mae"]).all()
