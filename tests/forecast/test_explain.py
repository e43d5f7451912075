"""Explanations at the model's grain: patches (input ranges) for a patched Transformer,
single steps where the model reads single steps."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast import Forecaster, build_config
from forecast.inference import SeriesInput
from tests.conftest import HORIZON, LOOKBACK, tiny_config_values


def explain(panel_frame, patch_len: int, top_k: int, embedding: int = 0):
    values = tiny_config_values()
    values["model"]["name"] = "transformer"
    values["model"]["series_embedding"] = embedding
    values["model"]["transformer"]["patch_len"] = patch_len
    model = Forecaster(config=build_config(values)).fit(panel_frame)
    group = panel_frame[panel_frame["unique_id"] == "s0"]
    item = SeriesInput("s0", pd.DatetimeIndex(group["ds"].iloc[:300]),
                       group["y"].to_numpy()[:300],
                       {"temp": group["temp"].to_numpy()[:300],
                        "holiday": group["holiday"].to_numpy()[:300 + HORIZON]})
    return model.explain([item], top_k=top_k)[0], pd.DatetimeIndex(group["ds"].iloc[:300])


@pytest.mark.parametrize("patch_len", [4, 5])  # 5 does not divide the lookback of 24
def test_a_patched_transformer_names_input_ranges(panel_frame, patch_len):
    explanation, ds = explain(panel_frame, patch_len, top_k=100)
    tokens = -(-LOOKBACK // patch_len)
    assert explanation.grain == "patch" and len(explanation.ds) == tokens
    lookback = ds[-LOOKBACK:]
    ranges = sorted(zip(explanation.ds, explanation.end, strict=True))
    assert ranges[0][0] == lookback[0] and ranges[-1][1] == lookback[-1]  # the whole lookback
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert start - end == pd.Timedelta(hours=1)  # adjacent, no overlap
    assert all(end - start <= pd.Timedelta(hours=patch_len - 1) for start, end in ranges)
    assert explanation.weight == sorted(explanation.weight, reverse=True)
    assert sum(explanation.weight) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("embedding", [0, 4])  # 4: the network is wrapped in SeriesEmbedding
def test_one_token_per_step_names_steps(panel_frame, embedding):
    explanation, ds = explain(panel_frame, 0, top_k=5, embedding=embedding)
    assert explanation.grain == "step" and explanation.end is None
    assert len(explanation.ds) == 5 and set(explanation.ds) <= set(ds[-LOOKBACK:])
