"""`model.copies`: networks trained side by side from their own random starts, each on its own
loss, served as the mean of their quantiles."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from forecast import Forecaster, build_config
from forecast.calibration import non_crossing
from forecast.errors import ArtifactError, ConfigError
from forecast.models.base import Copies
from forecast.predictor import Predictor
from forecast.training import training_module
from pipelines.retrain import member_config
from tests.conftest import HORIZON, make_panel, tiny_config_values
from tests.floats import assert_forecasts_close


def config(name: str = "mlp", copies: int | None = 2, **trainer):
    values = tiny_config_values()
    values["model"].update(name=name, copies=copies)
    values["trainer"].update(trainer)
    return build_config(values)


def first_batch(forecaster: Forecaster):
    from forecast.datamodule import WindowDataModule

    prepared = forecaster.prepared
    data = WindowDataModule(prepared, forecaster.config.data,
                            forecaster.predictor.keys_for(prepared.panel))
    data.setup("fit")
    return next(iter(data.val_dataloader()))


def test_each_copy_trains_from_its_own_start_and_the_mean_is_served(panel_frame):
    forecaster = Forecaster(config=config()).fit(panel_frame)
    network = forecaster.predictor.network
    assert isinstance(network, Copies) and len(network.copies) == 2
    first, second = (dict(c.named_parameters()) for c in network.copies)
    assert first.keys() == second.keys()
    assert any(not torch.equal(first[k], second[k]) for k in first)  # different starts
    batch = first_batch(forecaster)
    network.eval()
    with torch.no_grad():
        each = [non_crossing(out) for out in network.each(batch)]
        served = network(batch)
    assert not torch.allclose(each[0], each[1])
    assert_forecasts_close(served.numpy(), ((each[0] + each[1]) / 2).numpy())
    assert (served.diff(dim=-1) >= 0).all()  # the mean of ordered quantiles is ordered


def test_the_training_loss_is_the_mean_of_each_copys_own_loss(panel_frame):
    forecaster = Forecaster(config=config(max_epochs=1)).fit(panel_frame)
    module = training_module(forecaster.predictor, forecaster.config, forecaster.prepared)
    batch = first_batch(forecaster)
    module.eval()  # no dropout: the same outputs in both computations
    with torch.no_grad():
        own = [module.loss(non_crossing(out), batch) for out in module.model.each(batch)]
        loss = module.training_step(batch, 0)
        of_the_mean = module.loss(module(batch), batch)
    assert float(loss) == pytest.approx(float(sum(own) / 2), rel=1e-6)
    assert float(of_the_mean) <= float(loss) * (1 + 1e-6)  # pinball is convex


def test_copies_save_load_and_forecast_the_same(tmp_path, panel_frame):
    forecaster = Forecaster(config=config(copies=3)).fit(panel_frame)
    directory = forecaster.save(tmp_path / "model")
    assert json.loads((directory / "config.json").read_text())["copies"] == 3
    loaded = Forecaster.load(directory)
    assert loaded.predictor.copies == 3 and len(loaded.predictor.network.copies) == 3
    history = panel_frame.groupby("unique_id").head(300)
    future = panel_frame.groupby("unique_id").nth(list(range(300, 300 + HORIZON)))
    before = forecaster.predict(history, future_df=future.drop(columns="y"))
    after = loaded.predict(history, future_df=future.drop(columns="y"))
    assert_forecasts_close(after["mean"], before["mean"])


@pytest.mark.parametrize("copies, match", [(2, "do not fit the architecture"),
                                           ("3", "not a whole number"), (0, "not a whole")])
def test_a_model_whose_copies_do_not_match_its_weights_is_refused(tmp_path, panel_frame,
                                                                   copies, match):
    directory = Forecaster(config=config(copies=3, max_epochs=1)).fit(panel_frame).save(
        tmp_path / "model")
    document = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**document, "copies": copies}))
    with pytest.raises(ArtifactError, match=match):
        Predictor.load(directory)


def test_one_copy_is_the_plain_network_and_the_family_default_applies():
    assert config(copies=1).model.network_copies == 1
    assert config(copies=None).model.network_copies == 3  # the mlp's default
    assert config("transformer", copies=None).model.network_copies == 3
    assert config("lstm", copies=None).model.network_copies == 1
    assert config("seasonal_naive", copies=4).model.network_copies == 1  # no network
    assert config("lstm", copies=None).model.resolved["copies"] == 1
    with pytest.raises(ConfigError, match="copies"):
        config(copies=0)
    with pytest.raises(ConfigError, match="copies"):
        config(copies=17)


def test_a_transformer_of_copies_explains_with_their_mean_attention(panel_frame):
    forecaster = Forecaster(config=config("transformer", max_epochs=1)).fit(panel_frame)
    group = panel_frame[panel_frame["unique_id"] == "s0"]
    from forecast.inference import SeriesInput

    item = SeriesInput("s0", pd.DatetimeIndex(group["ds"].iloc[:300]),
                       group["y"].to_numpy()[:300],
                       {"temp": group["temp"].to_numpy()[:300],
                        "holiday": group["holiday"].to_numpy()[:300 + HORIZON]})
    explanation = forecaster.explain([item], top_k=100)[0]
    assert explanation.method == "attention"
    assert sum(explanation.weight) == pytest.approx(1.0, rel=1e-5)


def test_continuing_a_single_network_keeps_one_unless_asked_otherwise():
    old = Forecaster(config=config(copies=1, max_epochs=1)).fit(make_panel())
    continued = member_config(config(copies=None), old.predictor)  # the mlp's default is 3
    assert continued.model.network_copies == 1
    warm = Forecaster(config=continued).fit(make_panel(seed=1), init=old)
    assert warm.predictor.copies == 1
    with pytest.raises(ConfigError, match="model.copies: the version has 1, the new training 2"):
        Forecaster(config=member_config(config(copies=2), old.predictor)).fit(
            make_panel(seed=1), init=old)
