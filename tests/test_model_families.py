"""Adding a model family is one file: a toy family, defined here only, trains, saves, loads,
forecasts through the service's request path and shows up in `forecast train --help`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydantic import Field
from torch import nn

from forecast import ConfigError, Forecaster, build_config
from forecast.models import FamilyConfig, ModelDims, ModelFamily, families, get_family, register
from forecast.models.registry import unregister
from pipelines.cli import main
from service.model_source import load_model_dir
from service.requests import validate_request
from service.schemas import PredictResponse, SeriesIn
from service.settings import ServiceSettings
from tests.conftest import HORIZON, tiny_config_values
from tests.floats import assert_forecasts_close


class ToyConfig(FamilyConfig):
    window: int = Field(4, ge=1)


class ToyForecaster(nn.Module):
    """A linear map of the last `window` steps to every horizon step."""

    def __init__(self, dims: ModelDims, config: ToyConfig):
        super().__init__()
        self.dims, self.window = dims, min(config.window, dims.lookback)
        self.linear = nn.Linear(self.window * dims.n_features, dims.horizon * dims.n_outputs)

    def forward(self, batch) -> torch.Tensor:
        x = batch["past"][:, -self.window:].flatten(1)  # (B, W*F)
        return self.linear(x).view(-1, self.dims.horizon, self.dims.n_outputs)  # (B, H, Q)


@pytest.fixture
def toy_family():
    register(ModelFamily(name="toy_linear", config_class=ToyConfig, section="toy",
                         build=ToyForecaster, description="a linear map of the last steps"))
    yield
    unregister("toy_linear")


def request_series(frame, cut: int = 300) -> list[SeriesIn]:
    series = []
    for uid, group in frame.groupby("unique_id"):
        history, ahead = group.iloc[:cut], group.iloc[cut:cut + HORIZON]
        series.append(SeriesIn(unique_id=uid, ds=list(history["ds"]), y=list(history["y"]),
                               covariates={"temp": list(history["temp"]),
                                           "holiday": [*history["holiday"], *ahead["holiday"]]}))
    return series


def test_a_family_defined_in_one_file_works_everywhere(toy_family, tmp_path, panel_frame,
                                                       capsys):
    values = tiny_config_values()
    values["model"]["toy"] = {"window": 6}
    forecaster = Forecaster("toy_linear", build_config(values)).fit(panel_frame)
    assert forecaster.report is not None and forecaster.report.history  # it trained
    assert np.isfinite(forecaster.metrics["mae"])

    forecaster.save(tmp_path / "model")
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["name"] == "toy_linear" and saved["architecture"] == {"window": 6}

    loaded = load_model_dir(tmp_path / "model", "forecaster", "1", "champion", None, "directory")
    series = request_series(panel_frame)
    request = validate_request(loaded.predictor, ServiceSettings.from_env(), series, None, None)
    forecasts = loaded.predictor.forecast(request.checked)
    response = PredictResponse.of(loaded, forecasts, request.steps, request.quantiles, None)
    assert response.model.architecture == "toy_linear"
    library = forecaster.predict_series([c.item for c in request.checked])
    for out, expected in zip(response.forecasts, library, strict=True):
        assert_forecasts_close(out.mean, expected.values[:, loaded.predictor.point])

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "toy_linear" in capsys.readouterr().out


def test_a_removed_family_is_unknown_to_the_config():
    register(ModelFamily(name="toy_linear", config_class=ToyConfig, section="toy",
                         build=ToyForecaster))
    assert build_config({"model": {"name": "toy_linear", "toy": {"window": 2}}}).model.toy.window == 2
    unregister("toy_linear")
    with pytest.raises(ConfigError, match=r"model\.toy: unknown key"):
        build_config({"model": {"toy": {"window": 2}}})


def test_capabilities_come_from_the_registry():
    names = [f.name for f in families()]
    assert {"lstm", "gru", "transformer", "naive", "seasonal_naive"} <= set(names)
    assert get_family("transformer").attention and not get_family("gru").attention
    assert not get_family("seasonal_naive").neural and get_family("lstm").neural
    # lstm and gru share one settings section and one config class
    assert get_family("lstm").config_class is get_family("gru").config_class
    with pytest.raises(ConfigError, match="unknown model 'prophet'.*'transformer'"):
        get_family("prophet")


def test_a_section_cannot_be_claimed_by_a_different_config():
    with pytest.raises(ConfigError, match="reuses section 'rnn'"):
        register(ModelFamily(name="toy_rnn", config_class=ToyConfig, section="rnn",
                             build=ToyForecaster))


@pytest.mark.parametrize(("field", "value"), [("normalization", "batch"),
                                               ("loss_weighting", "log")])
def test_a_family_with_an_unknown_default_is_refused_at_registration(field, value):
    with pytest.raises(ConfigError, match=f"toy_bad.*{field} '{value}' is not one of"):
        register(ModelFamily(name="toy_bad", config_class=ToyConfig, section="toy",
                             build=ToyForecaster, **{field: value}))
    with pytest.raises(ConfigError, match="unknown model 'toy_bad'"):
        get_family("toy_bad")
