"""The study's measurement pieces: the synthetic task, matched sizes, growth exponents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forecast.models import ModelDims
from forecast.study.attention import lag_profile
from forecast.study.gradients import input_gradient_by_distance
from forecast.study.profiling import (
    count_parameters,
    family_model,
    growth_exponent,
    matched_rnn_hidden,
)
from forecast.study.synthetic import dependency_length, make_dependency_batch


@pytest.mark.parametrize("distance", [8, 32, 128, 1024])
def test_event_sits_exactly_d_steps_before_the_forecast(distance):
    batch = make_dependency_batch(64, distance, torch.Generator().manual_seed(1))
    length = batch["past"].shape[1]
    assert length == dependency_length(distance)
    marked = batch["past"][:, :, 1].argmax(dim=1)
    assert (batch["past"][:, :, 1].sum(dim=1) == 1).all()
    # the first forecast step is index `length`; the event is `distance` steps before it
    assert ((length - marked) == distance).all()
    event_values = batch["past"][torch.arange(64), marked, 0]
    torch.testing.assert_close(batch["target"][:, 0], event_values)


def test_distractors_differ_between_sequences():
    batch = make_dependency_batch(8, 32, torch.Generator().manual_seed(0))
    assert batch["past"][:, :, 0].std(dim=0).min() > 0


@pytest.mark.parametrize("family", ["lstm", "gru"])
def test_rnn_sizes_are_matched_within_ten_percent(family):
    for lookback in (48, 720):
        dims = ModelDims(lookback, 48, 4, 0, 0, 1)
        target = count_parameters(family_model("transformer", dims, 32, 24))
        hidden = matched_rnn_hidden(family, dims, target)
        size = count_parameters(family_model(family, dims, 32, 0, hidden))
        assert abs(size - target) / target < 0.10


def test_growth_exponent_recovers_power_laws():
    lookbacks = [48, 96, 192, 384]
    assert growth_exponent(lookbacks, [2 * L for L in lookbacks]) == pytest.approx(1.0)
    assert growth_exponent(lookbacks, [L**2 / 7 for L in lookbacks]) == pytest.approx(2.0)


def test_gradient_profile_is_indexed_by_distance():
    dims = ModelDims(40, 1, 2, 0, 0, 1)
    model = family_model("gru", dims, 8, 0, 8)
    batch = make_dependency_batch(4, 24, torch.Generator().manual_seed(0))
    profile = input_gradient_by_distance(model, batch)
    assert len(profile) == 41 and np.isnan(profile[0])
    assert profile[1] > profile[40]  # the last input matters more than the oldest at init


def test_lag_profile_maps_tokens_to_lags():
    attention = np.eye(4)[::-1]  # the last query attends to the first key only
    lags = lag_profile(attention, patch_len=6)
    assert lags == {18: 1.0, 12: 0.0, 6: 0.0, 0: 0.0}
