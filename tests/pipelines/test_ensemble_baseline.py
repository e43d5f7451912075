"""An ensemble that holds a baseline continues like any other: the networks train on from
their weights, and the baseline is a candidate again when the weights are chosen anew."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import Ensemble, Forecaster, build_config
from forecast.ensemble import fit_ensemble
from forecast.training import check_warm_start
from pipelines.retrain import continue_ensemble
from tests.conftest import make_panel, tiny_config_values


def test_an_ensemble_holding_a_baseline_continues_and_chooses_it_again(tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)  # the bundle is written below the working directory
    config = build_config(tiny_config_values())
    frame = make_panel(n_series=2)
    fitted = [Forecaster(config=config.with_model(n)).fit(frame) for n in ("gru", "lstm")]
    prepared = fitted[0].prepared
    naive = Forecaster(config=config.with_model("seasonal_naive")).fit(prepared=prepared)
    actual = np.zeros((4, 6))
    shifted = {name: (actual[..., None] + shift + np.linspace(-1, 1, 7), actual)
               for name, shift in (("gru", -1.0), ("lstm", -1.0), ("seasonal_naive", 3.0))}
    init = fit_ensemble([f.predictor for f in fitted], "weighted", shifted, naive.predictor)
    assert init.member_names == ["gru", "lstm", "seasonal_naive"]
    for member in init.members:  # what `forecast retrain` checks before it trains
        check_warm_start(member, config.with_model(member.name), prepared.panel.spec)

    continued, bundle = continue_ensemble(config, prepared, init)
    ensemble = continued.predictor
    assert isinstance(ensemble, Ensemble) and ensemble.method == "weighted"
    assert ensemble.member_names[:2] == ["gru", "lstm"]
    assert set(ensemble.member_names[2:]) <= {"seasonal_naive"}  # kept only with a share
    assert all(w > 0 for n, w in zip(ensemble.member_names, ensemble.weights, strict=True)
               if n == "seasonal_naive")
    assert ensemble.explainer in ("gru", "lstm")
    assert sum(ensemble.weights) == pytest.approx(1.0)
    # the networks moved on from the version's weights
    before = init.member("gru").network.state_dict()
    after = ensemble.member("gru").network.state_dict()
    assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before)
    assert (bundle / "model" / "ensemble.json").is_file()
