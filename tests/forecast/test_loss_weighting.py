"""`model.loss_weighting`: how a panel's series share the training loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forecast import ConfigError, Forecaster, build_config
from forecast.datamodule import prepare
from forecast.module import ForecastModule
from forecast.training import scale_unit
from tests.conftest import make_panel, tiny_config_values
from tests.floats import assert_forecasts_close

QUANTILES = [0.1, 0.5, 0.9]


def batch_of(scales: list[float], horizon: int = 4) -> tuple[torch.Tensor, dict]:
    """Windows with the same errors in scaled units, from series of the given spreads."""
    generator = torch.Generator().manual_seed(0)
    target = torch.randn(1, horizon, generator=generator).repeat(len(scales), 1)
    pred = torch.zeros(len(scales), horizon, len(QUANTILES))
    return pred, {"target": target, "scale": torch.tensor(scales)}


@pytest.mark.parametrize("loss", ["pinball", "mse", "mae", "huber"])
def test_scale_weighting_counts_each_window_by_its_series_spread(loss):
    quantiles = QUANTILES if loss == "pinball" else []
    equal = ForecastModule(torch.nn.Identity(), quantiles, loss)
    weighted = ForecastModule(torch.nn.Identity(), quantiles, loss, scale_unit=2.0)
    pred, batch = batch_of([1.0, 3.0])
    one_window = float(equal.loss(pred[:1], {k: v[:1] for k, v in batch.items()}))
    assert one_window > 0
    # both windows err alike in scaled units: equal weights give one window's loss...
    assert float(equal.loss(pred, batch)) == pytest.approx(one_window, rel=1e-6)
    # ...spread weights give it times (1/2 + 3/2) / 2: the loss in the data's units over 2
    assert float(weighted.loss(pred, batch)) == pytest.approx(one_window, rel=1e-6)
    pred, batch = batch_of([1.0, 7.0])
    assert float(weighted.loss(pred, batch)) == pytest.approx(one_window * 2, rel=1e-6)


def test_sqrt_weighting_counts_each_window_by_the_root_of_its_series_spread():
    equal = ForecastModule(torch.nn.Identity(), QUANTILES)
    weighted = ForecastModule(torch.nn.Identity(), QUANTILES, scale_unit=2.0, scale_power=0.5)
    pred, batch = batch_of([1.0, 9.0])
    one_window = float(equal.loss(pred[:1], {k: v[:1] for k, v in batch.items()}))
    # (sqrt(1) + sqrt(9)) / 2 / 2: the weights average 1 when the unit is their mean
    assert float(weighted.loss(pred, batch)) == pytest.approx(one_window, rel=1e-6)
    pred, batch = batch_of([4.0, 36.0])
    assert float(weighted.loss(pred, batch)) == pytest.approx(one_window * 2, rel=1e-6)


def test_the_unit_is_the_panels_mean_training_spread():
    frame = make_panel(n_series=3)
    frame.loc[frame["unique_id"] == "s2", "y"] *= 50.0
    config = build_config(tiny_config_values())
    _, prepared = prepare(config, frame)
    spreads = [s.stats.y_std for s in prepared.panel.series]
    assert max(spreads) > 20 * min(spreads)
    assert scale_unit(prepared, "scale") == pytest.approx(float(np.mean(spreads)), rel=1e-9)
    assert scale_unit(prepared, "sqrt") == pytest.approx(float(np.mean(np.sqrt(spreads))),
                                                         rel=1e-9)
    assert scale_unit(prepared, "equal") is None


def forecasts_of(frame, **model) -> np.ndarray:
    values = tiny_config_values()
    values["model"].update(model)
    return Forecaster("lstm", build_config(values)).fit(frame).forecast_split("test").forecast


@pytest.mark.parametrize("weighting", ["scale", "sqrt"])
def test_one_series_trains_the_same_under_every_weighting(weighting):
    """With one series every weight is exactly 1: the setting only matters for panels."""
    frame = make_panel(n_series=1)
    assert_forecasts_close(forecasts_of(frame, loss_weighting=weighting),
                           forecasts_of(frame, loss_weighting="equal"))


def test_a_panel_trains_differently_under_each_weighting():
    frame = make_panel(n_series=2)
    frame.loc[frame["unique_id"] == "s1", "y"] *= 30.0
    scale, root, equal = (forecasts_of(frame, loss_weighting=w)
                          for w in ("scale", "sqrt", "equal"))
    for one, other in ((scale, equal), (root, equal), (root, scale)):  # relative to each value
        assert (np.abs(one - other) / np.abs(other)).max() > 1e-3


def test_the_default_is_the_familys_and_a_wrong_value_fails():
    """The recurrent families weigh by the root of the spread, the Transformer equally
    (measured in docs/benchmarks.md); a set value wins over the family's."""
    assert build_config({}).model.loss_weighting is None
    for name, weighting in (("lstm", "sqrt"), ("gru", "sqrt"), ("transformer", "equal")):
        assert build_config({"model": {"name": name}}).model.weighting == weighting
        set_value = {"model": {"name": name, "loss_weighting": "scale"}}
        assert build_config(set_value).model.weighting == "scale"
    with pytest.raises(ConfigError, match="model.loss_weighting.*'equal'.*'sqrt'.*'scale'"):
        build_config({"model": {"loss_weighting": "size"}})
