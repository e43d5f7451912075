"""Gating against a champion trained for other data (the demo's vic_elec model, then a
user's own file in the same folder): it is not scored on windows it cannot read, and it
keeps the alias until a person moves it."""

from __future__ import annotations

from forecast import Forecaster, build_config
from forecast.datamodule import prepare_data
from pipelines.mlflow_run import log_pyfunc
from pipelines.promotion import GatingRule, not_comparable, register_and_gate
from pipelines.registry import register_version, set_alias, version_by_alias
from pipelines.tracking import connect
from tests.conftest import make_panel, tiny_config_values

NAME = "other-data-gate"


def prepared_with(frame, **data):
    return prepare_data(build_config(tiny_config_values(**data)).data, frame)


def test_why_a_champion_cannot_be_scored_names_what_differs(tiny_config, panel_frame):
    champion = Forecaster("naive", tiny_config).fit(panel_frame).predictor
    assert not_comparable(champion, prepared_with(panel_frame)) is None
    daily = make_panel(freq="D")
    assert "frequency is 'h', this data's 'D'" in not_comparable(champion, prepared_with(daily))
    longer = prepared_with(panel_frame, horizon=champion.horizon * 2)
    assert f"horizon is {champion.horizon} steps" in not_comparable(champion, longer)
    plain = prepared_with(panel_frame.drop(columns=["temp"]), past_covariates=[])
    assert "needs the columns ['temp']" in not_comparable(champion, plain)
    short = prepared_with(panel_frame, lookback=4, val_size=6, test_size=6)
    short.bounds = [type(b)(b.train_end, champion.lookback - 1, b.length) for b in short.bounds]
    assert f"lookback of {champion.lookback} steps is longer" in not_comparable(champion, short)


def test_a_champion_for_other_data_keeps_the_alias(tracking_server, tmp_path, tiny_config,
                                                   panel_frame, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    client = connect()
    experiment = client.create_experiment(NAME)
    daily = make_panel(freq="D", seed=5)
    logged = {}
    for label, frame in (("hourly", panel_frame), ("daily", daily)):
        Forecaster("naive", tiny_config).fit(frame).save(tmp_path / label)
        run = client.create_run(experiment).info.run_id
        logged[label] = (run, *log_pyfunc(run, tmp_path / label))
    run, uri, model_id = logged["hourly"]
    champion = register_version(client, NAME, uri, run, model_id)
    set_alias(client, NAME, "champion", champion)
    run, uri, model_id = logged["daily"]
    decision = register_and_gate(client, uri, model_id, run, NAME, "champion", GatingRule(),
                                 {"mae": 0.0, "wql": 0.0}, prepared_with(daily))
    assert not decision.promoted and decision.champion_version == champion
    assert "trained for other data (its frequency is 'h', this data's 'D')" in decision.reason
    assert "forecast promote --version" in decision.reason
    assert version_by_alias(client, NAME, "champion").version == champion
    tags = client.get_model_version(NAME, decision.version).tags
    assert tags["promotion.decision"] == "kept_champion"
    assert tags["promotion.champion_score"] == "none"
