"""Champion gating when another worker moves the alias while this one scores the champion."""

from __future__ import annotations

import pytest

import pipelines.promotion as promotion
from forecast import Forecaster, Predictor
from forecast.datamodule import prepare_data
from forecast.evaluation import evaluate
from pipelines.mlflow_run import log_pyfunc
from pipelines.promotion import GatingRule, register_and_gate
from pipelines.registry import register_version, set_alias, version_by_alias
from pipelines.tracking import connect

NAME = "race-gate"


def test_a_promotion_is_decided_against_the_champion_of_the_moment(
        tracking_server, tmp_path, tiny_config, panel_frame, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    client = connect()
    prepared = prepare_data(tiny_config.data, panel_frame)
    experiment = client.create_experiment(NAME)
    logged, mae = {}, {}
    for model in ("naive", "seasonal_naive"):
        Forecaster(model, tiny_config).fit(panel_frame).save(tmp_path / model)
        run = client.create_run(experiment).info.run_id
        logged[model] = (run, *log_pyfunc(run, tmp_path / model))
        mae[model] = evaluate(Predictor.load(tmp_path / model), prepared)["mae"]
    worse, better = sorted(mae, key=mae.get)[::-1]
    assert mae[worse] > mae[better] * 1.05  # far enough apart for the test to mean something

    def register(model: str) -> str:
        run, uri, model_id = logged[model]
        return register_version(client, NAME, uri, run, model_id)

    set_alias(client, NAME, "champion", register(worse))
    # the challenger beats the old champion, but not the one another worker promotes
    challenger = {"mae": (mae[worse] + mae[better]) / 2}
    scored = promotion.score_champion
    moved = []

    def score_while_another_worker_promotes(*args):
        result = scored(*args)
        if not moved:
            moved.append(register(better))
            set_alias(client, NAME, "champion", moved[0])
        return result

    monkeypatch.setattr(promotion, "score_champion", score_while_another_worker_promotes)
    run, uri, model_id = logged[worse]
    decision = register_and_gate(client, uri, model_id, run, NAME, "champion", GatingRule(),
                                 challenger, prepared)
    assert not decision.promoted
    assert decision.champion_version == moved[0]
    assert decision.champion_score == pytest.approx(mae[better])
    assert version_by_alias(client, NAME, "champion").version == moved[0]
    tags = client.get_model_version(NAME, decision.version).tags
    assert tags["promotion.decision"] == "kept_champion"
    assert tags["promotion.champion_version"] == moved[0]
